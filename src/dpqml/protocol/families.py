"""The model families the comparison protocol trains, by name.

Quantum (``qubits`` and ``layers`` from the protocol; features angle-encoded one per qubit):

* ``hea``: the standard model: ``RY(x_i)`` encoding, ``layers`` hardware-efficient layers,
  readout ``<Z_0>`` (K classes: ``<Z_k>``), head ``a·<O> + b``;
* ``reuploading``: data re-uploading: per layer a trainable encoding ``RY(w_i x_i + b_i)`` on
  every qubit, then an ``hea`` layer;
* ``hea-noisy``, ``reuploading-noisy``: the same circuits under the protocol's device-noise preset.

Classical (the same features as the quantum models):

* ``logistic``: logistic (softmax) regression;
* ``mlp-matched``: one hidden layer (tanh) whose parameter count is closest to ``hea``'s;
* ``mlp-large``: hidden widths ``large_mlp_hidden`` (default 32, 32);
* ``cnn``: a small CNN over the pooled image grid (image data sets only).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    family: str  # "quantum" or "classical"
    images_only: bool = False
    description: str = ""


MODEL_FAMILIES = {
    "hea": Family("quantum", description="angle encoding + hardware-efficient ansatz, <Z0> readout"),
    "reuploading": Family("quantum", description="data re-uploading (trainable encodings between hea layers)"),
    "hea-noisy": Family("quantum", description="hea under the device-noise preset"),
    "reuploading-noisy": Family("quantum", description="reuploading under the device-noise preset"),
    "logistic": Family("classical", description="logistic regression"),
    "mlp-matched": Family("classical", description="one-hidden-layer MLP matched to hea's parameter count"),
    "mlp-large": Family("classical", description="a larger MLP (large_mlp_hidden)"),
    "cnn": Family("classical", images_only=True, description="a small CNN on the pooled image (image sets only)"),
}


def is_image_dataset(dataset) -> bool:
    """Whether ``dataset`` (a :class:`dpqml.data.Dataset`) is an image on a pooled grid."""
    grid = dataset.meta.get("grid")
    return grid is not None and len(grid) == 2


def applies(model: str, dataset) -> bool:
    """Whether model family ``model`` runs on ``dataset`` (``cnn`` needs an image data set)."""
    return not MODEL_FAMILIES[model].images_only or is_image_dataset(dataset)


def build_family(model: str, dataset, *, qubits: int, layers: int, noise: str, large_mlp_hidden):
    """The model ``model`` for ``dataset``'s features and classes."""
    from ..models import ModelSpec, build_classical, build_model
    from ..models.classical import MLP

    d, k = dataset.n_features, dataset.n_classes

    def quantum(ansatz, noisy):
        spec = ModelSpec(qubits=qubits, layers=layers, ansatz=ansatz, n_classes=k,
                         input_dim=d if d != qubits else None, noise=noise if noisy else "none")
        return build_model(spec)

    if model in ("hea", "reuploading", "hea-noisy", "reuploading-noisy"):
        return quantum(model.removesuffix("-noisy"), model.endswith("-noisy"))
    if model == "logistic":
        return build_classical("logistic", d, k)
    if model == "mlp-matched":
        import jax

        ref = quantum("hea", False)
        return MLP.matched(d, k, ref.n_params(ref.init(jax.random.PRNGKey(0))))
    if model == "mlp-large":
        return build_classical("mlp", d, k, hidden=tuple(large_mlp_hidden))
    if model == "cnn":
        if not is_image_dataset(dataset):
            raise ValueError(f"cnn needs an image data set; {dataset.name} is not one")
        return build_classical("cnn", d, k, image_shape=tuple(dataset.meta["grid"]))
    raise ValueError(f"unknown model {model!r}; valid names are {list(MODEL_FAMILIES)}")
