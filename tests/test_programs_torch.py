"""PyTorch programs, written as PyTorch users write them, run unchanged under ``rnnkit`` and under ``torch``.

Each program is one function of ``torch`` (the module): called with real torch and with rnnkit
(``import rnnkit as torch``), from the same initial weights, it must produce the same numbers.
Data and weights are float64 where the program allows it, so agreement is to rounding.
"""

from __future__ import annotations

import io

import numpy as np

import rnnkit

TEXT = ("the cat sat on the mat . the dog sat on the log . a cat saw a dog . "
        "the dog saw the cat on the mat . a dog sat . ") * 3


def _same_weights(torch, ours, theirs):
    """Copy rnnkit's initial weights into the torch model (the programs then run on their own)."""
    theirs.load_state_dict({k: torch.tensor(v.numpy().copy()) for k, v in ours.state_dict().items()})


# -- a word-level language model: DataLoader, accuracy with ==, top-k and multinomial sampling, checkpoints ----
def word_lm_program(torch, model=None, steps=2, checkpoint=None):
    nn = torch.nn
    from importlib import import_module

    data = import_module(f"{torch.__name__}.utils.data")

    words = TEXT.split()
    vocab = sorted(set(words))
    ids = torch.tensor([vocab.index(w) for w in words], dtype=torch.long)
    bptt = 6
    n = (len(ids) - 1) // bptt
    inputs = ids[: n * bptt].view(n, bptt)
    targets = ids[1 : n * bptt + 1].view(n, bptt)
    loader = data.DataLoader(data.TensorDataset(inputs, targets), batch_size=4, shuffle=False, drop_last=True)

    class WordLM(nn.Module):
        def __init__(self, ntoken, ninp, nhid):
            super().__init__()
            self.encoder = nn.Embedding(ntoken, ninp)
            self.rnn = nn.LSTM(ninp, nhid, num_layers=2, batch_first=True)
            self.decoder = nn.Linear(nhid, ntoken)

        def forward(self, x, hidden=None):
            out, hidden = self.rnn(self.encoder(x), hidden)
            return self.decoder(out), hidden

    if model is None:
        model = WordLM(len(vocab), 8, 12).double()
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    history = []
    for epoch in range(steps):
        model.train()
        total, correct, count = 0.0, 0, 0
        for x, y in loader:
            optimizer.zero_grad()
            logits, _ = model(x)
            loss = criterion(logits.view(-1, len(vocab)), y.view(-1))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            total += loss.item() * x.size(0)
            pred = logits.argmax(dim=-1)
            correct += (pred == y).sum().item()
            count += y.numel()
        history.append((f"{total / len(loader.dataset):.10f}", correct / count))
    if checkpoint is not None:  # save everything, then resume from the file in a fresh model
        torch.save({"epoch": steps, "model": model.state_dict(), "optimizer": optimizer.state_dict()}, checkpoint)
        checkpoint.seek(0)
        state = torch.load(checkpoint, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
    model.eval()
    with torch.no_grad():
        word = torch.tensor([[vocab.index("the")]])
        hidden, greedy = None, []
        for _ in range(8):
            logits, hidden = model(word, hidden)
            values, indices = logits[0, -1].topk(3)
            greedy.append(vocab[indices[0].item()])
            word = indices[:1].view(1, 1)
        probs = torch.softmax(logits[0, -1], dim=-1)
        sampled = torch.multinomial(probs, 5, replacement=True)
    assert sampled.shape == (5,) and bool((sampled >= 0).all()) and bool((sampled < len(vocab)).all())
    return model, history, greedy, values.tolist()


def test_word_lm_program_gives_torch_numbers(torch):
    rnnkit.manual_seed(0)
    ours, _, _, _ = word_lm_program(rnnkit, steps=0)
    theirs, _, _, _ = word_lm_program(torch, steps=0)
    _same_weights(torch, ours, theirs)
    a = word_lm_program(rnnkit, model=ours, steps=3, checkpoint=io.BytesIO())
    b = word_lm_program(torch, model=theirs, steps=3, checkpoint=io.BytesIO())
    assert a[1] == b[1]  # loss (to 10 decimals) and accuracy per epoch
    assert a[2] == b[2]  # greedy continuation via topk
    np.testing.assert_allclose(a[3], b[3], rtol=1e-10)


# -- an attention seq2seq (GRU encoder, attention decoder, item assignment into encoder_outputs) ----------
def seq2seq_program(torch, modules=None, steps=3):
    nn, F, optim = torch.nn, torch.nn.functional, torch.optim
    hidden_size, vocab, max_length = 10, 7, 6

    class EncoderRNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(vocab, hidden_size)
            self.gru = nn.GRU(hidden_size, hidden_size)

        def forward(self, input, hidden):
            embedded = self.embedding(input).view(1, 1, -1)
            return self.gru(embedded, hidden)

    class AttnDecoderRNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(vocab, hidden_size)
            self.attn = nn.Linear(hidden_size * 2, max_length)
            self.attn_combine = nn.Linear(hidden_size * 2, hidden_size)
            self.gru = nn.GRU(hidden_size, hidden_size)
            self.out = nn.Linear(hidden_size, vocab)

        def forward(self, input, hidden, encoder_outputs):
            embedded = self.embedding(input).view(1, 1, -1)
            attn_weights = F.softmax(self.attn(torch.cat((embedded[0], hidden[0]), 1)), dim=1)
            attn_applied = torch.bmm(attn_weights.unsqueeze(0), encoder_outputs.unsqueeze(0))
            output = torch.cat((embedded[0], attn_applied[0]), 1)
            output = F.relu(self.attn_combine(output).unsqueeze(0))
            output, hidden = self.gru(output, hidden)
            return F.log_softmax(self.out(output[0]), dim=1), hidden, attn_weights

    if modules is None:
        modules = (EncoderRNN().double(), AttnDecoderRNN().double())
    encoder, decoder = modules
    enc_opt = optim.SGD(encoder.parameters(), lr=0.1)
    dec_opt = optim.SGD(decoder.parameters(), lr=0.1)
    criterion = nn.NLLLoss()
    pairs = [([1, 2, 3, 4], [2, 3, 4, 5]), ([4, 3, 2], [5, 4, 3, 2]), ([1, 1, 5, 6], [6, 5])]
    losses = []
    for step in range(steps):
        source, target = pairs[step % len(pairs)]
        input_tensor = torch.tensor(source, dtype=torch.long).view(-1, 1)
        target_tensor = torch.tensor(target, dtype=torch.long).view(-1, 1)
        encoder_hidden = torch.zeros(1, 1, hidden_size, dtype=torch.double)
        enc_opt.zero_grad()
        dec_opt.zero_grad()
        encoder_outputs = torch.zeros(max_length, hidden_size, dtype=torch.double)
        for ei in range(input_tensor.size(0)):
            encoder_output, encoder_hidden = encoder(input_tensor[ei], encoder_hidden)
            encoder_outputs[ei] = encoder_output[0, 0]  # differentiable item assignment
        decoder_input = torch.tensor([[0]])
        decoder_hidden = encoder_hidden
        loss = 0
        for di in range(target_tensor.size(0)):
            decoder_output, decoder_hidden, _ = decoder(decoder_input, decoder_hidden, encoder_outputs)
            loss += criterion(decoder_output, target_tensor[di])
            decoder_input = target_tensor[di]  # teacher forcing
        loss.backward()
        enc_opt.step()
        dec_opt.step()
        losses.append(loss.item() / target_tensor.size(0))
    return modules, losses


def test_attention_seq2seq_program_gives_torch_numbers(torch):
    rnnkit.manual_seed(1)
    ours, _ = seq2seq_program(rnnkit, steps=0)
    theirs, _ = seq2seq_program(torch, steps=0)
    for a, b in zip(ours, theirs):
        _same_weights(torch, a, b)
    _, losses_ours = seq2seq_program(rnnkit, ours, steps=6)
    _, losses_theirs = seq2seq_program(torch, theirs, steps=6)
    np.testing.assert_allclose(losses_ours, losses_theirs, rtol=1e-12)
    for a, b in zip(ours, theirs):
        for (name, p), q in zip(a.named_parameters(), b.parameters()):
            np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-10, atol=1e-12, err_msg=name)


