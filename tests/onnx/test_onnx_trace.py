"""ONNX export of users' own nn.Module subclasses (traced forward), run in ONNX Runtime against rnnkit."""

from __future__ import annotations

import os

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import rnnkit  # noqa: E402
import rnnkit as torch  # noqa: E402  (the programs below are written as PyTorch programs)
import rnnkit.onnx  # noqa: E402
from rnnkit import nn  # noqa: E402
from rnnkit.nn import functional as F  # noqa: E402

TOL = dict(rtol=1e-4, atol=2e-5)
SIZES = [(5, 3), (1, 1), (9, 4)]  # (time, batch): the example's, then others through the dynamic axes


class RNNModel(nn.Module):
    """pytorch/examples' word_language_model, as written there."""

    def __init__(self, rnn_type, ntoken, ninp, nhid, nlayers, dropout=0.5, tie_weights=False):
        super().__init__()
        self.ntoken = ntoken
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        if rnn_type in ["LSTM", "GRU"]:
            self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=dropout)
        else:
            nonlinearity = {"RNN_TANH": "tanh", "RNN_RELU": "relu"}[rnn_type]
            self.rnn = nn.RNN(ninp, nhid, nlayers, nonlinearity=nonlinearity, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        if tie_weights:
            self.decoder.weight = self.encoder.weight
        self.rnn_type, self.nhid, self.nlayers = rnn_type, nhid, nlayers

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        decoded = self.decoder(output)
        decoded = decoded.view(-1, self.ntoken)
        return F.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        if self.rnn_type == "LSTM":
            return (weight.new_zeros(self.nlayers, bsz, self.nhid), weight.new_zeros(self.nlayers, bsz, self.nhid))
        return weight.new_zeros(self.nlayers, bsz, self.nhid)


class Classifier(nn.Module):
    """A bidirectional batch-first LSTM classifier: zero state made from x.size(0), last step, both final states."""

    def __init__(self, n_in=4, hidden=6, classes=3):
        super().__init__()
        self.hidden = hidden
        self.lstm = nn.LSTM(n_in, hidden, num_layers=2, batch_first=True, bidirectional=True)
        self.norm = nn.LayerNorm(4 * hidden)
        self.head = nn.Sequential(nn.Linear(4 * hidden, 8), nn.ReLU(), nn.Linear(8, classes))

    def forward(self, x):
        h0 = torch.zeros(4, x.size(0), self.hidden)
        c0 = x.new_zeros(4, x.size(0), self.hidden)
        out, (h_n, c_n) = self.lstm(x, (h0, c0))
        last = out[:, -1, :]  # (B, 2H)
        final = torch.cat((h_n[-2], h_n[-1]), dim=1)  # (B, 2H)
        features = self.norm(torch.cat([last, torch.tanh(final) * 0.5 + 1], dim=-1))
        logits = self.head(features)
        return F.softmax(logits, dim=-1), logits


class Seq2Seq(nn.Module):
    """A GRU encoder whose final state starts a GRU decoder (teacher forcing), time-major, tuple outputs."""

    def __init__(self, vocab=11, emb=5, hidden=7):
        super().__init__()
        self.embed = nn.Embedding(vocab, emb)
        self.encoder = nn.GRU(emb, hidden)
        self.decoder = nn.GRU(emb, hidden)
        self.out = nn.Linear(hidden, vocab)

    def forward(self, src, tgt):
        _, state = self.encoder(self.embed(src))
        dec, state = self.decoder(self.embed(tgt), state)
        T, B = dec.size(0), dec.size(1)
        flat = dec.contiguous().view(T * B, -1)  # sizes read from the tensor stay graph expressions
        scores = self.out(flat).view(T, B, -1).permute(1, 0, 2)  # (B, T, V)
        return F.log_softmax(scores, dim=-1), state.squeeze(0)


class Block(nn.Module):
    """A user module inside nn.Sequential: residual tanh layer with a unsqueeze/squeeze round trip."""

    def __init__(self, size):
        super().__init__()
        self.fc = nn.Linear(size, size)

    def forward(self, x):
        y = F.linear(x, self.fc.weight, self.fc.bias).unsqueeze(1)
        return x + torch.sigmoid(y).squeeze(1) / 2 - x.mean(dim=-1, keepdim=True)


def _session(path):
    onnx.checker.check_model(onnx.load(path), full_check=True)
    return ort.InferenceSession(path, providers=["CPUExecutionProvider"])


def _leaves(value):
    if isinstance(value, (tuple, list)):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value if isinstance(value, np.ndarray) else value.numpy()]


def _scaled(module, seed=0):
    rng = np.random.default_rng(seed)
    for p in module.parameters():
        p.data[...] = rng.normal(0, 0.5, p.shape).astype(p.dtype)
    return module.eval()


