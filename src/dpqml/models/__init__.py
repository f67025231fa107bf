"""dpqml.models: encodings, ansätze, readouts, heads and hybrid models."""

from .ansatze import ANSATZE, ansatz, hea_layer, strongly_entangling_layer
from .standard import standard_circuit

__all__ = ["ANSATZE", "ansatz", "hea_layer", "standard_circuit", "strongly_entangling_layer"]
