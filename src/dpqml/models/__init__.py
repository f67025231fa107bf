"""dpqml.models: encodings, ansätze, readouts, heads and hybrid models.

``build_model(qubits=4, layers=2)`` gives the standard model (RY(x) angle encoding, ``hea``
layers, ``<Z_0>`` readout, binary head); :class:`QuantumModel` is a pure function of
``(params, x)`` with parameters in a pytree.
"""

from .ansatze import ANSATZE, ansatz, hea_layer, strongly_entangling_layer
from .encodings import ENCODINGS, angle_encoding
from .hybrid import LOSSES, MODEL_ANSATZE, ModelSpec, QuantumModel, build_model
from .noise import NOISE_PRESETS, apply_noise, parse_noise
from .readouts import READOUTS, readout
from .standard import standard_circuit

__all__ = [
    "ANSATZE",
    "ENCODINGS",
    "LOSSES",
    "MODEL_ANSATZE",
    "NOISE_PRESETS",
    "READOUTS",
    "ModelSpec",
    "QuantumModel",
    "angle_encoding",
    "ansatz",
    "apply_noise",
    "build_model",
    "hea_layer",
    "parse_noise",
    "readout",
    "standard_circuit",
    "strongly_entangling_layer",
]
