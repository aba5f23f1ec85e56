"""The compiled Adam update (rnnkit.optim._numba_adam) against the NumPy one it stands for: the
same bits, step after step, over Adam's and AdamW's options. (Both are held to torch by
tests/optim/test_optim.py, which runs under the default kernel.)"""

from __future__ import annotations

import numpy as np
import pytest

from helpers import HAVE_NUMBA
from rnnkit.cells import kernels
from rnnkit.optim import adam as adam_module

pytestmark = pytest.mark.skipif(not HAVE_NUMBA, reason="the compiled update needs numba")


def _run(kernel, shape, dtype, steps, **options):
    rng = np.random.default_rng(4)
    param = rng.standard_normal(shape).astype(dtype)
    m, v = np.zeros(shape, dtype), np.zeros(shape, dtype)
    vmax = np.zeros(shape, dtype) if options["amsgrad"] else None
    with kernels.use(kernel):
        for step in range(1, steps + 1):
            grad = rng.standard_normal(shape).astype(dtype) * 10.0 ** rng.integers(-3, 3)
            adam_module.adam(param, grad, m, v, vmax, step, **options)
    return param, m, v


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(), (7,), (33, 65)])
@pytest.mark.parametrize("weight_decay,decoupled", [(0.0, False), (0.05, False), (0.05, True)])
@pytest.mark.parametrize("maximize", [False, True])
@pytest.mark.parametrize("beta1,amsgrad", [(0.9, False), (0.0, False), (0.3, False), (0.9, True)])
def test_the_compiled_update_is_the_numpy_update_to_the_bit(dtype, shape, weight_decay, decoupled, maximize, beta1,
                                                            amsgrad):
    options = dict(lr=3e-3, beta1=beta1, beta2=0.99, eps=1e-8, weight_decay=weight_decay, amsgrad=amsgrad,
                   maximize=maximize, decoupled_weight_decay=decoupled)
    fast = _run("numba", shape, dtype, 6, **options)
    plain = _run("numpy", shape, dtype, 6, **options)
    for a, b in zip(fast, plain):
        assert a.dtype == dtype
        np.testing.assert_array_equal(a, b)


def test_the_compiled_update_runs_where_it_applies():
    """Contiguous arrays of one float dtype under the numba kernel; anything else takes NumPy."""
    a = np.zeros((4, 8), np.float32)
    with kernels.use("numba"):
        assert adam_module._compiled(a, a.copy(), a.copy(), a.copy()) is not None
        assert adam_module._compiled(a, a.T, a.copy(), a.copy()) is None  # a transposed gradient
        assert adam_module._compiled(a, a.astype(np.float64), a.copy(), a.copy()) is None
        assert adam_module._compiled(*[np.zeros(3, np.int64)] * 4) is None
    with kernels.use("numpy"):
        assert adam_module._compiled(a, a.copy(), a.copy(), a.copy()) is None
