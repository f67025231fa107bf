"""dpqml.interop: circuits from and to the tools users already have.

* :func:`from_pennylane`: a PennyLane QNode as a dpqml :class:`~dpqml.quantum.Circuit`
  (:mod:`.pennylane`), with :func:`flatten_weights` for its parameter vector.
"""

from .pennylane import flatten_weights, from_pennylane

__all__ = ["flatten_weights", "from_pennylane"]
