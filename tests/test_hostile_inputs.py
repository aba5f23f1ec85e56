"""Validate before acting, in the library: atomic load_state_dict, safetensors headers checked before any
data is read, Keras files whose sizes the weights cannot back, and arguments checked where they enter."""

from __future__ import annotations

import json
import os
import struct
import tracemalloc

import numpy as np
import pytest

import rnnkit
from rnnkit import keras as rk
from rnnkit import nn, serialization
from rnnkit.cli import rundir
from rnnkit.cli.charlm import CharLM
from rnnkit.cli.options import InputError
from rnnkit.cli.schema import charlm_parameter_count, charlm_shapes, forecast_shapes


# -- load_state_dict: all checked, then all copied ------------------------------------------------
def _model():
    rnnkit.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.LSTM(4, 5), nn.Linear(5, 2))


@pytest.mark.parametrize("spoil,error,match", [
    (lambda sd, last: sd.__setitem__(last, sd[last].astype(np.complex64) + 1j), TypeError,
     r"2.bias has dtype complex64, which cannot be loaded into a float32 parameter"),
    (lambda sd, last: sd.__setitem__(last, np.array(["a", "b"])), TypeError, r"2.bias has dtype <U1"),
    (lambda sd, last: sd.__setitem__(last, np.zeros(3, np.float32)), ValueError,
     r"2.bias: expected shape \(2,\), got \(3,\)"),
    (lambda sd, last: sd.pop(last), ValueError, r"missing keys: 2.bias"),
    (lambda sd, last: sd.__setitem__("extra", np.zeros(1)), ValueError, r"unexpected keys: extra"),
    (lambda sd, last: sd.__setitem__(last, [[1.0], [2.0, 3.0]]), TypeError, r"2.bias is not an array"),
])
def test_a_failed_load_state_dict_changes_nothing(spoil, error, match):
    model = _model()
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}  # state_dict values are Tensors, as torch
    source = {k: v.numpy() + 1.0 for k, v in model.state_dict().items()}  # every tensor would change
    last = list(source)[-1]
    spoil(source, last)
    with pytest.raises(error, match=match):
        model.load_state_dict(source)
    after = model.state_dict()
    assert all(np.array_equal(after[k], before[k]) for k in before)  # not one parameter was overwritten


def test_load_state_dict_of_none_and_of_wider_dtypes():
    model = _model()
    with pytest.raises(TypeError, match="expected a mapping of str to arrays, got NoneType"):
        model.load_state_dict(None)
    with pytest.raises(TypeError, match="keys must be str"):
        model.load_state_dict({1: np.zeros(1)})
    doubles = {k: v.astype(np.float64) + 1 for k, v in model.state_dict().items()}
    model.load_state_dict(doubles)  # float64 into float32 parameters: cast, as torch's copy_
    assert all(np.array_equal(v, doubles[k].astype(np.float32)) for k, v in model.state_dict().items())


# -- safetensors: headers checked before data ---------------------------------------------------------
def _raw(path, header, data=b""):
    blob = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + data)
    return path


