"""Finite-shot per-example gradients by the parameter-shift rule: the path real hardware takes.

On a device, an expectation value ``f = <O>`` is only known from ``shots`` measurement samples,
and its derivative in a gate angle comes from evaluating the same circuit at shifted angles.
Here every circuit expectation — the forward value and every shifted value — is a fresh
finite-shot estimate (:func:`dpqml.quantum.sample_expectations`, each evaluation with its own
PRNG key, so the estimates are independent), and the classical parts (``pre`` layers, the
head ``a·<O> + b``, ``post`` layers, the loss) are differentiated exactly by the chain rule at
the *estimated* expectation values, as hardware training does. Noise channels stay in the
circuit (density matrices); shots come on top.

Shift rules (per *occurrence*: one angle slot of one gate):

* ``RX RY RZ PauliRot`` and each of the three angles of ``Rot`` (= ``RZ·RY·RZ``) are
  ``exp(-i a P / 2)`` with ``P² = I``, so ``f(a) = α + β cos a + γ sin a`` and the two-term rule
  ``∂f/∂a = [f(a + π/2) − f(a − π/2)] / 2`` is exact (Mitarai et al. 2018; Schuld et al. 2019,
  "Evaluating analytic gradients on quantum hardware"), with or without noise channels.
* ``CRX CRY CRZ`` have generator ``|1⟩⟨1| ⊗ P / 2`` with eigenvalues ``{0, ±1/2}``, so ``f`` has
  frequencies ``{1/2, 1}`` and needs the four-term rule
  ``∂f/∂a = c₊[f(a + π/2) − f(a − π/2)] − c₋[f(a + 3π/2) − f(a − 3π/2)]``,
  ``c± = (√2 ± 1) / (4√2)`` (Anselmetti et al. 2021, "Local, expressive, quantum-number-preserving
  VQE ansätze", eq. (23); PennyLane's recipe for controlled rotations).

An angle is ``a = offset + scale·x_f·θ_u + θ_w`` (:class:`~dpqml.quantum.Angle`). Every occurrence
whose value depends on a trainable parameter is shifted on its own, and the chain rule carries
``∂f/∂a`` to the parameters: ``∂f/∂θ_k = Σ_j ∂f/∂a_j · ∂a_j/∂θ_k`` with ``∂a/∂θ_w = 1`` and
``∂a/∂θ_u = scale·x_f`` (a trainable encoding), so an angle used by ``m`` gates costs ``m``
shifted pairs. With classical ``pre`` layers the features themselves depend on parameters: then
every feature-dependent angle is an occurrence too (``∂a/∂x_f = scale·θ_u``), and an amplitude
encoding of trainable features (no shift rule exists for a state preparation) is refused.

Cost on hardware, per example and step: ``1 + Σ_j r_j`` circuit evaluations (``r_j`` = 2 or 4
terms of occurrence ``j``'s rule), each measured in every *measurement setting* (one per
non-identity Pauli term of the observables, estimated independently as
:func:`~dpqml.quantum.sample_expectations` does) with ``shots`` shots (:class:`ShotCost`).

What is unbiased: the estimate of every ``∂<O>/∂θ`` (a linear combination of unbiased estimates).
The loss gradient multiplies it by ``∂ℓ/∂f`` at the estimated forward value, which is independent
of the shifted estimates; where ``∂ℓ/∂f`` is affine in ``f`` (squared loss; the circuit and
offset gradients under a linear head) the product is unbiased too, otherwise its bias is
``O(1/shots)``, as on hardware.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from weakref import WeakKeyDictionary

import jax
import jax.numpy as jnp
import numpy as np

from ..models.hybrid import QuantumModel
from ..models.task import per_example_loss
from ..quantum import Angle, Circuit, Operation, expectations, sample_expectations
from ..quantum.program import angle_tables, angle_values
from ..validation import check_count
from .sampled import sampled_grads

_C_PLUS = (np.sqrt(2.0) + 1.0) / (4.0 * np.sqrt(2.0))
_C_MINUS = (np.sqrt(2.0) - 1.0) / (4.0 * np.sqrt(2.0))

#: Shift rules as ``((shift, coefficient), ...)``: ``∂f/∂a = Σ coefficient · f(a + shift)``.
SHIFT_RULES: dict[str, tuple[tuple[float, float], ...]] = {
    "two-term": ((np.pi / 2, 0.5), (-np.pi / 2, -0.5)),
    "four-term": ((np.pi / 2, _C_PLUS), (-np.pi / 2, -_C_PLUS), (3 * np.pi / 2, -_C_MINUS),
                  (-3 * np.pi / 2, _C_MINUS)),
}
#: The rule of each parametrised gate (every angle of ``Rot`` is one Pauli rotation).
GATE_RULES = {"RX": "two-term", "RY": "two-term", "RZ": "two-term", "PauliRot": "two-term", "Rot": "two-term",
              "CRX": "four-term", "CRY": "four-term", "CRZ": "four-term"}


@dataclass(frozen=True)
class Occurrence:
    """One shifted angle: angle ``angle_index`` of operation ``op_index`` (a ``gate``)."""

    op_index: int
    angle_index: int
    gate: str
    angle: Angle
    rule: str


@dataclass(frozen=True, eq=False)
class ShiftPlan:
    """Which angles a circuit's parameter-shift gradient shifts, and how.

    ``shifted`` is the circuit with occurrence ``j``'s angle replaced by the free parameter
    ``φ_j`` (``Angle(weight=j)``), all other angles unchanged: ``f(φ) = <O>`` evaluated at
    ``φ = a(θ, x) + shift`` is the shifted circuit. Evaluation ``0`` is unshifted; evaluation
    ``1 + r`` shifts occurrence ``eval_occurrence[r]`` by ``eval_shift[r]`` with weight
    ``eval_coefficient[r]`` in its rule.
    """

    circuit: Circuit
    shifted: Circuit
    occurrences: tuple[Occurrence, ...]
    trainable_features: bool
    eval_occurrence: np.ndarray  # (n_evaluations - 1,) int
    eval_shift: np.ndarray  # (n_evaluations - 1,)
    eval_coefficient: np.ndarray  # (n_evaluations - 1,)

    @property
    def n_evaluations(self) -> int:
        """Circuit evaluations per example: one unshifted plus one per term of every rule."""
        return 1 + len(self.eval_occurrence)

    @property
    def measurement_settings(self) -> int:
        """Non-identity Pauli terms of the observables, each measured in its own basis."""
        return sum(1 for obs in self.circuit.observables for _, p in obs.terms if p.factors)

    def angles(self, theta, x):
        """Values of the shifted angles, shape ``(n_occurrences,)``, differentiable in ``theta`` and ``x``."""
        tables = angle_tables((o.angle for o in self.occurrences), self.circuit.n_params, self.circuit.n_features)
        return angle_values(theta, x, **tables)


_PLANS: WeakKeyDictionary = WeakKeyDictionary()


def shift_plan(circuit: Circuit, *, trainable_features: bool = False) -> ShiftPlan:
    """The :class:`ShiftPlan` of ``circuit``.

    Args:
        circuit: the circuit whose expectations are differentiated.
        trainable_features: whether the features ``x`` depend on trainable parameters (classical
            ``pre`` layers): then feature-dependent angles are shifted as well.

    Raises:
        ValueError: when a trainable quantity enters in a way no exact shift rule covers (an
            amplitude encoding of trainable features, or a gate without a known rule).
    """
    cache = _PLANS.setdefault(circuit, {})
    if trainable_features in cache:
        return cache[trainable_features]
    if trainable_features and circuit.state_prep == "amplitude":
        raise ValueError("parameter-shift cannot differentiate an amplitude encoding of trainable features "
                         "(classical 'pre' layers before state_prep='amplitude'): a state preparation has no "
                         "exact shift rule; use an angle encoding, or drop the 'pre' layers")
    occurrences, ops = [], []
    for i, op in enumerate(circuit.operations):
        angles = list(op.angles)
        for j, a in enumerate(op.angles):
            if not (a.weights or (trainable_features and a.feature is not None)):
                continue
            if op.name not in GATE_RULES:  # pragma: no cover - every parametrised gate has a rule today
                raise ValueError(f"parameter-shift has no exact rule for a trainable angle of {op.name} "
                                 f"(operation {i}); gates with rules: {sorted(GATE_RULES)}")
            angles[j] = Angle(weight=len(occurrences))
            occurrences.append(Occurrence(i, j, op.name, a, GATE_RULES[op.name]))
        ops.append(op if angles == list(op.angles) else
                   Operation(op.name, op.wires, tuple(angles), pauli=op.pauli, matrix=op.matrix, prob=op.prob))
    shifted = Circuit(circuit.n_qubits, ops, circuit.observables, n_params=len(occurrences),
                      n_features=circuit.n_features, state_prep=circuit.state_prep, meta=dict(circuit.meta))
    rows = [(j, s, c) for j, o in enumerate(occurrences) for s, c in SHIFT_RULES[o.rule]]
    plan = ShiftPlan(
        circuit=circuit, shifted=shifted, occurrences=tuple(occurrences), trainable_features=trainable_features,
        eval_occurrence=np.array([r[0] for r in rows], np.int32),
        eval_shift=np.array([r[1] for r in rows], np.float64),
        eval_coefficient=np.array([r[2] for r in rows], np.float64),
    )
    cache[trainable_features] = plan
    return plan


def check_shots(shots) -> int:
    """``shots`` as an int, or a ValueError naming it (an integer >= 1)."""
    return check_count(shots, "shots", minimum=1, what="measurement samples per circuit evaluation")


def shot_estimator(plan: ShiftPlan, shots: int | None):
    """``estimate(phi, x, key) -> <O>`` estimates ``(n_observables,)`` from ``shots`` samples (``None``:
    exact expectation values, the rule's infinite-shot limit; ``key`` is then unused), at the
    shifted circuit's angles ``phi`` (:meth:`ShiftPlan.angles`), whose reverse-mode derivative is the
    parameter-shift estimate: ``vjp(g) = Ĵᵀ g`` with ``Ĵ[k, j] = Σ_r c_r f̂_k(phi + s_r e_j)``.

    ``key`` is split into ``plan.n_evaluations`` keys, one per circuit evaluation (evaluation 0,
    the forward value, is the same whether or not a gradient is taken). ``x`` gets no cotangent:
    every angle that depends on something trainable is in ``phi``.
    """
    shots = None if shots is None else check_shots(shots)
    circuit = plan.shifted
    n_occ = len(plan.occurrences)
    occ = plan.eval_occurrence
    n_rows = len(occ)
    displacement = np.zeros((n_rows, n_occ))
    displacement[np.arange(n_rows), occ] = plan.eval_shift

    def sample(phi, x, key):
        if shots is None:  # exact values at each shifted point: the derivative comes from the rule alone
            return jax.lax.stop_gradient(expectations(circuit, phi, x, method="backprop"))
        return sample_expectations(circuit, phi, x, shots=shots, key=key)

    def forward_and_jacobian(phi, x, key):
        keys = jax.random.split(key, plan.n_evaluations)
        points = jnp.concatenate([phi[None], phi[None] + jnp.asarray(displacement, phi.dtype)])
        values = jax.vmap(sample, in_axes=(0, None, 0))(points, x, keys)  # (n_evaluations, n_obs)
        weighted = jnp.asarray(plan.eval_coefficient, values.dtype)[:, None] * values[1:]
        jac = jax.ops.segment_sum(weighted, occ, num_segments=n_occ)  # (n_occ, n_obs): ∂f_k/∂phi_j
        return values[0], jac

    @jax.custom_vjp
    def estimate(phi, x, key):
        return sample(phi, x, jax.random.split(key, plan.n_evaluations)[0])

    def fwd(phi, x, key):
        return forward_and_jacobian(phi, x, key)

    def bwd(jac, g):
        return jac @ g.astype(jac.dtype), None, None

    estimate.defvjp(fwd, bwd)
    return estimate


def parameter_shift_jacobian(circuit: Circuit, theta, x=None, *, shots: int | None, key=None):
    """Finite-shot estimates of ``<O_k>`` and of ``∂<O_k>/∂θ`` for one example by the parameter-shift
    rule (``shots=None``: the exact rule, every shifted circuit's exact value).

    Args:
        circuit: any circuit (noise channels and readout errors included).
        theta: trainable angles ``(n_params,)``; x: features ``(n_features,)`` (or None).
        shots: measurement samples per circuit evaluation and Pauli term (integer >= 1), or
            ``None`` for exact values.
        key: a ``jax.random`` key; the evaluations draw from independent keys split from it
            (required with shots; unused without).

    Returns:
        ``(values (n_observables,), jacobian (n_observables, n_params))``.
    """
    if shots is not None:
        shots = check_shots(shots)
        if key is None:
            raise ValueError("parameter_shift_jacobian with shots needs key (a jax.random key for the samples)")
    else:
        key = jax.random.PRNGKey(0)  # unused by the exact rule
    plan = shift_plan(circuit)
    theta = jnp.asarray(theta)
    if not jnp.issubdtype(theta.dtype, jnp.floating):
        theta = theta.astype(jnp.result_type(float))
    if theta.shape != (circuit.n_params,):
        raise ValueError(f"theta must have shape ({circuit.n_params},); got {theta.shape}")
    x = jnp.zeros((circuit.n_features,), theta.dtype) if x is None else jnp.asarray(x, theta.dtype)
    return _compiled_jacobian(plan, shots)(theta, x, key)


_JACOBIANS: WeakKeyDictionary = WeakKeyDictionary()


def _compiled_jacobian(plan: ShiftPlan, shots: int | None):
    """``f(theta, x, key) -> (values, jacobian)``, compiled once per plan and shot count (called in a
    loop, :func:`parameter_shift_jacobian` would otherwise trace and dispatch every evaluation anew)."""
    cache = _JACOBIANS.setdefault(plan, {})
    if shots not in cache:
        estimate = shot_estimator(plan, shots)

        @jax.jit
        def jacobian(theta, x, key):
            values, pullback = jax.vjp(lambda t: estimate(plan.angles(t, x), x, key), theta)
            return values, jax.vmap(lambda g: pullback(g)[0])(jnp.eye(values.shape[0], dtype=values.dtype))

        cache[shots] = jacobian
    return cache[shots]


# -- models ---------------------------------------------------------------------------------------
def model_plan(model) -> ShiftPlan:
    """The shift plan of a hybrid model's circuit, or a ValueError saying why there is none."""
    if not isinstance(model, QuantumModel):
        raise ValueError(f"parameter-shift gradients need a quantum model with a circuit (dpqml.build_model); "
                         f"got {type(model).__name__}, which has no circuit: use method='vmap' for it")
    return shift_plan(model.circuit, trainable_features=bool(model.pre))


def shot_loss(model: QuantumModel, shots: int, loss: str | None = None):
    """``loss_fn(params, x, y, key)``: the loss of ONE example with the circuit's expectations
    estimated from ``shots`` samples; ``jax.grad`` of it is the parameter-shift gradient."""
    plan = model_plan(model)
    estimate = shot_estimator(plan, shots)
    loss_name = loss or model.default_loss

    def loss_fn(params, x, y, key):
        xc = model.circuit_inputs(params, x)
        f = estimate(plan.angles(params["theta"], xc), xc, key)
        return per_example_loss(model.from_expectations(params, f), y, loss_name, model.task)

    return loss_fn


def make_parameter_shift_grads(model: QuantumModel, shots: int, loss: str | None = None):
    """A jitted ``f(params, x (B, d), y (B,), key) -> (losses (B,), grads)``: per-example losses and
    parameter-shift gradients of a batch (every leaf of ``grads`` with a leading axis ``B``).

    Example ``i`` draws from :func:`~dpqml.engine.sampled.content_key` ``(key, x_i, y_i)`` (a hash of
    its own bits, not its position in the batch: see :mod:`.sampled`); its circuit evaluations from
    keys split from that.
    """
    loss_fn = shot_loss(model, shots, loss)
    return jax.jit(partial(sampled_grads, loss_fn))


# -- cost on hardware -----------------------------------------------------------------------------
@dataclass(frozen=True)
class ShotCost:
    """What one example's gradient costs on hardware.

    Attributes:
        shots: samples per circuit execution.
        circuit_evaluations: ``1 + Σ_j r_j`` distinct parameter settings (the unshifted circuit and
            ``r_j`` = 2 or 4 shifted ones per shifted angle occurrence ``j``).
        measurement_settings: non-identity Pauli terms of the observables; each is measured in its own
            basis from its own ``shots`` samples (grouping commuting terms would need fewer).
        shifted_angles: shifted angle occurrences.
    """

    shots: int
    circuit_evaluations: int
    measurement_settings: int
    shifted_angles: int

    @property
    def executions_per_example(self) -> int:
        """Circuit executions (one parameter setting, one measurement basis, ``shots`` samples)."""
        return self.circuit_evaluations * self.measurement_settings

    @property
    def shots_per_example(self) -> int:
        return self.executions_per_example * self.shots

    def to_dict(self) -> dict:
        return {"shots": self.shots, "circuit_evaluations": self.circuit_evaluations,
                "measurement_settings": self.measurement_settings, "shifted_angles": self.shifted_angles,
                "executions_per_example": self.executions_per_example, "shots_per_example": self.shots_per_example}


def parameter_shift_cost(model: QuantumModel, shots: int) -> ShotCost:
    """The hardware cost of one example's parameter-shift gradient (:class:`ShotCost`)."""
    shots = check_shots(shots)
    plan = model_plan(model)
    return ShotCost(shots=shots, circuit_evaluations=plan.n_evaluations,
                    measurement_settings=plan.measurement_settings, shifted_angles=len(plan.occurrences))
