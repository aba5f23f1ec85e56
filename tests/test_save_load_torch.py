"""rnnkit.save / rnnkit.load in torch's checkpoint format, both ways with real torch, and the
weights-only unpickler refusing anything that would run code."""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

import rnnkit
from rnnkit import nn, optim
from helpers import close


def _lstm_pair(torch):
    ours = nn.LSTM(3, 5, num_layers=2, batch_first=True)
    theirs = torch.nn.LSTM(3, 5, num_layers=2, batch_first=True)
    return ours, theirs


def test_nested_structures_round_trip_through_paths_and_file_objects(tmp_path):
    obj = {
        "epoch": 7, "loss": 1.25, "name": "lm", "flags": [True, None], "pair": (1, 2.5), "ids": {3, 4},
        "nested": OrderedDict(w=rnnkit.arange(6).view(2, 3), a=np.ones(2, np.float32)), "raw": b"\x00\x01",
        "p": nn.Parameter(rnnkit.ones(2)), "dt": rnnkit.long,
    }
    buffer = io.BytesIO()
    rnnkit.save(obj, buffer)
    rnnkit.save(obj, tmp_path / "ck.pt")
    buffer.seek(0)
    for back in (rnnkit.load(buffer), rnnkit.load(tmp_path / "ck.pt"), rnnkit.load(str(tmp_path / "ck.pt"))):
        assert {k: back[k] for k in ("epoch", "loss", "name", "flags", "pair", "ids", "raw", "dt")} == {
            k: obj[k] for k in ("epoch", "loss", "name", "flags", "pair", "ids", "raw", "dt")
        }
        assert isinstance(back["nested"], OrderedDict) and back["nested"]["w"].dtype == rnnkit.int64
        assert (back["nested"]["w"] == obj["nested"]["w"]).all() and back["nested"]["a"].dtype == rnnkit.float32
        assert isinstance(back["p"], nn.Parameter) and back["p"].requires_grad
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically: no temporary left


def test_ndarrays_come_back_as_ndarrays_and_load_in_torch_as_tensors(torch, tmp_path):
    """pytorch/examples' time_sequence_prediction saves an ndarray and feeds the loaded value to from_numpy."""
    data = np.sin(np.arange(12, dtype=np.float64).reshape(3, 4) / 3.0)
    obj = {"data": data, "ids": [np.arange(3), np.array(True)], "t": rnnkit.ones(2)}
    with open(tmp_path / "traindata.pt", "wb") as f:
        rnnkit.save(obj, f)
    back = rnnkit.load(tmp_path / "traindata.pt")
    for ours, want in [(back["data"], data), (back["ids"][0], obj["ids"][0]), (back["ids"][1], obj["ids"][1])]:
        assert type(ours) is np.ndarray and ours.dtype == want.dtype and ours.shape == want.shape
        np.testing.assert_array_equal(ours, want)
    assert isinstance(back["t"], rnnkit.Tensor)
    assert rnnkit.from_numpy(back["data"][1:, :-1]).shape == (2, 3)
    theirs = torch.load(tmp_path / "traindata.pt", weights_only=True)  # torch reads the arrays as tensors
    assert isinstance(theirs["data"], torch.Tensor) and theirs["data"].dtype == torch.float64
    np.testing.assert_array_equal(theirs["data"].numpy(), data)


def test_zero_dim_tensors_keep_their_shape(torch, tmp_path):
    """A saved loss or step counter is a 0-d tensor; it was coming back with shape (1,)."""
    rnnkit.save({"loss": rnnkit.tensor(3.5), "step": rnnkit.tensor(7)}, tmp_path / "s.pt")
    ours, theirs = rnnkit.load(tmp_path / "s.pt"), torch.load(tmp_path / "s.pt", weights_only=True)
    for key in ("loss", "step"):
        assert ours[key].shape == () and tuple(theirs[key].shape) == () and ours[key].item() == theirs[key].item()
    torch.save({"loss": torch.tensor(3.5)}, tmp_path / "t.pt")
    assert rnnkit.load(tmp_path / "t.pt")["loss"].shape == ()


def test_a_bad_ndarray_record_is_refused(tmp_path):
    rnnkit.save({"a": np.ones(2)}, tmp_path / "a.pt")
    with zipfile.ZipFile(tmp_path / "a.pt") as archive:
        records = {name: archive.read(name) for name in archive.namelist()}
    records["a/rnnkit_ndarrays"] = b'{"0": 1}'
    with zipfile.ZipFile(tmp_path / "b.pt", "w", zipfile.ZIP_STORED) as archive:
        for name, raw in records.items():
            archive.writestr(name, raw)
    with pytest.raises(ValueError, match="rnnkit_ndarrays"):
        rnnkit.load(tmp_path / "b.pt")


def test_rnnkit_checkpoint_loads_in_torch_with_equal_outputs(torch, tmp_path):
    ours, theirs = _lstm_pair(torch)
    opt = optim.Adam(ours.parameters(), lr=0.01)
    x = np.random.default_rng(0).standard_normal((2, 4, 3)).astype(np.float32)
    ours(rnnkit.tensor(x))[0].sum().backward()
    opt.step()
    rnnkit.save({"model": ours.state_dict(), "optimizer": opt.state_dict(), "epoch": 1}, tmp_path / "ck.pth")
    loaded = torch.load(tmp_path / "ck.pth", weights_only=True)
    theirs.load_state_dict(loaded["model"])
    assert loaded["epoch"] == 1 and loaded["optimizer"]["param_groups"][0]["lr"] == 0.01
    close(ours(rnnkit.tensor(x))[0], theirs(torch.tensor(x))[0], tol=1e-6)


