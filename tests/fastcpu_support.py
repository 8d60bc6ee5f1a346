"""Helpers shared by the fast-CPU tests: compare a fastcpu function with Chainer's."""
import chainer
import numpy


def ids(cases):
    return [case[0] for case in cases]


def assert_close(actual, expected, rtol=1e-4):
    expected = numpy.asarray(expected)
    atol = rtol * (1.0 + float(numpy.abs(expected).max()))
    numpy.testing.assert_allclose(numpy.asarray(actual), expected, rtol=rtol, atol=atol)


def distinct_values(shape, rng, dtype):
    """Inputs whose entries differ by >= 0.5, so max pooling has no ties."""
    values = rng.permutation(int(numpy.prod(shape))).astype(dtype) * 0.5
    return values.reshape(shape) - values.mean()


def compare_with_chainer(fast_fn, stock_fn, arrays, seed=0):
    """Forward and backward of both on copies of ``arrays``; outputs and grads agree."""
    rng = numpy.random.RandomState(seed)
    fast_vars = [chainer.Variable(a.copy()) for a in arrays]
    stock_vars = [chainer.Variable(a.copy()) for a in arrays]
    y_fast, y_stock = fast_fn(*fast_vars), stock_fn(*stock_vars)
    assert y_fast.shape == y_stock.shape
    assert y_fast.dtype == y_stock.dtype
    assert_close(y_fast.array, y_stock.array)
    gy = rng.standard_normal(y_stock.shape).astype(y_stock.dtype)
    y_fast.grad, y_stock.grad = gy.copy(), gy.copy()
    y_fast.backward()
    y_stock.backward()
    for fast_var, stock_var in zip(fast_vars, stock_vars):
        assert fast_var.grad.shape == stock_var.grad.shape
        assert_close(fast_var.grad, stock_var.grad)


def conv_arrays(c_in, c_out, size, ksize, dtype, n=2, seed=0):
    rng = numpy.random.RandomState(seed)
    x = rng.standard_normal((n, c_in, size, size)).astype(dtype)
    W = (rng.standard_normal((c_out, c_in, ksize, ksize)) /
         numpy.sqrt(c_in * ksize * ksize)).astype(dtype)
    b = rng.standard_normal(c_out).astype(dtype)
    return x, W, b


# --- convolution ----------------------------------------------------------