@pytest.mark.parametrize("header,data,match", [
    ({"w": {"dtype": "F32", "shape": [10**12], "data_offsets": [0, 4 * 10**12]}}, b"\0" * 16,
     "describes 4000000000000 bytes of data but only 16 follow"),
    ({"w": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}}, b"\0" * 4,
     r"stored as BF16 \(bfloat16\), which NumPy cannot hold; convert the file to F32"),
    ({"w": {"dtype": "F8_E4M3", "shape": [4], "data_offsets": [0, 4]}}, b"\0" * 4, r"F8_E4M3 \(float8 e4m3\)"),
    ({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4, "not a list of non-negative ints"),
    ({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, b"\0" * 4, "needs 8 bytes, its data_offsets span 4"),
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
      "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\0" * 8, "overlapping or with a gap"),
    ({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 12, "describes 4 bytes of data but 12"),
    ({"w": {"dtype": "X9", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4, "unknown dtype 'X9'"),
    ({"__metadata__": {"a": 1}}, b"", "not a mapping of str to str"),
])
def test_bad_headers_are_refused_before_reading_data(tmp_path, header, data, match):
    path = _raw(tmp_path / "w.safetensors", header, data)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=match):
            serialization.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20  # the claims of a header never become an allocation


def test_header_length_and_depth_bombs(tmp_path):
    path = tmp_path / "w.safetensors"
    path.write_bytes(struct.pack("<Q", 2**63) + b"{}")
    with pytest.raises(ValueError, match="does not start with a safetensors header"):
        serialization.load(path)
    deep = b"[" * 100_000 + b"]" * 100_000
    path.write_bytes(struct.pack("<Q", len(deep)) + deep)
    with pytest.raises(ValueError, match="nested too deeply"):
        serialization.load(path)
    nan = b'{"__metadata__": {"x": NaN}}'
    path.write_bytes(struct.pack("<Q", len(nan)) + nan)
    with pytest.raises(ValueError, match="NaN"):
        serialization.load(path)


def test_read_header_gives_names_dtypes_and_shapes_without_data(tmp_path):
    path = tmp_path / "w.safetensors"
    serialization.save({"a": np.zeros((2, 3), np.float32), "b": np.ones(4, np.int64)}, path, metadata={"k": "v"})
    assert serialization.read_header(path) == ({"a": ("F32", (2, 3)), "b": ("I64", (4,))}, {"k": "v"})


def test_a_full_disk_names_the_file(tmp_path, monkeypatch):
    def full(fd, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    target = str(tmp_path / "model.safetensors")
    with pytest.raises(OSError, match="No space left on device") as caught:
        serialization.save({"w": np.zeros(3)}, target)
    assert caught.value.filename == target and caught.value.errno == 28


# -- Keras files ----------------------------------------------------------------------------------------
@pytest.fixture
def keras_file(tmp_path):
    model = rk.Sequential([rk.layers.LSTM(3, input_shape=(5, 2)), rk.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    path = str(tmp_path / "model.safetensors")  # rnnkit's own format (.keras: tests/keras/test_keras_files.py)
    model.save(path)
    return path


def _rewrite(path, change_meta=None, change_arrays=None):
    arrays, meta = serialization.read_safetensors(path)
    arrays = {k: np.array(v) for k, v in arrays.items()}
    if change_meta:
        change_meta(meta)
    if change_arrays:
        change_arrays(arrays)
    serialization.save(arrays, path, metadata=meta)


def test_keras_config_sizes_the_weights_cannot_back_fail_before_building(keras_file):
    original = open(keras_file, "rb").read()

    def units(meta):
        meta["model_config"] = meta["model_config"].replace('"units": 3', '"units": 20000')

    _rewrite(keras_file, units)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"units is 20000, larger than any dimension of the stored weights"):
            rk.models.load_model(keras_file)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20

    def input_shape(meta):
        meta["build_input_shape"] = json.dumps([None, 10**9, 2])

    open(keras_file, "wb").write(original)
    _rewrite(keras_file, input_shape)
    with pytest.raises(ValueError, match="build_input_shape .* is larger than"):
        rk.models.load_model(keras_file)


def test_keras_complex_weights_are_refused_not_truncated(keras_file):
    _rewrite(keras_file, change_arrays=lambda a: a.__setitem__("weights/0", a["weights/0"] + 1j))
    with pytest.raises(ValueError, match=r"weight 0 .* has dtype complex64, expected real numbers"):
        rk.models.load_model(keras_file)


def test_a_compile_config_without_optimizer_compiles_with_kerass_default(keras_file):
    def drop(meta):
        config = json.loads(meta["compile_config"])
        config.pop("optimizer")
        meta["compile_config"] = json.dumps(config)

    _rewrite(keras_file, drop, lambda a: [a.pop(k) for k in list(a) if k.startswith("optimizer/")])
    model = rk.models.load_model(keras_file)
    assert type(model.optimizer).__name__ == "RMSprop"  # keras: compile(**config) with optimizer="rmsprop"


# -- arguments ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make,error,match", [
    (lambda: nn.GRUCell(4, 8, reset_after="no"), TypeError, "reset_after: expected a bool, got str 'no'"),
    (lambda: nn.GRU(4, 8, reset_after=1), TypeError, "reset_after: expected a bool, got int 1"),
    (lambda: rk.layers.GRU(4, reset_after="no"), TypeError, "reset_after: expected a bool"),
    (lambda: rk.layers.LSTM(4, recurrent_activation="sigmoidd"), ValueError,
     "^recurrent_activation: unknown activation 'sigmoidd'"),
    (lambda: rk.optimizers.Adam(beta_1=2.0), ValueError, r"Adam: beta_1 must be a float in \[0, 1\), got 2.0"),
    (lambda: rk.optimizers.Adam(beta_2=1.0), ValueError, r"beta_2 must be a float in \[0, 1\), got 1.0"),
    (lambda: rk.optimizers.AdamW(beta_1=-0.1), ValueError, r"AdamW: beta_1 must be a float in \[0, 1\)"),
    (lambda: rk.optimizers.Adam(epsilon=float("nan")), ValueError, "epsilon must be a float >= 0"),
    (lambda: rk.optimizers.RMSprop(rho=-1.0), ValueError, r"RMSprop: rho must be a float in \[0, 1\], got -1.0"),
    (lambda: rk.optimizers.RMSprop(momentum=2), ValueError, r"momentum must be a float in \[0, 1\]"),
    (lambda: rk.optimizers.Adagrad(initial_accumulator_value=-1), ValueError,
     "initial_accumulator_value must be a float >= 0"),
    (lambda: rk.optimizers.Adam(beta_1="0.9"), ValueError, "beta_1 must be a float"),
    (lambda: rnnkit.tensor([[1.0, 2.0], [3.0]]), ValueError, r"expected sequence of length 2 at dim 1 \(got 1\)"),
    (lambda: nn.LSTM(2, 3)([[[1.0, 2.0]], [[3.0]]]), ValueError, r"^input: expected sequence of length 2"),
])
def test_arguments_are_checked_where_they_enter(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_the_keras_optimizer_ranges_keep_training_finite():
    w = nn.Parameter(np.ones(3, np.float32))
    for opt in (rk.optimizers.Adam(beta_1=0.0, beta_2=0.0), rk.optimizers.RMSprop(rho=0.0),
                rk.optimizers.RMSprop(rho=1.0), rk.optimizers.Adagrad(initial_accumulator_value=0.0)):
        for _ in range(3):
            opt.apply([np.array([0.5, -1.0, 2.0], np.float32)], [w])
        assert np.isfinite(w.data).all(), opt  # every value in the accepted ranges is one the rule can use


def test_charlm_shapes_match_the_model():
    for cell, layers in (("lstm", 2), ("gru", 1), ("rnn", 3)):
        config = {"vocab_size": 7, "cell": cell, "layers": layers, "hidden": 5, "embed": 3}
        model = CharLM(**config)
        assert {k: v.shape for k, v in model.state_dict().items()} == charlm_shapes(config)
        assert list(model.state_dict()) == list(charlm_shapes(config))  # the order the optimizer numbers them in
        assert charlm_parameter_count(config) == sum(p.numel() for p in model.state_dict().values())


def test_forecast_shapes_match_the_model():
    from rnnkit.forecast.network import ForecastEnsemble

    for cell in ("lstm", "gru", "rnn"):
        config = {"cell": cell, "inputs": 5, "hidden": 6, "window": 4, "targets": 2, "horizon": 3, "future": 1,
                  "members": 2}
        model = ForecastEnsemble(**config)
        assert {k: v.shape for k, v in model.state_dict().items()} == forecast_shapes(config)
        assert list(model.state_dict()) == list(forecast_shapes(config))


def test_the_lock_is_exclusive_and_cleans_leftovers(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / ".tmp-checkpoint-3-ab12").mkdir()
    (run / ".model.safetensors.0f0f.tmp").write_bytes(b"half")
    (run / "notes.txt").write_text("mine")
    with rundir.lock(str(run)):
        assert sorted(os.listdir(run)) == [rundir.LOCK_FILE, "notes.txt"]  # a killed writer's leftovers went
        assert (run / rundir.LOCK_FILE).read_text().strip() == str(os.getpid())
        with pytest.raises(InputError, match=rf"another rnnkit process \(PID {os.getpid()}\) is writing to it"):
            with rundir.lock(str(run)):
                pass
    with rundir.lock(str(run)):  # released on exit
        pass
    fresh = tmp_path / "fresh"
    with pytest.raises(RuntimeError):
        with rundir.lock(str(fresh)):
            raise RuntimeError("the command failed before writing")
    assert not fresh.exists()  # a directory the lock created and nothing used is removed again
    rundir.claim_out(str(run / "empty"), overwrite=False)
    with rundir.lock(str(run / "empty")):
        rundir.claim_out(str(run / "empty"), overwrite=False)  # the lock file is not content
