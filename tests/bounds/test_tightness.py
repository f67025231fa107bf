"""Tightness: adversarial search (gradient ascent over inputs, angles, head offset and labels)
reaches at least half of G for the standard model (the tightness target; the full table for
n <= 6, L <= 4 and every ansatz is in docs/bounds.md), and never exceeds it."""

import pytest

from dpqml.bounds import gradient_bound
from dpqml.bounds.search import largest_gradient_norm
from dpqml.models import build_model


@pytest.mark.parametrize("qubits,layers", [(2, 2), (3, 2), (4, 1)])
def test_standard_model_search_reaches_half_of_the_bound(qubits, layers):
    model = build_model(qubits=qubits, layers=layers)
    g = gradient_bound(model).total
    found = largest_gradient_norm(model, starts=6, steps=80)
    assert g / 2 <= found <= g * (1 + 1e-9)
