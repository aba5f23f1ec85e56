"""rnnkit.onnx needs only the onnx package (no torch, keras or ONNX Runtime), and says so when it is missing."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("onnx")


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)


def test_export_and_check_without_torch_keras_or_onnxruntime(tmp_path):
    result = _run(f"""
        import sys
        for name in ("torch", "keras", "onnxruntime", "tensorflow"):
            sys.modules[name] = None  # importing any of them now fails
        import numpy as np, onnx, rnnkit.onnx
        from rnnkit import nn, keras
        from rnnkit.keras import layers
        path = {str(tmp_path / "a.onnx")!r}
        rnnkit.onnx.export(nn.LSTM(3, 4, proj_size=2, num_layers=2), np.zeros((5, 2, 3), np.float32), path)
        onnx.checker.check_model(onnx.load(path), full_check=True)
        model = keras.Sequential([keras.Input((None, 3)), layers.LSTM(4, return_sequences=True)])
        model.export(path, format="onnx")
        onnx.checker.check_model(onnx.load(path), full_check=True)
        print("built and checked")
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "built and checked"


def test_missing_onnx_is_named_with_the_extra(tmp_path):
    result = _run(f"""
        import sys
        sys.modules["onnx"] = None
        import numpy as np, rnnkit.onnx
        from rnnkit import nn
        try:
            rnnkit.onnx.export(nn.Linear(2, 2), np.zeros((1, 2), np.float32), {str(tmp_path / "a.onnx")!r})
        except ImportError as error:
            print(error)
        from rnnkit.cli import main
        print("status", main(["onnx", {str(tmp_path)!r}, {str(tmp_path / "b.onnx")!r}]))
    """)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "pip install 'rnnkit[files]'" in lines[0] and lines[-1] == "status 2"
    assert "rnnkit[files]" in result.stderr and "Traceback" not in result.stderr
