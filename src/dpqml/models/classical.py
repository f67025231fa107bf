"""Classical baselines for DP-SGD comparisons: logistic regression, an MLP and a small CNN.

Every model here has the same duck-typed interface as :class:`~dpqml.models.QuantumModel`,
so the engine and the trainer treat them alike:

* attributes ``n_classes``, ``input_dim``, ``meta`` (a dict), ``family = "classical"``;
* properties ``task`` (``"binary"`` | ``"multiclass"``), ``default_loss`` (``"logistic"`` |
  ``"cross-entropy"``), ``n_outputs`` (1 for binary, K otherwise);
* ``init(key, dtype) -> params`` (a pytree of real arrays), ``n_params(params) -> int``;
* ``apply(params, x)`` for ONE example ``x`` of shape ``(input_dim,)`` (the CNN takes the
  image flattened row-major, ``(h * w,)``): a scalar logit (binary) or logits ``(K,)``;
* ``loss(params, x, y, loss=None)``: the per-example loss, :func:`per_example_loss`;
* ``predict(params, x)``: the predicted class of one example;
* ``describe() -> dict``: name, sizes and parameter count, for reports.

Per-example isolation (DP-SGD pitfall 6): no model here has batch norm, batch statistics or
any other cross-example operation. ``apply`` refuses anything but a single example
(``x.shape == (input_dim,)``); batch with ``jax.vmap``, and one example's output and gradient
then cannot depend on the rest of the batch.

Initialisation (seeded by the ``key``): every weight matrix and convolution kernel is drawn
from LeCun normal, ``N(0, 1 / fan_in)`` (LeCun et al. 1998, "Efficient BackProp"; the same rule
as the classical layers of :class:`QuantumModel`), where ``fan_in`` is the number of inputs of
one output unit (``in_channels * k * k`` for a convolution); biases start at zero. A model's
weights are cut, layer by layer in order, from one draw of standard normals (see
:func:`lecun_normal_weights`), so the same ``key`` gives the same parameters.
"""

from __future__ import annotations

import functools
import math
import numbers
from dataclasses import dataclass, field
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from ..validation import check_choice, check_count, check_list
from .task import LOSS_TASKS, Classifier, per_example_loss  # noqa: F401 (re-exported)

CLASSICAL_MODELS = ("logistic", "mlp", "cnn")
ACTIVATIONS = ("tanh", "relu")
#: Weight initialisations of :class:`MLP`: ``"lecun"`` (the default: LeCun-normal weights, zero
#: biases) and ``"torch-default"`` (PyTorch's ``nn.Linear`` reset: weights and biases uniform in
#: ``[-1/sqrt(fan_in), 1/sqrt(fan_in)]``, as the paper's PyTorch baselines start).
INIT_SCHEMES = ("lecun", "torch-default")
PARAM_MATCH_RULE = "closest parameter count; ties go to the smaller width"

_ACTIVATION_FNS = {"tanh": jnp.tanh, "relu": jax.nn.relu}


# -- validation at the boundary ---------------------------------------------------------------


def sizes(values, name: str) -> tuple[int, ...]:
    """Layer sizes (one integer, or a non-empty sequence of integers >= 1) as a tuple of ints."""
    if isinstance(values, numbers.Integral) and not isinstance(values, bool):
        values = (values,)
    return tuple(check_list(values, name, item=lambda v, where: check_count(v, where, minimum=1)))


# -- building blocks -------------------------------------------------------------------------
def lecun_normal_weights(key, specs, dtype=jnp.float32) -> list:
    """LeCun-normal weights: one array ``N(0, 1 / fan_in)`` of each ``shape`` for each
    ``(shape, fan_in)`` in ``specs``, in ``dtype``.

    All weights come from ONE draw of ``sum(sizes)`` standard normals, cut in order: one
    compiled sampler per architecture, not one per weight shape (eager ``jax.random.normal``
    compiles anew for every shape, which made initialisation take seconds).
    """
    specs = tuple((tuple(int(n) for n in shape), int(fan_in)) for shape, fan_in in specs)
    return _lecun_sampler(specs, jnp.dtype(dtype))(key)


