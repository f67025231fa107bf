"""Tensor kernels: apply gates and Pauli strings to one state tensor.

A pure state of n qubits is a complex tensor of shape ``(2,) * n`` (axis ``w`` is wire
``w``); a density matrix is a tensor of shape ``(2,) * (2n)`` (row axes ``0..n-1``, column
axes ``n..2n-1``). Kernels act on a single example and are batched with ``jax.vmap``.

Single-qubit matrices are applied elementwise (two slices, four multiply-adds, one stack)
rather than through ``dot_general``: XLA fuses those into one loop over the state, which is
what makes small circuits fast on the CPU; permutations (CNOT, SWAP) are pure data
movement and diagonal gates (CZ, Z-strings) are sign multiplications.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax import lax


def apply_1q(psi, u, axis: int):
    """``u`` (2x2) on ``axis`` of ``psi``."""
    a0 = lax.index_in_dim(psi, 0, axis, keepdims=False)
    a1 = lax.index_in_dim(psi, 1, axis, keepdims=False)
    return jnp.stack([u[0, 0] * a0 + u[0, 1] * a1, u[1, 0] * a0 + u[1, 1] * a1], axis=axis)


def small_matmul(a, b):
    """``a @ b`` for stacks of small matrices (2x2, 4x4) as a broadcast product and a sum: XLA
    fuses it into one loop, where a batched ``dot`` of tiny matrices costs tens of microseconds."""
    return jnp.sum(a[..., :, :, None] * b[..., None, :, :], axis=-2)


def contiguous(axes) -> bool:
    """Whether ``axes`` are adjacent and ascending (a free reshape groups them)."""
    return all(b == a + 1 for a, b in zip(axes, axes[1:]))


def _three_way(psi, axes):
    """``psi`` as ``(before, 2**k, after)`` for contiguous ascending ``axes`` (a free reshape)."""
    k = len(axes)
    return psi.reshape(2 ** axes[0], 2**k, -1)


def kron_vectors(vecs: list):
    """``vecs[0] ⊗ vecs[1] ⊗ …`` along the first axis (wire 0 the most significant), one outer
    product per factor; trailing axes (a batch) are carried along: ``(a, *rest)`` and
    ``(b, *rest)`` give ``(a·b, *rest)``."""
    out = vecs[0]
    for v in vecs[1:]:
        out = (out[:, None] * v[None, :]).reshape((-1,) + out.shape[1:])
    return out


def kron_wires(mats: list):
    """Kronecker product over wires (wire 0 the most significant) of ``(..., 2, 2)`` arrays with
    broadcastable leading shapes, as one broadcast product (no transposes): ``(..., 2**n, 2**n)``."""
    n = len(mats)
    lead = jnp.broadcast_shapes(*(m.shape[:-2] for m in mats))
    out = None
    for w, m in enumerate(mats):
        shape = [1] * (2 * n)
        shape[w] = shape[n + w] = 2
        t = jnp.broadcast_to(m, lead + (2, 2)).reshape(lead + tuple(shape))
        out = t if out is None else out * t
    return out.reshape(lead + (2**n, 2**n))


def apply_matrix(psi, u, axes: tuple[int, ...]):
    """A ``(2**k, 2**k)`` matrix on ``axes`` (first axis = most significant bit)."""
    if len(axes) == 1:
        return apply_1q(psi, u, axes[0])
    k = len(axes)
    if contiguous(axes):  # adjacent axes: one contraction on a free reshape, no transposes
        return jnp.einsum("ij,ajb->aib", u, _three_way(psi, axes)).reshape(psi.shape)
    moved = jnp.moveaxis(psi, axes, tuple(range(k)))
    shape = moved.shape
    out = (u @ moved.reshape(2**k, -1)).reshape(shape)
    return jnp.moveaxis(out, tuple(range(k)), axes)


def reduce_outer(mu, psi, axes: tuple[int, ...]):
    """``M[a, b] = sum_rest mu[a, rest] * psi[b, rest]`` over ``axes`` (a 2**k x 2**k matrix).

    The adjoint method passes ``mu = conj(lambda)``, which it carries instead of ``lambda`` so that
    no conjugated copy of a state is made before the contraction."""
    k = len(axes)
    if k == 1:
        # four sums XLA fuses into one pass (no transposes, no dot call)
        mus = [lax.index_in_dim(mu, i, axes[0], keepdims=False) for i in (0, 1)]
        ps = [lax.index_in_dim(psi, i, axes[0], keepdims=False) for i in (0, 1)]
        return jnp.stack([jnp.stack([jnp.sum(mus[a] * ps[b]) for b in (0, 1)]) for a in (0, 1)])
    if contiguous(axes):
        return jnp.einsum("xay,xby->ab", _three_way(mu, axes), _three_way(psi, axes))
    mm = jnp.moveaxis(mu, axes, tuple(range(k))).reshape(2**k, -1)
    pm = jnp.moveaxis(psi, axes, tuple(range(k))).reshape(2**k, -1)
    return mm @ pm.T


def apply_cnot(psi, control: int, target: int):
    """CNOT: flip ``target`` where ``control`` is 1 (a permutation)."""
    p0 = lax.index_in_dim(psi, 0, control, keepdims=False)
    p1 = lax.index_in_dim(psi, 1, control, keepdims=False)
    t = target if target < control else target - 1
    return jnp.stack([p0, jnp.flip(p1, axis=t)], axis=control)


def _axis_vector(values, axis: int, ndim: int, dtype):
    shape = [1] * ndim
    shape[axis] = 2
    return jnp.asarray(np.asarray(values).reshape(shape), dtype=dtype)


def apply_cz(psi, a: int, b: int):
    """CZ: sign -1 on ``|11>`` of axes ``a, b``."""
    shape = [1] * psi.ndim
    shape[a] = shape[b] = 2
    sign = np.ones((2, 2))
    sign[1, 1] = -1
    order = (a, b) if a < b else (b, a)
    s = sign if order == (a, b) else sign.T
    return psi * jnp.asarray(s.reshape(shape), dtype=psi.dtype)


def apply_swap(psi, a: int, b: int):
    return jnp.swapaxes(psi, a, b)


def apply_pauli_string(psi, factors):
    """``P psi`` for a Pauli string given as ``((axis, letter), ...)``."""
    for axis, letter in factors:
        if letter == "X":
            psi = jnp.flip(psi, axis=axis)
        elif letter == "Z":
            psi = psi * _axis_vector([1.0, -1.0], axis, psi.ndim, psi.dtype)
        elif letter == "Y":
            # (Y psi)[0] = -i psi[1], (Y psi)[1] = i psi[0]
            psi = jnp.flip(psi, axis=axis) * _axis_vector([-1j, 1j], axis, psi.ndim, psi.dtype)
    return psi


def z_signs(axes, ndim: int, dtype):
    """The ``±1`` eigenvalue tensor of ``Z⊗...⊗Z`` on ``axes``, broadcastable to ``(2,)*ndim``."""
    out = jnp.ones((1,) * ndim, dtype=dtype)
    for axis in axes:
        out = out * _axis_vector([1.0, -1.0], axis, ndim, dtype)
    return out


def apply_pauli_rotation(psi, angle, factors):
    """``exp(-i angle P / 2) psi = cos(angle/2) psi - i sin(angle/2) P psi``."""
    c = jnp.cos(angle / 2).astype(psi.dtype)
    s = jnp.sin(angle / 2).astype(psi.dtype)
    return c * psi - 1j * s * apply_pauli_string(psi, factors)


def apply_permutation(psi, perm, axes=None):
    """``psi'[i] = psi[perm[i]]`` on the flattened basis index of ``axes`` (all axes by default).

    For a density matrix, call once for the row axes and once for the column axes.
    """
    if axes is None:
        return psi.reshape(-1)[perm].reshape(psi.shape)
    k = len(axes)
    moved = jnp.moveaxis(psi, axes, tuple(range(k)))
    shape = moved.shape
    out = moved.reshape(2**k, -1)[perm].reshape(shape)
    return jnp.moveaxis(out, tuple(range(k)), axes)


# ---------------------------------------------------------------------------------------
# real layout: a state as a real tensor of shape ``(2,)*n + (2,)`` (real and imaginary parts
# interleaved). A matrix on adjacent axes is then one real matrix product with the
# ``(2D, 2D)`` real form of the complex ``(D, D)`` matrix, which XLA:CPU runs about twice as
# fast as the complex product (docs/engine.md).
def to_real(psi):
    """Complex state -> real layout (one fused pass)."""
    return jnp.stack([jnp.real(psi), jnp.imag(psi)], axis=-1)


def to_complex(r):
    """Real layout -> complex state (one fused pass)."""
    return lax.complex(r[..., 0], r[..., 1])


def real_form(u):
    """The ``(2D, 2D)`` real matrix acting on interleaved ``(index, re/im)`` pairs as ``u`` does."""
    d = u.shape[-1]
    ur, ui = jnp.real(u), jnp.imag(u)
    return jnp.stack([jnp.stack([ur, -ui], -1), jnp.stack([ui, ur], -1)], 1).reshape(2 * d, 2 * d)


def real_block(m):
    """``[[Re m, Im m], [−Im m, Re m]]`` ``(..., 2r, 2c)`` for a complex ``(..., r, c)`` matrix: the
    block form for rows laid out in halves, ``[Re y | Im y]`` (not the interleaved layout above).
    ``[Re y | Im y] @ real_block(m) = [Re ym | Im ym]`` and ``real_block(a) @ real_block(b) =
    real_block(ab)``, so chains of complex products run as real ones."""
    re, im = jnp.real(m), jnp.imag(m)
    return jnp.concatenate([jnp.concatenate([re, im], -1), jnp.concatenate([-im, re], -1)], -2)


def _group_last(r, axes):
    """``r`` (real layout) as ``(rows, 2**(k+1))`` with the adjacent ``axes`` and re/im last."""
    n = r.ndim - 1
    a, b = 2 ** axes[0], 2 ** (n - axes[-1] - 1)
    x = r.reshape(a, 2 ** len(axes), b, 2)
    if b > 1:
        x = jnp.swapaxes(x, 1, 2)
    return x.reshape(-1, 2 ** (len(axes) + 1))


def apply_matrix_real(r, m, axes: tuple[int, ...]):
    """The real form ``m`` of a matrix on adjacent ``axes`` of ``r`` (real layout)."""
    n = r.ndim - 1
    k = len(axes)
    a, b = 2 ** axes[0], 2 ** (n - axes[-1] - 1)
    y = (_group_last(r, axes) @ m.T).reshape(a, b, 2**k, 2)
    if b > 1:
        y = jnp.swapaxes(y, 1, 2)
    return y.reshape(r.shape)


def reduce_outer_real(mu, psi, axes: tuple[int, ...]):
    """:func:`reduce_outer` of two real-layout states on adjacent ``axes``: a complex matrix."""
    d = 2 ** len(axes)
    t = (_group_last(mu, axes).T @ _group_last(psi, axes)).reshape(d, 2, d, 2)
    return lax.complex(t[:, 0, :, 0] - t[:, 1, :, 1], t[:, 0, :, 1] + t[:, 1, :, 0])
