"""Full-precision matrix products in every simulation, on every backend.

XLA's default for ``float32`` matrix products on NVIDIA GPUs since Ampere (A100, H100, H200) is
TensorFloat-32: the operands are rounded to a 10-bit mantissa, a relative error of about ``5e-4``
per product where ``float32`` has ``6e-8`` (jax-ml/jax#12008, #14022). A circuit is a chain of such
products, so under that default expectation values and per-example gradients on a GPU would carry
that rounding, while the same code on a CPU is exact to ``float32``; and the rounding
margins of the gradient-norm bounds (:data:`dpqml.bounds.compiled.FORM_MARGIN`,
:data:`dpqml.bounds.parametric.SAFETY_MARGIN`) and the Cholesky certificate's error term assume
``float32``'s unit roundoff.

So dpqml traces its simulations under ``jax.default_matmul_precision("highest")``
(:func:`exact_products`): every product the simulator emits carries ``precision=HIGHEST``, which
is full ``float32`` (or ``float64``) arithmetic on every backend. It is set while dpqml's own
functions are traced and nowhere else: the caller's global setting is left alone, and products the
caller writes around a simulation (a classical head, a loss) keep the caller's precision.

On the CPU this changes nothing but an attribute: XLA:CPU computes ``float32`` products in
``float32`` either way, and the optimised programs differ only in ``operand_precision`` (checked
on the Heisenberg picture's n=4 program). ``tests/quantum/test_precision.py`` checks that every
product of every method, forward and backward, carries it.

Differentiation traces a ``custom_vjp``'s forward and backward rules after the wrapped function
has returned (with the adjoint's forward rule unwrapped, ``jax.grad`` of it emits products at the
default precision), so both rules are wrapped too.
"""

from __future__ import annotations

import functools

import jax

#: The matrix-product precision of dpqml's simulations and bounds (``jax.default_matmul_precision``).
PRECISION = "highest"


def exact_products(fn):
    """``fn``, with every matrix product it traces at :data:`PRECISION` (full precision on every
    backend). The setting holds while ``fn`` runs (under ``jit``: while it is traced) and is
    restored afterwards."""

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        with jax.default_matmul_precision(PRECISION):
            return fn(*args, **kwargs)

    return wrapped