def _check(session, model, *args):
    """ONNX Runtime and rnnkit on the same inputs: equal outputs (and final states)."""
    feeds = [leaf for leaf in _leaves(args)]
    got = session.run(None, {i.name: a for i, a in zip(session.get_inputs(), feeds)})
    with rnnkit.no_grad():
        expected = _leaves(model(*(rnnkit.tensor(a) if isinstance(a, np.ndarray) else a for a in args)))
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.shape == e.shape
        np.testing.assert_allclose(g, e, **TOL)


@pytest.mark.parametrize("rnn_type, tied", [("LSTM", False), ("GRU", False), ("RNN_TANH", False), ("LSTM", True)])
def test_word_language_model(tmp_path, rnn_type, tied):
    model = _scaled(RNNModel(rnn_type, ntoken=13, ninp=6, nhid=6, nlayers=2, tie_weights=tied))
    rng = np.random.default_rng(1)
    path = str(tmp_path / "lm.onnx")
    torch.onnx.export(model, (rng.integers(0, 13, (5, 3)), model.init_hidden(3)), path,  # torch's keywords
                      export_params=True, opset_version=17, do_constant_folding=True)
    ops = [n.op_type for n in onnx.load(path).graph.node]
    node = {"LSTM": "LSTM", "GRU": "GRU", "RNN_TANH": "RNN"}[rnn_type]
    assert ops.count(node) == 2 and "LogSoftmax" in ops  # each layer stays one recurrent node
    reshape = next(n for n in onnx.load(path).graph.node if n.op_type == "Reshape" and n.name.startswith("rnnmodel/"))
    shape = next(i for i in onnx.load(path).graph.initializer if i.name == reshape.input[1])
    assert onnx.numpy_helper.to_array(shape).tolist() == [-1, 13]  # view(-1, ntoken): -1 kept, no batch baked in
    if tied:
        assert model.decoder.weight is model.encoder.weight
    session = _session(path)
    for T, B in SIZES:
        state = model.init_hidden(B)
        state = tuple(s + rnnkit.tensor(rng.normal(0, 1, s.shape).astype(np.float32)) for s in state) \
            if isinstance(state, tuple) else state + 0.3
        _check(session, model, rng.integers(0, 13, (T, B)), state)


def test_classifier_with_last_step_and_zero_state_from_batch_size(tmp_path):
    model = _scaled(Classifier())
    rng = np.random.default_rng(2)
    path = str(tmp_path / "clf.onnx")
    rnnkit.onnx.export(model, rng.normal(size=(3, 5, 4)).astype(np.float32), path)
    assert [n.op_type for n in onnx.load(path).graph.node].count("LSTM") == 2
    session = _session(path)
    for T, B in SIZES:
        _check(session, model, rng.normal(size=(B, T, 4)).astype(np.float32))


def test_seq2seq_returns_tuple_with_state(tmp_path):
    model = _scaled(Seq2Seq())
    rng = np.random.default_rng(3)
    path = str(tmp_path / "s2s.onnx")
    rnnkit.onnx.export(model, (rng.integers(0, 11, (4, 2)), rng.integers(0, 11, (3, 2))), path,
                       output_names=["logp", "state"])
    session = _session(path)
    assert [o.name for o in session.get_outputs()] == ["logp", "state"]
    reshapes = [n for n in onnx.load(path).graph.node if n.op_type == "Reshape" and n.name.startswith("seq2seq/")]
    constants = {i.name for i in onnx.load(path).graph.initializer}
    assert reshapes and all(n.input[1] not in constants for n in reshapes)  # view(T * B, -1): computed shapes
    for T, B in SIZES:
        _check(session, model, rng.integers(0, 11, (T + 2, B)), rng.integers(0, 11, (T, B)))


def test_user_module_inside_sequential_and_functional_ops(tmp_path, capsys):
    model = _scaled(nn.Sequential(nn.Linear(3, 5), Block(5), nn.Tanh(), Block(5)))
    rng = np.random.default_rng(4)
    path = str(tmp_path / "seq.onnx")
    rnnkit.onnx.export(model, rng.normal(size=(2, 3)).astype(np.float32), path, verbose=True)
    assert capsys.readouterr().out.startswith("Sequential (float")  # verbose: the graph printed
    session = _session(path)
    for B in (2, 1, 7):
        _check(session, model, rng.normal(size=(B, 3)).astype(np.float32))


