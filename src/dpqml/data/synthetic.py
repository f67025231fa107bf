"""Synthetic data sets: moons, circles, XOR, Gaussian blobs, linearly separable, quantum teacher.

Each generator draws the training and the test set independently from two seeds derived
from ``seed`` (``numpy.random.SeedSequence(seed).generate_state(2)``), so the test set
depends only on ``(seed, n_test)`` and not on ``n_train``. The *task* (blob centres, the
separating hyperplane, the teacher circuit) is fixed by ``task_seed`` (default 0), so that
different ``seed`` values give different samples of the same problem.

Feature map, fixed before seeing data: clip to the generator's known box ``[lo, hi]`` (its
noise-free support widened by 3 noise standard deviations), then map the box affinely onto
``angle_range`` (default ``[0, π]``) with :func:`scale_to_angles`. Never the data's min/max.

=======  ==========  ===================================================  =====================
name     n_features  box [lo, hi] (σ: noise or cluster_std, default)      labels
=======  ==========  ===================================================  =====================
moons    2           x₁ ∈ [-1-3σ, 2+3σ], x₂ ∈ [-0.5-3σ, 1+3σ] (σ=0.1)     0 upper moon, 1 lower
circles  2           [-1-3σ, 1+3σ]² (σ=0.05; inner radius factor=0.5)     1 inner circle
xor      d >= 2 (2)  [-1, 1]^d, uniform (optional jitter noise=0)         parity of signs
blobs    d (2)       [-5-3σ, 5+3σ]^d, centres uniform in [-5, 5]^d (σ=1)  nearest centre (K)
linear   d (2)       [-1, 1]^d, uniform, |w·x| >= margin (0.1)            1 iff w·x > 0
teacher  d (4)       angle_range itself (uniform angles, no map)          1 iff logit > t
=======  ==========  ===================================================  =====================
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..validation import check_choice, check_count, check_scalar
from .dataset import Dataset
from .transforms import check_range, clip_to_box, scale_to_angles

TEACHER_THRESHOLDS = ("median", "zero")
# Inputs drawn (with task_seed) to estimate the teacher's median logit.
TEACHER_REFERENCE_SIZE = 4096
# The teacher is evaluated in chunks of this many inputs: one compilation per (qubits, layers).
_TEACHER_CHUNK = 1024


def split_seeds(seed: int) -> tuple[int, int]:
    """Two independent seeds (train, test) derived from ``seed``."""
    a, b = np.random.SeedSequence(seed).generate_state(2)
    return int(a), int(b)






def _fixed_features(name: str, n_features: int, expected: int) -> None:
    if n_features != expected:
        raise ValueError(
            f"{name} has exactly {expected} features; got n_features={n_features} "
            f"(a model may still have more qubits than features)"
        )


def _draw(sample, n_train: int, n_test: int, seed: int):
    """``sample(n, seed) -> (x (n, d), y (n,))`` for the train and the test seed."""
    s_train, s_test = split_seeds(seed)
    return sample(n_train, s_train), sample(n_test, s_test)


def _finish(name, train, test, lo, hi, angle_range, n_classes, meta) -> Dataset:
    """Clip to the fixed box, map it onto ``angle_range`` (or keep raw), build the Dataset."""
    lo = np.asarray(lo, dtype=np.float64)
    hi = np.asarray(hi, dtype=np.float64)
    box = [(float(a), float(b)) for a, b in zip(lo, hi)]
    if angle_range is None:
        xs = [clip_to_box(x, lo, hi) for x, _ in (train, test)]
        feature_range = (float(lo.min()), float(hi.max()))
        text = f"clipped to the box {box}; no angle map"
    else:
        a, b = check_range(angle_range, "angle_range")
        xs = [scale_to_angles(x, lo, hi, (a, b), clip=True) for x, _ in (train, test)]
        feature_range = (a, b)
        text = f"clipped to the box {box}, then mapped affinely onto [{a:.6g}, {b:.6g}] per feature"
    return Dataset(xs[0], train[1], xs[1], test[1], n_classes=n_classes, name=name, feature_range=feature_range,
                   meta={**meta, "box": box, "feature_map": text})


def _empty(d: int):
    return np.zeros((0, d)), np.zeros((0,), dtype=np.int64)


def load_moons(*, n_features: int = 2, n_train: int = 400, n_test: int = 200, seed: int = 0,
               angle_range=(0.0, np.pi), noise: float = 0.1) -> Dataset:
    """Two interleaving half circles (``sklearn.datasets.make_moons``), 2 features, 2 classes."""
    _fixed_features("moons", n_features, 2)
    s = check_scalar(noise, "noise", low=0.0)

    from sklearn.datasets import make_moons  # imported here: sklearn.datasets takes seconds to import

    def sample(n, rs):
        return make_moons(n_samples=n, noise=s, random_state=rs) if n else _empty(2)

    train, test = _draw(sample, n_train, n_test, seed)
    lo, hi = [-1 - 3 * s, -0.5 - 3 * s], [2 + 3 * s, 1 + 3 * s]
    return _finish("moons", train, test, lo, hi, angle_range, 2,
                   {"source": "sklearn.datasets.make_moons", "seed": seed, "noise": s})


def load_circles(*, n_features: int = 2, n_train: int = 400, n_test: int = 200, seed: int = 0,
                 angle_range=(0.0, np.pi), noise: float = 0.05, factor: float = 0.5) -> Dataset:
    """A small circle inside a large one (``sklearn.datasets.make_circles``); label 1 = inner."""
    _fixed_features("circles", n_features, 2)
    s = check_scalar(noise, "noise", low=0.0)
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not 0 < factor < 1:
        raise ValueError(f"factor (inner radius / outer radius) must be in (0, 1); got {factor!r}")

    from sklearn.datasets import make_circles

    def sample(n, rs):
        return make_circles(n_samples=n, noise=s, factor=factor, random_state=rs) if n else _empty(2)

    train, test = _draw(sample, n_train, n_test, seed)
    r = 1 + 3 * s
    return _finish("circles", train, test, [-r, -r], [r, r], angle_range, 2,
                   {"source": "sklearn.datasets.make_circles", "seed": seed, "noise": s, "factor": float(factor)})


def load_xor(*, n_features: int = 2, n_train: int = 400, n_test: int = 200, seed: int = 0,
             angle_range=(0.0, np.pi), noise: float = 0.0) -> Dataset:
    """XOR / parity: ``x`` uniform in ``[-1, 1]^d``, label = parity of the number of positive features.

    For ``d = 2`` this is the classic XOR (label 1 in the 2nd and 4th quadrants). ``noise``
    adds Gaussian jitter of that std after labelling (then clipped back into the box), so
    points near the axes may land on the wrong side.
    """
    d = check_count(n_features, "xor n_features", minimum=2)
    s = check_scalar(noise, "noise", low=0.0)

    def sample(n, rs):
        rng = np.random.default_rng(rs)
        x = rng.uniform(-1.0, 1.0, (n, d))
        y = (np.sum(x > 0, axis=1) % 2).astype(np.int64)
        return x + s * rng.standard_normal((n, d)), y

    train, test = _draw(sample, n_train, n_test, seed)
    return _finish("xor", train, test, [-1.0] * d, [1.0] * d, angle_range, 2,
                   {"source": "dpqml parity of signs", "seed": seed, "noise": s})


def load_blobs(*, n_features: int = 2, n_train: int = 400, n_test: int = 200, seed: int = 0,
               angle_range=(0.0, np.pi), n_classes: int = 2, cluster_std: float = 1.0,
               task_seed: int = 0) -> Dataset:
    """Isotropic Gaussian blobs (``sklearn.datasets.make_blobs``), one per class.

    Centres uniform in ``[-5, 5]^d``, drawn with ``task_seed``; std ``cluster_std``; the
    examples are split evenly over the classes.
    """
    d = check_count(n_features, "n_features", minimum=1)
    k = check_count(n_classes, "n_classes", minimum=2)
    s = check_scalar(cluster_std, "cluster_std", low=0.0)
    centers = np.random.default_rng(task_seed).uniform(-5.0, 5.0, (k, d))

    from sklearn.datasets import make_blobs

    def sample(n, rs):
        return make_blobs(n_samples=n, centers=centers, cluster_std=s, random_state=rs) if n else _empty(d)

    train, test = _draw(sample, n_train, n_test, seed)
    r = 5 + 3 * s
    return _finish("blobs", train, test, [-r] * d, [r] * d, angle_range, k,
                   {"source": "sklearn.datasets.make_blobs", "seed": seed, "task_seed": task_seed,
                    "centers": centers.tolist(), "cluster_std": s})


def load_linear(*, n_features: int = 2, n_train: int = 400, n_test: int = 200, seed: int = 0,
                angle_range=(0.0, np.pi), margin: float = 0.1, task_seed: int = 0) -> Dataset:
    """Linearly separable with a margin: ``x`` uniform in ``[-1, 1]^d`` with ``|w·x| >= margin``.

    ``w`` is a unit vector drawn with ``task_seed``; label ``1`` iff ``w·x > 0``; points
    closer than ``margin`` to the hyperplane are rejected, so the two classes are separated by
    a slab of width ``2·margin`` (before the angle map). Not ``make_classification``: its
    clusters are not guaranteed separable and its feature range is unbounded.
    """
    d = check_count(n_features, "n_features", minimum=1)
    m = check_scalar(margin, "margin", low=0.0)
    if m >= 1:
        raise ValueError(f"margin must be in [0, 1) (the cube [-1, 1]^d has points with |w·x| >= 1); got {margin!r}")
    w = np.random.default_rng(task_seed).standard_normal(d)
    w /= np.linalg.norm(w)

    def sample(n, rs):
        rng = np.random.default_rng(rs)
        kept = np.zeros((0, d))
        while kept.shape[0] < n:
            x = rng.uniform(-1.0, 1.0, (2 * n + 16, d))
            kept = np.concatenate([kept, x[np.abs(x @ w) >= m]])
        x = kept[:n]
        return x, (x @ w > 0).astype(np.int64)

    train, test = _draw(sample, n_train, n_test, seed)
    return _finish("linear", train, test, [-1.0] * d, [1.0] * d, angle_range, 2,
                   {"source": "dpqml separating hyperplane", "seed": seed, "task_seed": task_seed,
                    "w": w.tolist(), "margin": m})


@lru_cache(maxsize=8)
def _teacher_logits(n_qubits: int, layers: int):
    """``(model, f)`` with ``f(params, x (chunk, n_qubits)) -> (chunk,)`` logits, compiled once."""
    import jax

    from ..models import build_model

    model = build_model(qubits=n_qubits, layers=layers)
    return model, jax.jit(jax.vmap(model.apply, in_axes=(None, 0)))


def teacher_logits(params, x: np.ndarray, layers: int) -> np.ndarray:
    """Logits ``(N,)`` of the standard model with ``layers`` layers at ``params`` for ``x (N, d)``."""
    _, f = _teacher_logits(x.shape[1], layers)
    n = x.shape[0]
    pad = (-n) % _TEACHER_CHUNK
    xp = np.concatenate([x, np.zeros((pad, x.shape[1]), x.dtype)])
    out = [np.asarray(f(params, xp[i:i + _TEACHER_CHUNK])) for i in range(0, xp.shape[0], _TEACHER_CHUNK)]
    return np.concatenate(out)[:n].astype(np.float64)


def load_teacher(*, n_features: int = 4, n_train: int = 400, n_test: int = 200, seed: int = 0,
                 angle_range=(0.0, np.pi), layers: int = 2, label_threshold: str = "median",
                 task_seed: int = 0) -> Dataset:
    """Labels from a random "teacher" quantum circuit: the standard model with random parameters.

    The teacher is ``dpqml.models.build_model(qubits=n_features, layers=layers)`` with
    parameters ``model.init(jax.random.PRNGKey(task_seed))``; its logit is ``<Z_0>``.
    Features are angles drawn uniformly in ``angle_range`` (default ``[0, π]``; ``None``
    means ``[0, π]`` too) and are fed to the teacher as they are: no further map.
    Label ``1`` iff logit ``> t`` where, for ``label_threshold``:

    * ``"median"`` (default): ``t`` is the median teacher logit over 4096 reference inputs
      drawn with ``task_seed``, so the classes are balanced up to sampling error; ``t`` is a
      property of the teacher, not of the sampled data;
    * ``"zero"``: ``t = 0``; classes may be very unbalanced.
    """
    import jax

    d = check_count(n_features, "n_features", minimum=1)
    layers = check_count(layers, "layers", minimum=1)
    check_choice(label_threshold, "label_threshold", TEACHER_THRESHOLDS)
    a, b = (0.0, np.pi) if angle_range is None else check_range(angle_range, "angle_range")
    model, _ = _teacher_logits(d, layers)
    params = model.init(jax.random.PRNGKey(task_seed))
    s_train, s_test = split_seeds(seed)
    # Labels are computed on the float32 features the Dataset stores, so they are a function of them.
    x_train = np.random.default_rng(s_train).uniform(a, b, (n_train, d)).astype(np.float32)
    x_test = np.random.default_rng(s_test).uniform(a, b, (n_test, d)).astype(np.float32)
    x_ref = np.random.default_rng(np.random.SeedSequence([task_seed, 1])).uniform(a, b, (TEACHER_REFERENCE_SIZE, d))
    z = teacher_logits(params, np.concatenate([x_ref.astype(np.float32), x_train, x_test]), layers)
    z_ref, z_train, z_test = np.split(z, [TEACHER_REFERENCE_SIZE, TEACHER_REFERENCE_SIZE + n_train])
    t = float(np.median(z_ref)) if label_threshold == "median" else 0.0
    meta = {"source": f"teacher circuit build_model(qubits={d}, layers={layers})", "seed": seed,
            "task_seed": task_seed, "layers": layers, "label_threshold": label_threshold, "threshold": t,
            "box": [(a, b)] * d,
            "feature_map": f"angles uniform in [{a:.6g}, {b:.6g}], fed to the teacher unchanged"}
    return Dataset(x_train, (z_train > t).astype(np.int64), x_test, (z_test > t).astype(np.int64), n_classes=2,
                   name="teacher", feature_range=(a, b), meta=meta)
