"""dpqml.models: encodings, ansätze, readouts, heads and hybrid models.

``build_model(qubits=4, layers=2)`` gives the standard model (RY(x) angle encoding, ``hea``
layers, ``<Z_0>`` readout, binary head); :class:`QuantumModel` is a pure function of
``(params, x)`` with parameters in a pytree. Classical baselines with the same interface
(:class:`LogisticRegression`, :class:`MLP`, :class:`CNN`, ``build_classical``) live in
:mod:`dpqml.models.classical`. The paper's three tabular models (:class:`PaperQuantumModel`,
:func:`paper_mlp`, :class:`LipschitzMLP`; ``build_paper_model``) live in
:mod:`dpqml.models.paper` and :mod:`dpqml.models.lipschitz`.
"""

from .ansatze import ANSATZE, ansatz, hea_layer, strongly_entangling_layer
from .classical import (
    CLASSICAL_MODELS,
    CNN,
    MLP,
    LogisticRegression,
    build_classical,
    per_example_loss,
)
from .encodings import ENCODINGS, angle_encoding
from .hybrid import LOSSES, MODEL_ANSATZE, ModelSpec, QuantumModel, build_model
from .lipschitz import LipschitzMLP
from .noise import NOISE_PRESETS, apply_noise, parse_noise
from .paper import (
    PAPER_FAMILIES,
    PaperQuantumModel,
    build_paper_model,
    paper_layer_count,
    paper_lipschitz,
    paper_mlp,
)
from .readouts import READOUTS, readout
from .standard import standard_circuit

__all__ = [
    "ANSATZE",
    "CLASSICAL_MODELS",
    "CNN",
    "ENCODINGS",
    "LOSSES",
    "MLP",
    "MODEL_ANSATZE",
    "NOISE_PRESETS",
    "PAPER_FAMILIES",
    "READOUTS",
    "LipschitzMLP",
    "LogisticRegression",
    "ModelSpec",
    "PaperQuantumModel",
    "QuantumModel",
    "angle_encoding",
    "ansatz",
    "apply_noise",
    "build_classical",
    "build_model",
    "build_paper_model",
    "hea_layer",
    "paper_layer_count",
    "paper_lipschitz",
    "paper_mlp",
    "parse_noise",
    "per_example_loss",
    "readout",
    "standard_circuit",
    "strongly_entangling_layer",
]
