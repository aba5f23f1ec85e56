"""rnnkit.serialization: safetensors checkpoints PyTorch can read, clear errors, atomic writes, optimizer state."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest
import safetensors.numpy

from rnnkit.optim import Adam, lr_scheduler
from rnnkit.serialization import (
    atomic_write_bytes,
    atomic_write_text,
    flatten_optimizer_state,
    load,
    load_metadata,
    load_optimizer_state,
    save,
    save_optimizer_state,
    unflatten_optimizer_state,
)

import rnnkit
from rnnkit.nn import Parameter


def _lstm_state(torch):
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(3, 5, num_layers=2, bidirectional=True, batch_first=True)
    return lstm, {k: v.detach().numpy().copy() for k, v in lstm.state_dict().items()}


def test_save_loads_into_torch_lstm(torch, tmp_path):
    src, state = _lstm_state(torch)
    path = tmp_path / "lstm.safetensors"
    save(state, path, metadata={"arch": "lstm"})
    loaded = load(path)
    assert set(loaded) == set(state) and "weight_hh_l1_reverse" in loaded
    for name, value in state.items():
        assert loaded[name].dtype == np.float32
        np.testing.assert_array_equal(loaded[name], value)
    dst = torch.nn.LSTM(3, 5, num_layers=2, bidirectional=True, batch_first=True)
    dst.load_state_dict({k: torch.from_numpy(v) for k, v in loaded.items()})  # strict
    x = torch.randn(2, 4, 3)
    assert torch.equal(dst(x)[0], src(x)[0])
    from safetensors.torch import load_file

    for name, tensor in load_file(str(path)).items():
        assert torch.equal(tensor, src.state_dict()[name])
    assert load_metadata(path) == {"arch": "lstm"}


def test_save_accepts_modules_parameters_and_torch_tensors(torch, tmp_path):
    src, _ = _lstm_state(torch)
    save(dict(src.named_parameters()), tmp_path / "a.safetensors")  # requires_grad tensors
    for name, value in load(tmp_path / "a.safetensors").items():
        np.testing.assert_array_equal(value, getattr(src, name).detach().numpy())

    class Module:  # anything with .state_dict(), values with .data
        def state_dict(self):
            return {"w": Parameter(np.arange(6.0).reshape(2, 3)), "b": np.ones(2, np.float32)}

    save(Module(), tmp_path / "m.safetensors")
    loaded = load(tmp_path / "m.safetensors")
    np.testing.assert_array_equal(loaded["w"], np.arange(6.0).reshape(2, 3))
    assert loaded["w"].dtype == np.float64 and loaded["b"].dtype == np.float32
    save({"t": np.arange(12.0).reshape(3, 4).T}, tmp_path / "t.safetensors")  # non-contiguous input
    np.testing.assert_array_equal(load(tmp_path / "t.safetensors")["t"], np.arange(12.0).reshape(3, 4).T)


def test_save_rnnkit_lstm_loads_into_torch(torch, tmp_path):
    nn = pytest.importorskip("rnnkit.nn", reason="rnnkit.nn is not importable yet")
    if not hasattr(nn, "LSTM"):
        pytest.skip("rnnkit.nn.LSTM is not written yet")
    ours = nn.LSTM(3, 5, num_layers=2, bidirectional=True, batch_first=True)
    save(ours, tmp_path / "ours.safetensors")
    theirs = torch.nn.LSTM(3, 5, num_layers=2, bidirectional=True, batch_first=True)
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in load(tmp_path / "ours.safetensors").items()})
    for name, value in ours.state_dict().items():
        np.testing.assert_array_equal(theirs.state_dict()[name].numpy(), np.asarray(value.data))


def test_missing_file_and_directory(tmp_path):
    missing = tmp_path / "nope.safetensors"
    with pytest.raises(FileNotFoundError, match="nope.safetensors"):
        load(missing)
    with pytest.raises(IsADirectoryError, match="is a directory"):
        load(tmp_path)
    with pytest.raises(FileNotFoundError, match="directory .*no_such_dir.* does not exist"):
        save({"w": np.zeros(2)}, tmp_path / "no_such_dir" / "w.safetensors")


@pytest.mark.parametrize("cut,reason", [
    (0, "the file is empty"),
    (5, "too short"),
    (8, "truncated: the header declares"),
    (30, "truncated: the header declares"),
    (-1, "truncated: the header describes"),
])
def test_truncated_file_raises_value_error(tmp_path, cut, reason):
    path = tmp_path / "w.safetensors"
    save({"w": np.arange(10.0), "b": np.ones(3, np.float32)}, path)
    data = path.read_bytes()
    path.write_bytes(data[:cut])
    with pytest.raises(ValueError, match=rf"w.safetensors' is not a valid safetensors file .*{reason}"):
        load(path)


def test_garbage_pickle_and_torch_files_are_rejected_without_executing(torch, tmp_path):
    sentinel = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(sentinel), "w"))

    (tmp_path / "evil.pkl").write_bytes(pickle.dumps({"w": Payload()}))
    with pytest.raises(ValueError, match=r"evil.pkl.*Python pickle.*never unpickles"):
        load(tmp_path / "evil.pkl")
    assert not sentinel.exists()
    torch.save({"w": torch.zeros(2)}, tmp_path / "model.pt")
    with pytest.raises(ValueError, match=r"model.pt.*zip archive"):
        load(tmp_path / "model.pt")
    (tmp_path / "noise.bin").write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ValueError, match=r"noise.bin' is not a valid safetensors file \(4096 bytes\)"):
        load(tmp_path / "noise.bin")
    (tmp_path / "text.safetensors").write_text("hello world, not a tensor file")
    with pytest.raises(ValueError, match="text.safetensors"):
        load(tmp_path / "text.safetensors")


def _fail_write_midway(monkeypatch):
    real_write = os.write

    def write_half_then_fail(fd, data):
        real_write(fd, bytes(data)[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", write_half_then_fail)


def _fail_fsync(monkeypatch):
    def fsync(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", fsync)


def _interrupt_replace(monkeypatch):
    def replace(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", replace)


@pytest.mark.parametrize("sabotage,error", [
    (_fail_write_midway, OSError),
    (_fail_fsync, OSError),
    (_interrupt_replace, KeyboardInterrupt),
])
def test_interrupted_write_leaves_old_file_intact(tmp_path, monkeypatch, sabotage, error):
    path = tmp_path / "w.safetensors"
    save({"w": np.zeros(3)}, path)
    old = path.read_bytes()
    with monkeypatch.context() as patch:
        sabotage(patch)
        with pytest.raises(error):
            save({"w": np.ones(10_000)}, path)
    assert path.read_bytes() == old
    assert os.listdir(tmp_path) == ["w.safetensors"]  # the temp file was removed
    np.testing.assert_array_equal(load(path)["w"], np.zeros(3))


def test_atomic_write_helpers(tmp_path):
    atomic_write_text(tmp_path / "a.json", '{"x": "é"}')
    assert json.loads((tmp_path / "a.json").read_text(encoding="utf-8")) == {"x": "é"}
    atomic_write_bytes(tmp_path / "a.json", b"new")
    assert (tmp_path / "a.json").read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["a.json"]
    with pytest.raises(TypeError, match="data must be bytes, got str"):
        atomic_write_bytes(tmp_path / "b", "text")
    with pytest.raises(TypeError, match="text must be a str, got bytes"):
        atomic_write_text(tmp_path / "b", b"bytes")
    with pytest.raises(FileNotFoundError, match="missing"):
        atomic_write_text(tmp_path / "missing" / "b.txt", "x")


@pytest.mark.parametrize("obj,metadata,match", [
    ({"w": np.array(["a"], dtype=object)}, None, r"cannot save .* as safetensors: .*object"),
    ({1: np.zeros(2)}, None, r"state dict keys must be str, got int"),
    ({"w": [1.0, 2.0]}, None, r"entry 'w' must be an array or tensor, got list"),
    ([np.zeros(2)], None, r"obj must be a state dict .* got list"),
    ({"w": np.zeros(2)}, {"epoch": 3}, r"metadata must be a dict of str -> str"),
])
def test_save_bad_input_raises_type_error(tmp_path, obj, metadata, match):
    with pytest.raises(TypeError, match=match):
        save(obj, tmp_path / "x.safetensors", metadata=metadata)
    assert not os.listdir(tmp_path)


def _trained_adam(rng, steps=5):
    params = [Parameter(rng.standard_normal(s)) for s in [(3, 4), (5,)]]
    opt = Adam([{"params": params[:1]}, {"params": params[1:], "lr": 0.02}], lr=0.01, amsgrad=True)
    sched = lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    for _ in range(steps):
        for p in params:
            p.grad = rnnkit.Tensor(rng.standard_normal(p.data.shape))
        opt.step()
        sched.step()
    return params, opt, sched


def test_flatten_unflatten_optimizer_state_round_trip():
    _, opt, _ = _trained_adam(np.random.default_rng(0))
    sd = opt.state_dict()
    tensors, meta = flatten_optimizer_state(sd)
    assert sorted(tensors) == sorted(
        f"state/{i}/{k}" for i in (0, 1) for k in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    )
    back = unflatten_optimizer_state(tensors, json.loads(json.dumps(meta)))
    assert back["param_groups"] == sd["param_groups"]  # betas back to a tuple, initial_lr kept
    assert back["state"].keys() == sd["state"].keys()
    for i, pstate in sd["state"].items():
        assert back["state"][i]["step"] == pstate["step"] == 5
        for key in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
            np.testing.assert_array_equal(back["state"][i][key], pstate[key])
    with pytest.raises(ValueError, match="not an rnnkit optimizer state"):
        unflatten_optimizer_state(tensors, {"param_groups": []})
    with pytest.raises(ValueError, match=r"unexpected optimizer tensor name 'exp_avg'"):
        unflatten_optimizer_state({"exp_avg": np.zeros(1)}, meta)


def test_optimizer_checkpoint_file_resumes_identically(tmp_path):
    rng = np.random.default_rng(1)
    params, opt, sched = _trained_adam(rng)
    path = tmp_path / "optim.safetensors"
    save_optimizer_state(opt, path, metadata={"scheduler": json.dumps(sched.state_dict())})
    assert sorted(safetensors.numpy.load_file(str(path)))[0] == "state/0/exp_avg"  # plain safetensors
    clones = [Parameter(p.data) for p in params]
    fresh = Adam([{"params": clones[:1]}, {"params": clones[1:]}], lr=1.0, amsgrad=True)
    fresh_sched = lr_scheduler.StepLR(fresh, step_size=2, gamma=0.5)
    fresh.load_state_dict(load_optimizer_state(path))
    fresh_sched.load_state_dict(json.loads(load_metadata(path)["scheduler"]))
    assert fresh_sched.get_last_lr() == sched.get_last_lr()
    for _ in range(6):
        grads = [rng.standard_normal(p.data.shape) for p in params]
        for ps, o, s in ((params, opt, sched), (clones, fresh, fresh_sched)):
            for p, g in zip(ps, grads):
                p.grad = rnnkit.Tensor(g.copy())
            o.step()
            s.step()
    for p, q in zip(params, clones):
        np.testing.assert_array_equal(p.data, q.data)
    save({"w": np.zeros(1)}, tmp_path / "model.safetensors")
    with pytest.raises(ValueError, match="model.safetensors' holds no optimizer state"):
        load_optimizer_state(tmp_path / "model.safetensors")
    with pytest.raises(ValueError, match="reserved key"):
        save_optimizer_state(opt, path, metadata={"rnnkit.optimizer": "{}"})