# -- two LSTMCells on sine waves with LBFGS (pytorch/examples' time_sequence_prediction) ------------------
def sine_program(torch, seq=None, steps=2):
    nn, optim = torch.nn, torch.optim

    class Sequence(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm1 = nn.LSTMCell(1, 11)
            self.lstm2 = nn.LSTMCell(11, 11)
            self.linear = nn.Linear(11, 1)

        def forward(self, input, future=0):
            outputs = []
            h_t = torch.zeros(input.size(0), 11, dtype=torch.double)
            c_t = torch.zeros(input.size(0), 11, dtype=torch.double)
            h_t2 = torch.zeros(input.size(0), 11, dtype=torch.double)
            c_t2 = torch.zeros(input.size(0), 11, dtype=torch.double)
            for input_t in input.split(1, dim=1):
                h_t, c_t = self.lstm1(input_t, (h_t, c_t))
                h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
                output = self.linear(h_t2)
                outputs += [output]
            for _ in range(future):
                h_t, c_t = self.lstm1(output, (h_t, c_t))
                h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
                output = self.linear(h_t2)
                outputs += [output]
            return torch.cat(outputs, dim=1)

    x = np.arange(40)[None, :] + np.array([[0], [7], [13], [21]])
    data = np.sin(x / 4.0)
    input, target = torch.from_numpy(data[1:, :-1]), torch.from_numpy(data[1:, 1:])
    test_input, test_target = torch.from_numpy(data[:1, :-1]), torch.from_numpy(data[:1, 1:])
    if seq is None:
        seq = Sequence()
        seq.double()
    criterion = nn.MSELoss()
    optimizer = optim.LBFGS(seq.parameters(), lr=0.8, max_iter=5)
    results = []
    for _ in range(steps):
        def closure():
            optimizer.zero_grad()
            loss = criterion(seq(input), target)
            loss.backward()
            return loss

        train_loss = optimizer.step(closure)
        with torch.no_grad():
            pred = seq(test_input, future=5)
            test_loss = criterion(pred[:, :-5], test_target)
        results.append((train_loss.item(), test_loss.item(), pred.detach().numpy()[0, -5:].tolist()))
    return seq, results


def test_lstmcell_lbfgs_program_gives_torch_numbers(torch):
    rnnkit.manual_seed(2)
    ours, _ = sine_program(rnnkit, steps=0)
    theirs, _ = sine_program(torch, steps=0)
    _same_weights(torch, ours, theirs)
    _, a = sine_program(rnnkit, ours, steps=3)
    _, b = sine_program(torch, theirs, steps=3)
    for (la, ta, pa), (lb, tb, pb) in zip(a, b):
        np.testing.assert_allclose([la, ta] + pa, [lb, tb] + pb, rtol=1e-8, atol=1e-12)
