"""Classical baselines: shapes, exact per-example gradients, parameter matching, learning,
per-example isolation and bad input."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dpqml.engine import per_example_grads
from dpqml.models import (
    CLASSICAL_MODELS,
    CNN,
    MLP,
    LogisticRegression,
    build_classical,
    build_model,
    per_example_loss,
)

assert jax.config.jax_enable_x64, "tests/conftest.py enables float64; these checks need it"


# One small model of each kind on 4 x 4 images given flat (input_dim 16), built and
# initialised once per class count: compilation, not arithmetic, is what these tests cost.
SPECS = [
    ("logistic", {}),
    ("mlp", {"hidden": (8,)}),
    ("mlp", {"hidden": (4, 3), "activation": "relu"}),
    ("cnn", {"channels": (2, 4)}),
]
SPEC_IDS = ["logistic", "mlp-tanh", "mlp-relu-deep", "cnn"]


@functools.cache
def _model(index, n_classes):
    name, kw = SPECS[index]
    model = build_classical(name, 16, n_classes, **kw)
    return model, model.init(jax.random.PRNGKey(index), jnp.float64)


def _batch(model, b=6, seed=0):
    rng = np.random.default_rng(seed)
    x = jnp.asarray(rng.normal(size=(b, model.input_dim)))
    y = jnp.asarray(rng.integers(0, model.n_classes, size=b))
    return x, y


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("index", range(len(SPECS)), ids=SPEC_IDS)
def test_output_shapes_losses_and_predictions_follow_the_task(index, n_classes):
    model, params = _model(index, n_classes)
    x, y = _batch(model)

    def forward(params, x, y):
        return model.apply(params, x), model.loss(params, x, y), model.predict(params, x)

    # Shapes and dtypes by tracing alone (values are checked by the tests below).
    out, loss, prediction = jax.eval_shape(forward, params, x[0], y[0])
    assert model.family == "classical"
    if n_classes == 2:
        assert (model.task, model.default_loss, model.n_outputs, out.shape) == ("binary", "logistic", 1, ())
    else:
        assert (model.task, model.default_loss, model.n_outputs, out.shape) == ("multiclass", "cross-entropy", 3, (3,))
    assert loss.shape == () and prediction.shape == () and jnp.issubdtype(prediction.dtype, jnp.integer)
    assert {leaf.dtype for leaf in jax.tree_util.tree_leaves(params)} == {jnp.dtype(jnp.float64)}  # real
    assert model.n_params(params) == model.describe()["n_params"]


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("index", range(len(SPECS)), ids=SPEC_IDS)
def test_per_example_gradients_equal_a_loop_of_single_example_gradients(index, n_classes):
    model, params = _model(index, n_classes)
    x, y = _batch(model, seed=n_classes)
    losses, grads = per_example_grads(model.loss, params, x, y)
    single = jax.jit(jax.value_and_grad(model.loss))
    for i in range(x.shape[0]):
        loss_i, grad_i = single(params, x[i], y[i])
        assert abs(losses[i] - loss_i) < 1e-10
        for g, gi in zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(grad_i)):
            np.testing.assert_allclose(g[i], gi, rtol=0, atol=1e-10)


def test_logistic_regression_gradient_is_the_textbook_formula():
    # d/dw softplus(-(2y-1)(w·x+b)) = (σ(w·x+b) - y) x, by hand.
    model, params = _model(0, 2)
    assert isinstance(model, LogisticRegression)
    x, y = _batch(model, seed=3)
    _, grads = per_example_grads(model.loss, params, x, y)
    s = np.asarray(x) @ np.asarray(params["w"][0]) + float(params["b"][0])
    residual = 1.0 / (1.0 + np.exp(-s)) - np.asarray(y)
    np.testing.assert_allclose(grads["w"][:, 0, :], residual[:, None] * np.asarray(x), atol=1e-12)
    np.testing.assert_allclose(grads["b"][:, 0], residual, atol=1e-12)


def test_multiclass_logistic_regression_gradient_is_softmax_minus_one_hot():
    model, params = _model(0, 3)
    x, y = _batch(model, seed=4)
    _, grads = per_example_grads(model.loss, params, x, y)
    logits = np.asarray(x) @ np.asarray(params["w"]).T + np.asarray(params["b"])
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    residual = p - np.eye(3)[np.asarray(y)]
    np.testing.assert_allclose(grads["w"], residual[:, :, None] * np.asarray(x)[:, None, :], atol=1e-12)
    np.testing.assert_allclose(grads["b"], residual, atol=1e-12)


def test_per_example_loss_formulas_by_hand():
    assert float(per_example_loss(jnp.array(0.7), 1, "logistic", "binary")) == pytest.approx(np.log1p(np.exp(-0.7)))
    assert float(per_example_loss(jnp.array(0.7), 0, "logistic", "binary")) == pytest.approx(np.log1p(np.exp(0.7)))
    assert float(per_example_loss(jnp.array(0.7), 0, "squared", "binary")) == pytest.approx(0.5 * 1.7**2)
    logits = jnp.array([1.0, 2.0, -1.0])
    ref = -(2.0 - np.log(np.sum(np.exp([1.0, 2.0, -1.0]))))
    assert float(per_example_loss(logits, 1, "cross-entropy", "multiclass")) == pytest.approx(ref)


def test_per_example_loss_matches_hand_formulas_for_every_model_family():
    # One loss implementation (dpqml.models.task) serves quantum and classical models alike.
    s, z = -0.4, np.array([0.3, -1.0, 2.0])
    for y in (0, 1):
        t = 2 * y - 1
        assert float(per_example_loss(jnp.array(s), y, "logistic", "binary")) == pytest.approx(np.log1p(np.exp(-t * s)))
        assert float(per_example_loss(jnp.array(s), y, "squared", "binary")) == pytest.approx((s - t) ** 2 / 2)
    for y in range(3):
        ref = -(z[y] - np.log(np.exp(z).sum()))
        assert float(per_example_loss(jnp.array(z), y, "cross-entropy", "multiclass")) == pytest.approx(ref)
    qm = build_model(qubits=2, layers=1)
    qp = qm.init(jax.random.PRNGKey(0))
    x = jnp.array([0.3, 0.9])
    # under jit: one compile of the circuit instead of one per operation
    both = jax.jit(lambda p, x: (qm.loss(p, x, 1), per_example_loss(qm.apply(p, x), 1, "logistic", "binary")))
    loss, ref = both(qp, x)
    assert float(loss) == pytest.approx(float(ref))


def test_per_example_loss_refuses_a_loss_of_the_wrong_task():
    model, params = _model(0, 2)
    with pytest.raises(ValueError, match="loss 'cross-entropy' needs a multiclass model"):
        model.loss(params, jnp.ones(16), 1, "cross-entropy")
    with pytest.raises(ValueError, match="'logistic' needs a binary model"):
        per_example_loss(jnp.ones(3), 1, "logistic", "multiclass")
    with pytest.raises(ValueError, match="unknown loss 'hinge'.*valid losses"):
        per_example_loss(jnp.ones(()), 1, "hinge", "binary")


@pytest.mark.parametrize(
    "input_dim,n_classes,target,depth",
    [(4, 2, 18, 1), (4, 2, 16, 1), (8, 10, 100, 1), (64, 10, 450, 2), (2, 2, 50, 3), (30, 3, 5000, 1)],
)
def test_matched_mlp_has_the_closest_achievable_parameter_count(input_dim, n_classes, target, depth):
    model = MLP.matched(input_dim, n_classes, target, depth=depth)
    achieved = model.param_count()  # the shapes init draws, without drawing them
    # Brute force over widths, counting by hand: (fan_in + 1) * fan_out per dense layer.
    n_out = 1 if n_classes == 2 else n_classes

    def by_hand(w):
        sizes = [input_dim] + [w] * depth + [n_out]
        return sum((m + 1) * n for m, n in zip(sizes[:-1], sizes[1:]))

    counts = {w: by_hand(w) for w in range(1, 300)}
    assert achieved == by_hand(model.hidden[0])
    best = min(abs(c - target) for c in counts.values())
    smallest_best = min(w for w, c in counts.items() if abs(c - target) == best)
    assert model.hidden == (smallest_best,) * depth
    assert abs(achieved - target) == best
    match = model.meta["param_match"]
    assert (match["n_params"], match["target_params"], match["width"]) == (achieved, target, smallest_best)
    assert match["difference"] == achieved - target and match["below_minimum"] is False
    assert model.describe()["param_match"] == match


def test_matched_mlp_for_the_standard_quantum_model():
    qm = build_model(qubits=4, layers=2)
    target = qm.n_params(qm.init(jax.random.PRNGKey(0)))
    assert target == 18  # 2 n L + 2 (head a, b)
    model = MLP.matched(4, 2, target)
    assert model.hidden == (3,) and model.param_count() == 19  # 6w + 1: 13 or 19 -> 19


def test_matched_mlp_ties_go_to_the_smaller_width():
    # 4 features, binary, depth 1: P(w) = 6w + 1; target 16 sits between 13 and 19.
    model = MLP.matched(4, 2, 16)
    assert model.hidden == (2,) and model.meta["param_match"]["difference"] == -3


def test_matched_mlp_below_the_smallest_network_uses_width_one_and_says_so():
    model = MLP.matched(64, 10, 5)
    assert model.hidden == (1,)
    match = model.meta["param_match"]
    assert match["below_minimum"] is True and match["n_params"] == 64 + 1 + 10 + 10 > 5


@pytest.mark.parametrize("image_shape,n_classes,features", [((8, 8), 10, (8, 2, 2)), ((28, 28), 2, (8, 7, 7))])
def test_cnn_runs_on_digits_and_mnist_sized_images(image_shape, n_classes, features):
    model = build_classical("cnn", image_shape[0] * image_shape[1], n_classes, channels=(4, 8))
    assert model.image_shape == image_shape and model.feature_shape == features
    params = model.init(jax.random.PRNGKey(0), jnp.float64)
    x, y = _batch(model, b=3)
    losses, grads = per_example_grads(model.loss, params, x, y)
    assert losses.shape == (3,) and bool(jnp.all(jnp.isfinite(losses)))
    assert grads["conv"][0]["w"].shape == (3, 4, 1, 3, 3)
    assert grads["head"]["w"].shape == (3, model.n_outputs, int(np.prod(features)))
    expected = (4 * 9 + 4) + (8 * 4 * 9 + 8) + (int(np.prod(features)) + 1) * model.n_outputs
    assert model.n_params(params) == expected


def test_cnn_convolution_matches_a_hand_written_one():
    # One block (3 x 3 convolution with zero padding, ReLU, 2 x 2 average pool), then the head,
    # recomputed in NumPy.
    model = CNN((4, 4), 2, channels=(1,), kernel=3, activation="relu")
    params = model.init(jax.random.PRNGKey(4), jnp.float64)
    x = jnp.asarray(np.random.default_rng(0).normal(size=16))
    img = np.pad(np.asarray(x).reshape(4, 4), 1)
    k = np.asarray(params["conv"][0]["w"][0, 0])
    conv = np.array([[np.sum(img[i : i + 3, j : j + 3] * k) for j in range(4)] for i in range(4)])
    h = np.maximum(conv + float(params["conv"][0]["b"][0]), 0.0)
    pooled = h.reshape(2, 2, 2, 2).mean(axis=(1, 3))
    ref = np.asarray(params["head"]["w"][0]) @ pooled.ravel() + float(params["head"]["b"][0])
    assert abs(float(model.apply(params, x)) - ref) < 1e-12


@pytest.mark.parametrize("index", range(len(SPECS)), ids=SPEC_IDS)
def test_one_examples_output_does_not_depend_on_the_rest_of_the_batch(index):
    model, params = _model(index, 3)
    x, _ = _batch(model, b=5)
    batched_apply = jax.jit(jax.vmap(model.apply, in_axes=(None, 0)))
    single_apply = jax.jit(model.apply)
    batched = batched_apply(params, x)
    for i in range(5):
        np.testing.assert_allclose(batched[i], single_apply(params, x[i]), atol=1e-12)
    # Change every other example: example 0's output is unchanged.
    np.testing.assert_allclose(batched_apply(params, x.at[1:].set(100.0))[0], batched[0], atol=1e-12)


def test_apply_refuses_a_batch():
    for index in range(len(SPECS)):
        model, params = _model(index, 2)
        with pytest.raises(ValueError, match=r"ONE example of shape \(16,\).*jax.vmap"):
            model.apply(params, jnp.ones((4, 16)))


def _quadrant_images(n_classes, n=60, seed=0):
    """4 x 4 images, flat: class k is a bright 2 x 2 block in quadrant k, plus noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    images = 0.3 * rng.normal(size=(n, 4, 4))
    for i, k in enumerate(y):
        r, c = divmod(int(k), 2)
        images[i, 2 * r : 2 * r + 2, 2 * c : 2 * c + 2] += 2.0
    return jnp.asarray(images.reshape(n, 16)), jnp.asarray(y)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("index", range(len(SPECS)), ids=SPEC_IDS)
