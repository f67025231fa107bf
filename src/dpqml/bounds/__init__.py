"""dpqml.bounds: data-free bounds on per-example gradient norms of quantum models.

``gradient_bound(model)`` returns a :class:`Bound` ``G ≥ ‖∇ℓ(x, y)‖₂`` for every input in the
declared feature domain and every label, computed from the circuit description alone (no
data, so choosing the clip norm ``C = G`` costs no privacy budget). Derivation:
``docs/bounds.md``.
"""

from .circuit import parameter_bounds, slot_bounds, term_slot_bounds
from .model import Bound, circuit_bound, gradient_bound
from .parametric import parameter_bound

__all__ = ["Bound", "circuit_bound", "gradient_bound", "parameter_bound", "parameter_bounds", "slot_bounds",
           "term_slot_bounds"]