@functools.cache
def _lecun_sampler(specs, dtype):
    sizes = [math.prod(shape) for shape, _ in specs]
    ends = np.cumsum(sizes).tolist()

    def sample(key):
        z = jax.random.normal(key, (ends[-1],), dtype)
        # float(...) keeps the scale weakly typed, so float32 weights stay float32 under x64.
        return [
            (z[end - size : end].reshape(shape) * float(np.sqrt(1.0 / fan_in))).astype(dtype)
            for (shape, fan_in), size, end in zip(specs, sizes, ends)
        ]

    return jax.jit(sample)


def torch_default_dense(key, sizes, dtype=jnp.float32) -> list[dict]:
    """PyTorch ``nn.Linear`` default initialisation of the dense layers ``sizes[0] -> sizes[1]
    -> ...``: every weight and bias uniform in ``[-1/sqrt(fan_in), 1/sqrt(fan_in)]`` (Kaiming
    uniform with ``a = sqrt(5)`` reduces to this bound). Returns ``[{"w": (n_out, n_in), "b":
    (n_out,)}, ...]``."""
    layers = []
    for k, (m, n) in zip(jax.random.split(key, len(sizes) - 1), zip(sizes[:-1], sizes[1:])):
        kw, kb = jax.random.split(k)
        bound = float(1.0 / np.sqrt(m))
        layers.append({"w": jax.random.uniform(kw, (n, m), dtype, -bound, bound),
                       "b": jax.random.uniform(kb, (n,), dtype, -bound, bound)})
    return layers


def _dense(w, dtype) -> dict:
    return {"w": w, "b": jnp.zeros((w.shape[0],), dtype)}


