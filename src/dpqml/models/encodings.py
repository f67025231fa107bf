"""Encodings: how classical features enter the circuit.

``angle-y`` (also ``angle-x``, ``angle-z``): feature ``x_i`` becomes the angle of one rotation
on qubit ``i``, ``R(scale * x_i + offset)`` with the fixed, data-independent map
``scale = 1``, ``offset = 0`` by default (features are taken to be angles in radians;
``dpqml.data`` maps raw features to ``[0, π]`` with fixed transforms). With ``trainable=True``
the angle is ``theta[w_i] * x_i + theta[b_i]`` (a trainable encoding, as in data
re-uploading models).

``amplitude``: the features, zero-padded to ``2**n`` entries and divided by their norm,
are the initial state (no gates). Needs ``n_features <= 2**n_qubits`` and a non-zero vector.
"""

from __future__ import annotations

from ..quantum import Angle, Operation

ENCODINGS = ("angle-y", "angle-x", "angle-z", "amplitude")


def angle_encoding(
    n_features: int,
    rotation: str = "Y",
    *,
    scale: float = 1.0,
    offset: float = 0.0,
    trainable: bool = False,
    weight_offset: int = 0,
) -> tuple[list[Operation], int]:
    """``R_rotation(scale * x_i + offset)`` on qubit ``i`` for ``i < n_features``.

    With ``trainable=True`` the angle is ``theta[k] * scale * x_i + theta[k + 1] + offset``
    with ``k = weight_offset + 2 i``. Returns ``(operations, n_params_used)``.
    """
    if rotation not in ("X", "Y", "Z"):
        raise ValueError(f"rotation must be 'X', 'Y' or 'Z'; got {rotation!r}")
    ops = []
    for i in range(n_features):
        if trainable:
            k = weight_offset + 2 * i
            a = Angle(feature=i, scale=scale, feature_weight=k, weight=k + 1, offset=offset)
        else:
            a = Angle(feature=i, scale=scale, offset=offset)
        ops.append(Operation(f"R{rotation}", (i,), (a,)))
    return ops, (2 * n_features if trainable else 0)