class _Argmax(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(2, 3)

    def forward(self, x):
        out, _ = self.rnn(x)
        return out.argmax(-1)


class _Outer(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x * 2)


class _TrainingDropout(nn.Module):
    def forward(self, x):
        return F.dropout(x, 0.5)  # training=True whatever the module's mode


def test_untraceable_op_names_the_op_and_module(tmp_path):
    path = str(tmp_path / "m.onnx")
    x = np.zeros((4, 2, 2), np.float32)
    with pytest.raises(ValueError, match=r"the op argmax \(numpy.argmax\), in module '_outer.inner'"):
        rnnkit.onnx.export(_Outer(_Argmax()), x, path)
    with pytest.raises(ValueError, match=r"op Dropout, in module '_trainingdropout', has no ONNX form: dropout in"):
        rnnkit.onnx.export(_TrainingDropout(), x, path)
    with pytest.raises(ValueError, match=r"export_params: rnnkit always writes the weights into the file"):
        rnnkit.onnx.export(_Argmax(), x, path, export_params=False)
    with pytest.raises(ValueError, match=r"opset_version: torch's name for opset; got opset=15"):
        rnnkit.onnx.export(_Argmax(), x, path, opset=15, opset_version=16)

    class Branchy(nn.Module):
        def forward(self, x):
            return x * 2 if x.sum() else x

    with pytest.raises(ValueError, match=r"bool\(tensor\).*in module 'branchy'"):
        rnnkit.onnx.export(Branchy(), x, path)
    assert not os.path.exists(path)


class _ManyOps(nn.Module):
    """Tensor and functional ops that RNN programs use, on a batch-first GRU's output (B, T, H)."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(3, 4, batch_first=True)
        self.proj = nn.Linear(4, 4, bias=False)

    def forward(self, x):
        out, h = self.rnn(x)  # (B, T, 4), (1, B, 4)
        B, T = out.shape[0], out.shape[1]
        a = out.transpose(0, 1).contiguous()  # (T, B, 4)
        b = a.permute(1, 2, 0)  # (B, 4, T)
        scores = torch.softmax(out @ b, dim=-1)  # (B, T, T) attention over steps
        context = torch.matmul(scores, out)  # (B, T, 4)
        first, second = context.chunk(2, dim=-1)  # (B, T, 2) each
        pieces = torch.stack([first.exp(), second.abs().sqrt(), first.clamp(-0.1, 0.2), (first ** 2).log1p()], dim=2)
        flat = pieces.reshape(B * T, -1)  # (B*T, 8)
        mean = flat.mean(dim=0, keepdim=True) - flat.sum() / 100 + flat.max() - flat.amin(dim=1, keepdim=True)
        last = out[:, T - 1] + out[:, -1, ...] * h.squeeze(0) - out[:, 1:T, :].mean(1)  # (B, 4)
        gate = torch.sigmoid(self.proj(last)).unsqueeze(1).expand(B, T, 4)  # (B, T, 4)
        y = torch.relu(out * gate - 0.1).flatten(1)  # (B, T*4)
        z = torch.zeros(B, 2) + torch.ones(2).float()  # made from a size read from the traced output
        w = out[..., None, 0].cumsum(1)[:, :, 0].tril() + out[:, [0, -1], 1].sum(1, keepdim=True)  # (B, T)
        attention = torch.einsum("btd,bsd->bts", out, out) - torch.bmm(a.transpose(0, 1), b)  # (B, T, T) zeros
        return y, (flat - mean).view(B, T, 8), z, w, torch.tanh(-out).neg(), attention + out.norm(dim=-1)[:, None]


def test_many_ops_at_several_sizes(tmp_path):
    model = _scaled(_ManyOps())
    rng = np.random.default_rng(5)
    path = str(tmp_path / "ops.onnx")
    rnnkit.onnx.export(model, rng.normal(size=(2, 4, 3)).astype(np.float32), path)
    session = _session(path)
    for T, B in [(4, 2), (3, 1), (7, 5)]:
        _check(session, model, rng.normal(size=(B, T, 3)).astype(np.float32))


class _CellLoop(nn.Module):
    """A Python loop over the time axis: unrolled for the example's length by any tracer."""

    def __init__(self):
        super().__init__()
        self.cell = nn.LSTMCell(2, 3)

    def forward(self, x):  # (B, T, 2)
        h = c = torch.zeros(x.size(0), 3)
        for t in range(x.size(1)):
            h, c = self.cell(x[:, t], (h, c))
        return h


class _Spread(nn.Module):
    def forward(self, x):  # std over time: its divisor T - 1 is computed from the size in Python
        return x.std(dim=1)


def test_a_size_fixed_by_python_is_refused_unless_sizes_are_fixed(tmp_path):
    path = str(tmp_path / "m.onnx")
    x = np.random.default_rng(6).normal(size=(2, 4, 2)).astype(np.float32)
    loop = _scaled(_CellLoop())
    with pytest.raises(ValueError, match=r"one longer \(input axis 0, input axis 1\) differs at the number of nodes"):
        rnnkit.onnx.export(loop, x, path)
    with pytest.raises(ValueError, match=r"differs at the constant .* used by node '_spread/Div'"):
        rnnkit.onnx.export(_Spread(), x, path)
    assert not os.path.exists(path)
    rnnkit.onnx.export(loop, x, path, dynamic_axes={})  # fixed sizes: the unrolled loop is right
    session = _session(path)
    assert [d.dim_value for d in onnx.load(path).graph.input[0].type.tensor_type.shape.dim] == [2, 4, 2]
    _check(session, loop, x)
    with pytest.raises(ValueError, match=r"dynamic_axes: forward fails with the dynamic axes one longer .*axis 2"):
        rnnkit.onnx.export(loop, x, path, dynamic_axes={"input": {2: "features"}})


def test_output_axes_that_follow_the_inputs_are_declared_dynamic(tmp_path):
    path = str(tmp_path / "ops.onnx")
    rnnkit.onnx.export(_scaled(_ManyOps()), np.zeros((2, 4, 3), np.float32), path)
    dims = {o.name: [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim]
            for o in onnx.load(path).graph.output}
    assert dims["output"] == ["output_dim0", "output_dim1"]  # (B, T*4): the flattened axis varies too
    assert dims["output_2"] == ["output_2_dim0", 2]  # zeros(B, 2)


class _Lengths(nn.Module):
    """Padded batches with their lengths: packed in PyTorch; here the lengths go to the layer (sequence_lens)."""

    def __init__(self, packed):
        super().__init__()
        self.packed = packed
        self.rnn = nn.GRU(3, 5, batch_first=True, bidirectional=True)
        self.out = nn.Linear(10, 2)

    def forward(self, x, lengths):
        if self.packed:
            x = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            _, h_n = self.rnn(x)
        else:
            _, h_n = self.rnn(x, None, lengths=lengths)
        return self.out(torch.cat([h_n[0], h_n[1]], dim=-1))


def test_lengths_go_to_the_layer(tmp_path):
    path = str(tmp_path / "len.onnx")
    rng = np.random.default_rng(7)
    example = (rng.normal(size=(3, 6, 3)).astype(np.float32), np.array([6, 2, 4]))
    with pytest.raises(ValueError, match=r"pack_padded_sequence .*pass the lengths to the recurrent layer"):
        rnnkit.onnx.export(_scaled(_Lengths(packed=True)), example, path)
    model = _scaled(_Lengths(packed=False))
    rnnkit.onnx.export(model, example, path)
    session = _session(path)
    packed = _scaled(_Lengths(packed=True))  # the same weights
    for T, B in SIZES:
        x, lengths = rng.normal(size=(B, T, 3)).astype(np.float32), rng.integers(1, T + 1, B)
        _check(session, model, x, lengths)
        with torch.no_grad():
            np.testing.assert_allclose(packed(torch.tensor(x), lengths).numpy(),  # the numbers of the packed form
                                       model(torch.tensor(x), lengths).numpy(), **TOL)


class _Stateful(nn.Module):
    """Old-style stateful forward: keeps its last state on the module."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(2, 3)
        self.hidden = None

    def forward(self, x):
        out, self.hidden = self.rnn(x, self.hidden)
        return out


def test_export_leaves_the_model_as_it_was(tmp_path):
    model = _scaled(_Stateful())
    x = np.random.default_rng(8).normal(size=(4, 2, 2)).astype(np.float32)
    rnnkit.onnx.export(model, x, str(tmp_path / "m.onnx"))
    assert model.hidden is None and "forward" not in model.__dict__ and "forward" not in model.rnn.__dict__
    model(torch.tensor(x))  # eager again: no traced tensor left behind
    assert type(model.hidden) is rnnkit.Tensor
    _check(_session(str(tmp_path / "m.onnx")), _scaled(_Stateful()), x)


def test_axes_of_the_same_size_are_told_apart_by_kind():
    from rnnkit.onnx._sizes import checkable

    lstm = nn.LSTM(3, 4, proj_size=2, bidirectional=True).eval()  # h0 (2, B, 2): its layer axis has B's size
    arrays = [np.zeros((5, 2, 3), np.float32), np.zeros((2, 2, 2), np.float32), np.zeros((2, 2, 4), np.float32)]
    labelled = [[(0, "T"), (1, "B")], [(0, "L"), (1, "B")], [(0, "L"), (1, "B")]]

    def runs(new):
        try:
            lstm(torch.tensor(new[0]), (torch.tensor(new[1]), torch.tensor(new[2])))
        except ValueError:
            return False
        return True

    assert checkable(arrays, labelled, runs) == [[(0, "T"), (1, "B")], [(1, "B")], [(1, "B")]]