def test_a_few_steps_of_gradient_descent_learn_an_easy_separable_set(index, n_classes):
    model, params = _model(index, n_classes)
    x, y = _quadrant_images(n_classes)

    def mean_loss(p):
        return jnp.mean(jax.vmap(model.loss, in_axes=(None, 0, 0))(p, x, y))

    @jax.jit
    def train(p):
        def step(_, p):
            return jax.tree_util.tree_map(lambda a, g: a - 1.0 * g, p, jax.grad(mean_loss)(p))

        return jax.lax.fori_loop(0, 40, step, p)

    @jax.jit
    def loss_and_accuracy(p):
        return mean_loss(p), jnp.mean(jax.vmap(model.predict, in_axes=(None, 0))(p, x) == y)

    first, _ = loss_and_accuracy(params)
    last, accuracy = loss_and_accuracy(train(params))
    assert last < 0.25 * first
    assert accuracy == 1.0


def test_init_is_seeded_and_lecun_scaled():
    model = MLP(400, 2, hidden=(300,))
    a, b = model.init(jax.random.PRNGKey(7), jnp.float64), model.init(jax.random.PRNGKey(7), jnp.float64)
    assert all(jnp.array_equal(u, v) for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))
    w = np.asarray(a["layers"][0]["w"])
    assert w.shape == (300, 400) and abs(w.std() * np.sqrt(400) - 1.0) < 0.02
    assert not np.any(a["layers"][0]["b"])
    c = model.init(jax.random.PRNGKey(8), jnp.float64)
    assert not jnp.array_equal(a["layers"][0]["w"], c["layers"][0]["w"])