def _dense_count(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def mlp_param_count(input_dim: int, n_outputs: int, hidden: tuple[int, ...]) -> int:
    """Trainable parameters of a dense network ``input_dim -> *hidden -> n_outputs`` (weights
    and biases of every layer)."""
    sizes = (input_dim, *hidden, n_outputs)
    return sum(_dense_count(m, n) for m, n in zip(sizes[:-1], sizes[1:]))


class _ClassicalBase(Classifier):
    """What every classical model shares: task, loss, prediction and parameter counting."""

    family: ClassVar[str] = "classical"
    name: ClassVar[str] = ""
    n_classes: int
    input_dim: int
    meta: dict

    def param_count(self) -> int:
        """Trainable parameters, from the shapes alone (no parameters drawn)."""
        shapes = jax.eval_shape(self.init, jax.random.PRNGKey(0))
        return int(sum(math.prod(s.shape) for s in jax.tree_util.tree_leaves(shapes)))

    def _check_example(self, x):
        # Shapes are static under jit and vmap, so this refuses a batch at trace time.
        if jnp.shape(x) != (self.input_dim,):
            raise ValueError(
                f"apply takes ONE example of shape ({self.input_dim},); got shape {jnp.shape(x)} "
                "(map over a batch with jax.vmap: nothing here mixes examples)"
            )

    def _output(self, out):
        return out[0] if self.task == "binary" else out


    def _sizes(self) -> dict:
        return {}

    def _record_spec(self):
        # Like QuantumModel.meta["spec"]: the settings that rebuild this model.
        spec = {"name": self.name, "input_dim": self.input_dim, "n_classes": self.n_classes, **self._sizes()}
        object.__setattr__(self, "meta", {**self.meta, "spec": spec})

    def describe(self) -> dict:
        """A JSON-friendly summary for reports: name, family, sizes and parameter count (plus
        ``param_match`` for a matched MLP)."""
        info = {
            "name": self.name,
            "family": self.family,
            "task": self.task,
            "input_dim": self.input_dim,
            "n_classes": self.n_classes,
            "n_outputs": self.n_outputs,
            **self._sizes(),
            "n_params": self.param_count(),
        }
        if "param_match" in self.meta:
            info["param_match"] = dict(self.meta["param_match"])
        return info


# -- logistic regression ------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class LogisticRegression(_ClassicalBase):
    """Linear logits: ``logit = w · x + b`` (binary) or ``logits = W x + b`` (K-class).

    ``params = {"w": (n_outputs, input_dim), "b": (n_outputs,)}``;
    ``(input_dim + 1) · n_outputs`` parameters.
    """

    input_dim: int
    n_classes: int = 2
    meta: dict = field(default_factory=dict)
    name: ClassVar[str] = "logistic"

    def __post_init__(self):
        object.__setattr__(self, "input_dim", check_count(self.input_dim, "input_dim", minimum=1))
        object.__setattr__(self, "n_classes", check_count(self.n_classes, "n_classes", minimum=2))
        self._record_spec()

    def init(self, key, dtype=jnp.float32) -> dict:
        """LeCun-normal weights, zero bias."""
        (w,) = lecun_normal_weights(key, [((self.n_outputs, self.input_dim), self.input_dim)], dtype)
        return _dense(w, dtype)

    def apply(self, params, x):
        """Logit (binary: scalar) or logits (K-class: ``(K,)``) for one example ``x``."""
        self._check_example(x)
        return self._output(params["w"] @ x + params["b"])


# -- multilayer perceptron ----------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class MLP(_ClassicalBase):
    """A dense network: ``h = act(W h + b)`` for each hidden width, then a linear layer to the
    logit(s).

    ``params = {"layers": [{"w": (n_out, n_in), "b": (n_out,)}, ...]}``, one entry per hidden
    layer and one for the output layer. ``init_scheme`` (one of :data:`INIT_SCHEMES`) picks the
    initialisation; the default, ``"lecun"``, is the module's rule. :meth:`matched` picks the width that brings the
    parameter count closest to a target (a quantum model's).
    """

    input_dim: int
    n_classes: int = 2
    hidden: tuple[int, ...] = (16,)
    activation: str = "tanh"
    meta: dict = field(default_factory=dict)
    init_scheme: str = "lecun"
    name: ClassVar[str] = "mlp"

    def __post_init__(self):
        object.__setattr__(self, "input_dim", check_count(self.input_dim, "input_dim", minimum=1))
        object.__setattr__(self, "n_classes", check_count(self.n_classes, "n_classes", minimum=2))
        object.__setattr__(self, "hidden", sizes(self.hidden, "hidden"))
        check_choice(self.activation, "activation", ACTIVATIONS)
        check_choice(self.init_scheme, "init_scheme", INIT_SCHEMES)
        self._record_spec()

    @classmethod
    def matched(
        cls,
        input_dim: int,
        n_classes: int,
        target_params: int,
        depth: int = 1,
        activation: str = "tanh",
    ) -> MLP:
        """An MLP with ``depth`` hidden layers of one width ``w``, chosen so that its parameter
        count is as close as possible to ``target_params``.

        Rule: the count ``P(w) = mlp_param_count(input_dim, n_outputs, (w,) * depth)`` grows
        strictly with ``w``; the width with the smallest ``|P(w) - target_params|`` wins, and a
        tie goes to the smaller width (fewer parameters: less total DP noise). When even
        ``w = 1`` exceeds the target, the model gets ``w = 1`` and says so.

        The outcome is in ``meta["param_match"]`` (and :meth:`describe`): ``target_params``,
        ``n_params`` (achieved), ``difference`` (achieved − target), ``width``, ``depth``,
        ``exact``, ``below_minimum`` (True when ``w = 1`` already exceeds the target) and ``rule``.

        Example: the standard quantum model with 4 qubits, 2 layers and head ``a, b`` has
        ``2 · 4 · 2 + 2 = 18`` parameters; on 4 features, binary, depth 1, ``P(w) = 6w + 1``,
        so ``w = 3`` (19 parameters).
        """
        input_dim = check_count(input_dim, "input_dim", minimum=1)
        n_classes = check_count(n_classes, "n_classes", minimum=2)
        target = check_count(target_params, "target_params", minimum=1)
        depth = check_count(depth, "depth", minimum=1)
        check_choice(activation, "activation", ACTIVATIONS)
        n_out = 1 if n_classes == 2 else n_classes

        def count(w: int) -> int:
            return mlp_param_count(input_dim, n_out, (w,) * depth)

        # Smallest width whose count reaches the target (count is strictly increasing in w).
        lo, hi = 1, 1
        while count(hi) < target:
            lo, hi = hi, 2 * hi
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (mid + 1, hi) if count(mid) < target else (lo, mid)
        width = hi
        if width > 1 and target - count(width - 1) <= count(width) - target:
            width -= 1
        achieved = count(width)
        match = {
            "target_params": target,
            "n_params": achieved,
            "difference": achieved - target,
            "width": width,
            "depth": depth,
            "exact": achieved == target,
            "below_minimum": width == 1 and achieved > target,
            "rule": PARAM_MATCH_RULE,
        }
        return cls(input_dim, n_classes, hidden=(width,) * depth, activation=activation,
                   meta={"param_match": match})

    def init(self, key, dtype=jnp.float32) -> dict:
        """LeCun-normal weights and zero biases; with ``init_scheme="torch-default"``, weights
        and biases uniform in ``[-1/sqrt(fan_in), 1/sqrt(fan_in)]`` (:func:`torch_default_dense`)."""
        sizes = (self.input_dim, *self.hidden, self.n_outputs)
        if self.init_scheme == "torch-default":
            return {"layers": torch_default_dense(key, sizes, dtype)}
        weights = lecun_normal_weights(key, [((n, m), m) for m, n in zip(sizes[:-1], sizes[1:])], dtype)
        return {"layers": [_dense(w, dtype) for w in weights]}

    def apply(self, params, x):
        """Logit (binary: scalar) or logits (K-class: ``(K,)``) for one example ``x``."""
        self._check_example(x)
        act = _ACTIVATION_FNS[self.activation]
        layers = params["layers"]
        h = x
        for layer in layers[:-1]:
            h = act(layer["w"] @ h + layer["b"])
        return self._output(layers[-1]["w"] @ h + layers[-1]["b"])

    def _sizes(self) -> dict:
        sizes = {"hidden": list(self.hidden), "activation": self.activation}
        if self.init_scheme != "lecun":  # the default stays out, so existing reports are unchanged
            sizes["init_scheme"] = self.init_scheme
        return sizes


# -- convolutional network ------------------------------------------------------------------
def _pool_window(size: int) -> int:
    return 2 if size >= 2 else 1


def _avg_pool(h, window: tuple[int, int]):
    """Non-overlapping average pooling of ``(C, H, W)``; an odd last row/column is dropped
    (VALID pooling)."""
    (ph, pw), (c, H, W) = window, h.shape
    h = h[:, : (H // ph) * ph, : (W // pw) * pw]
    return h.reshape(c, H // ph, ph, W // pw, pw).mean(axis=(2, 4))


@dataclass(frozen=True, eq=False)
class CNN(_ClassicalBase):
    """A small convolutional network for one grey-scale image given flat, ``(h * w,)`` row-major.

    Per block ``c`` in ``channels``: a ``kernel × kernel`` convolution (stride 1, SAME padding,
    with bias), the activation, then 2 × 2 average pooling (stride 2; an odd last row or column
    is dropped; an axis of size 1 is not pooled). A linear head maps the flattened features to
    the logit(s). No batch norm or any other cross-example layer (the design of Papernot et al.
    2021, "Tempered sigmoid activations for deep learning with differential privacy", with
    ``tanh`` as the default activation). 8 × 8 digits with ``channels=(8, 16)`` end in
    ``16 × 2 × 2`` features; 28 × 28 MNIST in ``16 × 7 × 7``.

    ``params = {"conv": [{"w": (c_out, c_in, k, k), "b": (c_out,)}, ...],
    "head": {"w": (n_outputs, n_features), "b": (n_outputs,)}}``.
    """

    image_shape: tuple[int, int]
    n_classes: int = 2
    channels: tuple[int, ...] = (8, 16)
    kernel: int = 3
    activation: str = "tanh"
    meta: dict = field(default_factory=dict)
    input_dim: int = field(init=False)
    name: ClassVar[str] = "cnn"

    def __post_init__(self):
        shape = sizes(self.image_shape, "image_shape")
        if len(shape) != 2:
            raise ValueError(f"image_shape must be (height, width); got {self.image_shape!r}")
        object.__setattr__(self, "image_shape", shape)
        object.__setattr__(self, "input_dim", shape[0] * shape[1])
        object.__setattr__(self, "n_classes", check_count(self.n_classes, "n_classes", minimum=2))
        object.__setattr__(self, "channels", sizes(self.channels, "channels"))
        object.__setattr__(self, "kernel", check_count(self.kernel, "kernel", minimum=1))
        check_choice(self.activation, "activation", ACTIVATIONS)
        self._record_spec()

    @property
    def feature_shape(self) -> tuple[int, int, int]:
        """``(channels, height, width)`` of the features the head sees."""
        H, W = self.image_shape
        for _ in self.channels:
            H, W = H // _pool_window(H), W // _pool_window(W)
        return (self.channels[-1], H, W)

    def init(self, key, dtype=jnp.float32) -> dict:
        """LeCun-normal kernels (fan-in ``c_in · k²``) and head, zero biases."""
        k, c_in, specs = self.kernel, 1, []
        for c_out in self.channels:
            specs.append(((c_out, c_in, k, k), c_in * k * k))
            c_in = c_out
        n_features = math.prod(self.feature_shape)
        *kernels, head = lecun_normal_weights(key, [*specs, ((self.n_outputs, n_features), n_features)], dtype)
        conv = [{"w": w, "b": jnp.zeros((w.shape[0],), dtype)} for w in kernels]
        return {"conv": conv, "head": _dense(head, dtype)}

    def apply(self, params, x):
        """Logit (binary: scalar) or logits (K-class: ``(K,)``) for one flat image ``x``."""
        self._check_example(x)
        act = _ACTIVATION_FNS[self.activation]
        h = jnp.reshape(x, (1, *self.image_shape))  # (C=1, H, W)
        for layer in params["conv"]:
            # A batch of one: the convolution never sees another example.
            h = jax.lax.conv_general_dilated(
                h[None], layer["w"], window_strides=(1, 1), padding="SAME",
                dimension_numbers=("NCHW", "OIHW", "NCHW"),
            )[0]
            h = act(h + layer["b"][:, None, None])
            h = _avg_pool(h, (_pool_window(h.shape[1]), _pool_window(h.shape[2])))
        head = params["head"]
        return self._output(head["w"] @ jnp.ravel(h) + head["b"])

    def _sizes(self) -> dict:
        return {"image_shape": list(self.image_shape), "channels": list(self.channels), "kernel": self.kernel,
                "activation": self.activation, "feature_shape": list(self.feature_shape)}


# -- registry ----------------------------------------------------------------------------------
_BUILD_OPTIONS = {
    "logistic": (),
    "mlp": ("hidden", "activation", "target_params", "depth"),
    "cnn": ("image_shape", "channels", "kernel", "activation"),
}


def build_classical(name: str, input_dim: int, n_classes: int = 2, **kw):
    """Build a classical baseline by name (one of :data:`CLASSICAL_MODELS`).

    * ``"logistic"``: :class:`LogisticRegression`; no options.
    * ``"mlp"``: :class:`MLP` with ``hidden`` and ``activation``; or, given ``target_params``
      (and optionally ``depth``), :meth:`MLP.matched` (``hidden`` is then not allowed).
    * ``"cnn"``: :class:`CNN` with ``image_shape`` (default: square, ``input_dim`` must then be
      a perfect square), ``channels``, ``kernel``, ``activation``; ``image_shape`` must
      multiply to ``input_dim``.
    """
    if name not in CLASSICAL_MODELS:
        raise ValueError(f"unknown classical model {name!r}; valid names are {list(CLASSICAL_MODELS)}")
    input_dim = check_count(input_dim, "input_dim", minimum=1)
    n_classes = check_count(n_classes, "n_classes", minimum=2)
    unknown = sorted(set(kw) - set(_BUILD_OPTIONS[name]))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for model {name!r}; valid options are "
                         f"{list(_BUILD_OPTIONS[name])}")
    if name == "logistic":
        return LogisticRegression(input_dim, n_classes)
    if name == "mlp":
        if "target_params" in kw:
            if "hidden" in kw:
                raise ValueError("give either hidden (the widths) or target_params (match a count), not both")
            return MLP.matched(input_dim, n_classes, kw["target_params"], depth=kw.get("depth", 1),
                               activation=kw.get("activation", "tanh"))
        if "depth" in kw:
            raise ValueError("depth is an option of parameter matching: give target_params with it")
        return MLP(input_dim, n_classes, **kw)
    image_shape = kw.pop("image_shape", None)
    if image_shape is None:
        side = math.isqrt(input_dim)
        if side * side != input_dim:
            raise ValueError(f"image_shape is required: input_dim={input_dim} is not a perfect square")
        image_shape = (side, side)
    model = CNN(image_shape, n_classes, **kw)
    if model.input_dim != input_dim:
        raise ValueError(f"image_shape {model.image_shape} has {model.input_dim} pixels; "
                         f"input_dim is {input_dim} (they must match)")
    return model