def test_torch_checkpoint_of_an_lstm_loads_into_rnnkit_and_back(torch, tmp_path):
    ours, theirs = _lstm_pair(torch)
    topt = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9)
    x = np.random.default_rng(1).standard_normal((2, 4, 3)).astype(np.float32)
    theirs(torch.tensor(x))[0].sum().backward()
    topt.step()
    torch.save({"model": theirs.state_dict(), "optimizer": topt.state_dict(), "epoch": 4}, tmp_path / "t.pt")
    with open(tmp_path / "t.pt", "rb") as f:
        checkpoint = rnnkit.load(f, map_location="cpu")
    ours.load_state_dict(checkpoint["model"])
    opt = optim.SGD(ours.parameters(), lr=0.5, momentum=0.9)
    opt.load_state_dict(checkpoint["optimizer"])
    assert checkpoint["epoch"] == 4 and opt.param_groups[0]["lr"] == 0.1
    close(ours(rnnkit.tensor(x))[0], theirs(torch.tensor(x))[0], tol=1e-6)
    rnnkit.save(ours.state_dict(), tmp_path / "back.pt")
    fresh = torch.nn.LSTM(3, 5, num_layers=2, batch_first=True)
    fresh.load_state_dict(torch.load(tmp_path / "back.pt", weights_only=True))
    close(ours(rnnkit.tensor(x))[0], fresh(torch.tensor(x))[0], tol=1e-6)


class _Marker:
    """Unpickling this would create a file: the code a malicious checkpoint carries."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (exec, (f"open({self.path!r}, 'w').write('ran')",))


def test_a_pickle_that_would_run_code_is_refused(torch, tmp_path):
    marker = tmp_path / "marker"
    torch.save({"weights": torch.ones(2), "payload": _Marker(str(marker))}, tmp_path / "evil.pt")
    with pytest.raises(pickle.UnpicklingError, match="refused the global 'builtins.exec'"):
        rnnkit.load(tmp_path / "evil.pt")
    assert not marker.exists()
    with pytest.raises(Exception):  # torch's own weights-only loader refuses it too
        torch.load(tmp_path / "evil.pt", weights_only=True)
    assert not marker.exists()
    torch.save(torch.nn.Linear(2, 2), tmp_path / "module.pt")  # a whole torch module: classes by name
    with pytest.raises(pickle.UnpicklingError, match="refused the global 'torch.nn.modules.linear.Linear'"):
        rnnkit.load(tmp_path / "module.pt")


def test_whole_modules_load_only_from_allowed_classes(tmp_path):
    class Tagger(nn.Module):
        def __init__(self, vocab, hidden=4, *, tags=3):
            super().__init__()
            self.embed = nn.Embedding(vocab, hidden)
            self.lstm = nn.LSTM(hidden, hidden)
            self.out = nn.Linear(hidden, tags)

        def forward(self, ids):
            h, _ = self.lstm(self.embed(ids))
            return self.out(h)

    model = Tagger(10, hidden=6, tags=2)
    rnnkit.save(model, tmp_path / "tagger.pt")
    with pytest.raises(pickle.UnpicklingError, match=r"safe_globals\(\[Tagger\]\)"):
        rnnkit.load(tmp_path / "tagger.pt")
    with rnnkit.serialization.safe_globals([Tagger]):
        back = rnnkit.load(tmp_path / "tagger.pt")
    assert isinstance(back, Tagger) and back.out.out_features == 2
    ids = rnnkit.tensor([[1, 2], [3, 4]])
    assert (back(ids) == model(ids)).all()
    assert not rnnkit.serialization.get_safe_globals()  # the allowance ended with the block


def test_bad_requests_fail_clearly(tmp_path):
    with pytest.raises(ValueError, match="weights_only=False"):
        rnnkit.load(io.BytesIO(), weights_only=False)
    with pytest.raises(ValueError, match="not a zip checkpoint"):
        rnnkit.load(io.BytesIO(pickle.dumps({"a": 1})))
    with pytest.raises(TypeError, match="save\\(f\\)"):
        rnnkit.save({"a": 1}, 3)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:  # only data.pkl (no byteorder record: little-endian, as torch)
        z.writestr("archive/data.pkl", pickle.dumps(None, protocol=2))
    buffer.seek(0)
    assert rnnkit.load(buffer) is None
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:  # torch stores records; a compressed one may be a bomb
        z.writestr("archive/data.pkl", pickle.dumps(None, protocol=2))
    bomb.seek(0)
    with pytest.raises(ValueError, match="is compressed"):
        rnnkit.load(bomb)
    with pytest.raises(ValueError, match="is a device"):
        rnnkit.load("/dev/zero")
    rnnkit.save(nn.Linear(2, 2).state_dict(), tmp_path / "w.safetensors")  # the safetensors path still works
    loaded = rnnkit.load(tmp_path / "w.safetensors")
    assert set(loaded) == {"weight", "bias"} and isinstance(loaded["weight"], rnnkit.Tensor)
    assert os.path.exists(tmp_path / "w.safetensors")
