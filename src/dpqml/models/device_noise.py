"""``--noise device:<name>``: the NISQ preset with a real device's calibration, per qubit.

The calibration snapshots are the ones ``qiskit-ibm-runtime``'s fake backends ship offline
(``pip install 'dpqml[qiskit]'``; ``device:manila`` or ``device:fake_manila``; :func:`device_names`
lists them). From a snapshot (:func:`device_snapshot`) the preset takes, per qubit ``w``: T1 and
T2 (with T2 capped at 2·T1, the physical limit some snapshots exceed), the duration and error of
the native single-qubit gate (``sx``) on ``w``, the readout error of ``w``; and per coupled pair
the duration and error of the native two-qubit gate (``cx``, ``ecr`` or ``cz``).

After every gate of the circuit, on each of its wires, it applies what the NISQ preset applies
(:mod:`.noise`): thermal relaxation for the gate's duration (amplitude damping then phase damping
from that wire's T1 and T2), then depolarizing noise from the gate error ``r``: ``p = 3r/2`` for a
one-qubit gate (a depolarizing channel of strength ``p`` has average gate infidelity ``2p/3``) and
``p = 3r/4`` on each wire of a two-qubit gate (two such channels: infidelity ``≈ 4p/3``). The
relaxation is not subtracted from the reported error, so the model errs on the noisy side. A
two-qubit gate on a pair the device does not couple takes the mean over its coupled pairs (the
circuit is not routed). A readout bit flip per qubit ends the circuit. The circuit's wire ``w``
is the device's qubit ``w``.
"""

from __future__ import annotations

import functools

_NATIVE_2Q = ("cx", "ecr", "cz")


def _provider():
    try:
        from qiskit_ibm_runtime.fake_provider import FakeProviderForBackendV2
    except ImportError:
        raise ValueError("--noise device:<name> reads the calibration snapshots of qiskit-ibm-runtime's fake "
                         "backends: pip install 'dpqml[qiskit]'") from None
    return FakeProviderForBackendV2()


@functools.cache
def device_names() -> tuple[str, ...]:
    """The snapshots available (the fake backends' names without ``fake_``)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tuple(sorted(b.name.removeprefix("fake_") for b in _provider().backends()))


@functools.cache
def device_snapshot(name: str) -> dict:
    """The calibration the preset uses (times in microseconds): ``name``, ``backend_version``,
    ``last_update``, ``n_qubits``, per-qubit lists ``t1 t2 time_1q error_1q readout``, the native
    two-qubit gate ``native_2q`` and ``pairs``: ``{(a, b): (time, error)}``."""
    import warnings

    key = name.removeprefix("fake_")
    if key not in device_names():
        raise ValueError(f"unknown device {name!r}; the snapshots available are {list(device_names())}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        backend = next(b for b in _provider().backends() if b.name == f"fake_{key}")
        target = backend.target
        props = backend.properties() if hasattr(backend, "properties") else None
    n = backend.num_qubits
    t1 = [target.qubit_properties[q].t1 * 1e6 for q in range(n)]
    t2 = [min(target.qubit_properties[q].t2 * 1e6, 2.0 * t1[q]) for q in range(n)]
    sx = target["sx"]
    native = next((g for g in _NATIVE_2Q if g in target.operation_names), None)
    pairs = {}
    if native is not None:
        for qubits, p in target[native].items():
            if p is not None and p.error is not None:
                pairs[tuple(qubits)] = (float(p.duration or 0.0) * 1e6, min(float(p.error), 1.0))
    measure = target["measure"]
    return {
        "name": f"fake_{key}", "backend_version": str(getattr(backend, "backend_version", "")),
        "last_update": str(getattr(props, "last_update_date", "")) if props is not None else "",
        "n_qubits": n, "t1": t1, "t2": t2,
        "time_1q": [float(sx[(q,)].duration or 0.0) * 1e6 for q in range(n)],
        "error_1q": [min(float(sx[(q,)].error or 0.0), 1.0) for q in range(n)],
        "readout": [min(float(measure[(q,)].error or 0.0), 1.0) for q in range(n)],
        "native_2q": native, "pairs": pairs,
    }


def pair_calibration(snapshot: dict, a: int, b: int) -> tuple[float, float]:
    """``(time, error)`` of the native two-qubit gate on ``(a, b)`` (either direction), else the mean
    over the coupled pairs."""
    pairs = snapshot["pairs"]
    for key in ((a, b), (b, a)):
        if key in pairs:
            return pairs[key]
    if not pairs:
        return 0.0, 0.0
    times, errors = zip(*pairs.values())
    return sum(times) / len(times), sum(errors) / len(errors)