def test_init_keeps_float32_under_x64():
    model, _ = _model(SPEC_IDS.index("cnn"), 3)
    params = model.init(jax.random.PRNGKey(0), jnp.float32)
    assert {leaf.dtype for leaf in jax.tree_util.tree_leaves(params)} == {jnp.dtype(jnp.float32)}


def test_describe_and_meta_are_report_ready():
    info = build_classical("cnn", 64, 10).describe()
    assert info["name"] == "cnn" and info["family"] == "classical" and info["image_shape"] == [8, 8]
    assert info["n_params"] == build_classical("cnn", 64, 10).param_count()
    assert MLP(4, 2, hidden=(3,)).meta["spec"] == {
        "name": "mlp", "input_dim": 4, "n_classes": 2, "hidden": [3], "activation": "tanh"
    }
    assert set(CLASSICAL_MODELS) == {"logistic", "mlp", "cnn"}
    # Odd sizes: pooling drops the last row/column; an axis of size 1 is left alone.
    assert CNN((5, 3), 2, channels=(2, 2, 2)).feature_shape == (2, 1, 1)


@pytest.mark.parametrize(
    "build,message",
    [
        (lambda: build_classical("svm", 4, 2), r"unknown classical model 'svm'; valid names are \['logistic'"),
        (lambda: build_classical("logistic", 0, 2), "input_dim must be an integer >= 1; got 0"),
        (lambda: build_classical("mlp", 4, 1), "n_classes must be an integer >= 2; got 1"),
        (lambda: LogisticRegression(4, 1), "n_classes must be an integer >= 2"),
        (lambda: LogisticRegression(2.5), "input_dim must be an integer"),
        (lambda: MLP(4, 2, hidden=(3, 0)), r"hidden\[1\] must be an integer >= 1; got 0"),
        (lambda: MLP(4, 2, hidden=()), "hidden must not be empty"),
        (lambda: MLP(4, 2, activation="gelu"), r"activation must be one of \['tanh'"),
        (lambda: MLP.matched(4, 2, 0), "target_params must be an integer >= 1; got 0"),
        (lambda: build_classical("mlp", 4, 2, target_params=-3), "target_params must be an integer >= 1"),
        (lambda: MLP.matched(4, 2, 18, depth=0), "depth must be an integer >= 1"),
        (lambda: build_classical("mlp", 4, 2, hidden=(3,), target_params=18), "hidden.*target_params.*not both"),
        (
            lambda: build_classical("cnn", 64, 2, image_shape=(7, 7)),
            r"image_shape \(7, 7\) has 49 pixels; input_dim is 64",
        ),
        (lambda: build_classical("cnn", 10, 2), "image_shape is required: input_dim=10 is not a perfect square"),
        (lambda: CNN((8,), 2), "image_shape must be \\(height, width\\)"),
        (lambda: CNN((8, 0), 2), r"image_shape\[1\] must be an integer >= 1"),
        (lambda: CNN((8, 8), 2, channels=(4, -1)), r"channels\[1\] must be an integer >= 1"),
        (lambda: CNN((8, 8), 2, kernel=0), "kernel must be an integer >= 1"),
        (
            lambda: build_classical("logistic", 4, 2, hidden=(3,)),
            r"unknown option\(s\) \['hidden'\] for model 'logistic'",
        ),
    ],
)
def test_bad_input_raises_naming_the_parameter(build, message):
    with pytest.raises(ValueError, match=message):
        build()
