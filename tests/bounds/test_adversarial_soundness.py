"""Adversarial soundness: gradient ascent over inputs, angles, head offset and labels, the
strongest search we have, never finds a per-example gradient norm above G."""

import numpy as np
import pytest

from dpqml.bounds import gradient_bound
from dpqml.bounds.search import largest_gradient_norm
from dpqml.models import build_model


@pytest.mark.parametrize("flags", [
    {"qubits": 2, "layers": 1, "ansatz": "reuploading"},
    {"qubits": 2, "layers": 1, "noise": "depolarizing:0.05+readout:0.05", "readout": "z"},
])
def test_adversarial_search_stays_below_the_bound(flags):
    model = build_model(**flags)
    g = gradient_bound(model, feature_bound=np.pi).total
    assert largest_gradient_norm(model, starts=6, steps=60) <= g * (1 + 1e-9)
