"""The comparison protocol's configuration: what is fixed before any private data is touched.

A :class:`ProtocolConfig` names the data sets, the model families, the ε grid and every training
setting that all models share (C, δ, q, epochs, optimizer, learning rate, seeds). It comes from a
preset (:data:`PRESETS`: ``quick``, ``paper``) or a TOML / YAML file (:func:`load_config`), is
validated once, and has a :meth:`~ProtocolConfig.fingerprint` that keys the results database.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..audit.pipeline import MECHANISMS as AUDIT_MECHANISMS  # the mechanisms a protocol may audit
from ..data import DATASETS
from ..models.noise import parse_noise
from ..privacy.accounting import ACCOUNTANTS
from ..report.files import to_jsonable
from ..train.trainer import OPTIMIZERS
from ..validation import check_choice, check_count, check_list, check_probability, check_scalar
from .families import MODEL_FAMILIES

#: Data-set options a protocol may set (passed to :func:`dpqml.data.load_dataset`).
DATASET_KEYS = ("name", "label", "n_train", "n_test", "n_features", "classes", "grid", "path", "noise", "factor",
                "n_classes", "cluster_std", "margin", "label_threshold", "task_seed")


def canonical_json(obj) -> str:
    """Sorted, compact JSON with ``inf`` as the string ``"inf"``: the text hashed into keys."""
    return json.dumps(to_jsonable(obj), sort_keys=True, separators=(",", ":"), allow_nan=False)


def digest(obj, length: int = 16) -> str:
    """A short SHA-256 hex digest of ``canonical_json(obj)``."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:length]


@dataclass(frozen=True)
class ProtocolConfig:
    """The fixed-clip, fixed-budget comparison (see ``docs/compare.md``).

    Attributes:
        name: a label for the report.
        datasets: data sets as ``{"name": ..., **options}`` dicts (options of
            :func:`dpqml.data.load_dataset`; the quantum models get ``n_features`` ≤ ``qubits``).
        models: model names, from :data:`~dpqml.protocol.families.MODEL_FAMILIES`; ``cnn`` runs
            on image data sets only.
        epsilons: the privacy budgets; ``inf`` means non-private (no noise, clipping kept).
        delta: δ of every budget.
        max_grad_norm: the one clip threshold C of every model.
        sample_rate: the one Poisson sampling rate q (steps T = round(epochs / q)).
        epochs: passes over the data.
        seeds: seeds of the initialisation; an integer ``k`` means ``0..k-1``. They do not seed the
            privacy mechanism: see ``randomness`` and ``reproducible_noise``.
        optimizer, learning_rate: shared by every model, fixed in advance (no tuning on private data).
        qubits, layers: the quantum models' size.
        noise: the device-noise preset of the ``*-noisy`` models (``dpqml.models.noise``), or the
            name of one of ``noise_presets``.
        noise_presets: user-defined presets, name -> preset string (``{"my-device":
            "nisq:t1=50,t2=40+readout:0.03"}``); ``noise = "my-device"`` uses one.
        large_mlp_hidden: hidden widths of ``mlp-large``.
        accountant: ``pld`` (tight, default) or ``rdp``.
        data_seed: seeds the data sets' samples and splits (the same for every model and seed).
        max_physical_batch: memory cap of one compiled gradient call (does not change results).
        audits: privacy audits to run beside the training jobs (``dpqml.audit``, white-box
            membership game against the trainer): ``dpsgd`` (one per finite ε of the grid),
            ``none``, ``device-noise``, ``shots``; their results become the report's audit section.
        randomness: where every job's Poisson sampling and noise draw from (``secure``, the default:
            the OS's CSPRNG; ``fast``: JAX's generator under a secret seed per job, kept in the job's
            checkpoint); see ``docs/privacy.md``.
        reproducible_noise: opt-in: each job draws its sampling and noise from its seed, so the
            sweep can be replayed; the guarantee then does NOT hold against anyone who knows the
            seeds (which results.json lists), and every result file and the report say so.
        allow_large_delta: accept δ ≥ 1/N for a data set of N training examples (refused by default:
            such a δ protects nobody).
    """

    name: str = "custom"
    datasets: tuple = ({"name": "moons"},)
    models: tuple = ("hea", "reuploading", "hea-noisy", "reuploading-noisy", "logistic", "mlp-matched",
                     "mlp-large", "cnn")
    epsilons: tuple = (1.0, 4.0, math.inf)
    delta: float = 1e-5
    max_grad_norm: float = 1.0
    sample_rate: float = 0.1
    epochs: float = 10.0
    seeds: tuple = (0, 1, 2)
    optimizer: str = "adam"
    learning_rate: float = 0.05
    qubits: int = 4
    layers: int = 2
    noise: str = "depolarizing:0.01+readout:0.02"
    large_mlp_hidden: tuple = (32, 32)
    accountant: str = "pld"
    data_seed: int = 0
    max_physical_batch: int = 256
    audits: tuple = ()
    noise_presets: dict = field(default_factory=dict)
    randomness: str = "secure"
    reproducible_noise: bool = False
    allow_large_delta: bool = False

    def __post_init__(self):
        self._validate()

    # -- validation (each message names the key) ----------------------------------------------
    def _validate(self) -> None:
        set_ = object.__setattr__
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"name must be a non-empty string; got {self.name!r}")
        set_(self, "datasets", tuple(check_list(self.datasets, "datasets", item=_check_dataset)))
        labels = [dataset_label(d) for d in self.datasets]
        for i, label in enumerate(labels):
            if label in labels[:i]:
                raise ValueError(f"datasets[{labels.index(label)}] and datasets[{i}] are both labelled {label!r}; "
                                 "give one a distinct label = '...'")
        models = tuple(check_list(self.models, "models", unique=True,
                                  item=lambda m, where: check_choice(m, where, MODEL_FAMILIES)))
        set_(self, "models", models)
        set_(self, "epsilons", tuple(_check_epsilons(self.epsilons)))
        check_probability(self.delta, "delta", low_open=True, high_open=True)
        check_probability(self.sample_rate, "sample_rate", low_open=True)
        for key in ("max_grad_norm", "epochs", "learning_rate"):
            check_scalar(getattr(self, key), key, low=0.0, low_open=True)
        set_(self, "seeds", tuple(_check_seeds(self.seeds)))
        check_choice(self.optimizer, "optimizer", OPTIMIZERS)
        for key in ("qubits", "layers", "max_physical_batch"):
            check_count(getattr(self, key), key, minimum=1)
        check_count(self.data_seed, "data_seed")
        if not isinstance(self.noise_presets, dict):
            raise ValueError(f"noise_presets must be a table of name = preset string; got {self.noise_presets!r}")
        for name, spec in self.noise_presets.items():
            try:
                parse_noise(spec)
            except ValueError as e:
                raise ValueError(f"noise_presets.{name}: {e}") from None
        if not isinstance(self.noise, str):
            raise ValueError(f"noise must be a device-noise preset string; got {self.noise!r}")
        set_(self, "noise", self.noise_presets.get(self.noise, self.noise))
        try:
            parse_noise(self.noise)
        except ValueError as e:
            raise ValueError(f"noise: {e}") from None
        if any(m.endswith("-noisy") for m in models) and not parse_noise(self.noise):
            raise ValueError("noise is 'none' but models has noisy quantum models: give a device-noise preset")
        set_(self, "large_mlp_hidden", tuple(check_list(self.large_mlp_hidden, "large_mlp_hidden",
                                                        item=lambda h, where: check_count(h, where, minimum=1))))
        audits = tuple(check_list(self.audits, "audits", unique=True, empty_ok=True,
                                  item=lambda a, where: check_choice(a, where, AUDIT_MECHANISMS)))
        if "device-noise" in audits and not parse_noise(self.noise):
            raise ValueError("audits: device-noise needs a device-noise preset in noise")
        set_(self, "audits", audits)
        check_choice(self.accountant, "accountant", ACCOUNTANTS)
        check_choice(self.randomness, "randomness", ("secure", "fast"),
                     what="reproducible_noise = true for seeded noise")
        for key in ("reproducible_noise", "allow_large_delta"):
            if not isinstance(getattr(self, key), bool):
                raise ValueError(f"{key} must be true or false; got {getattr(self, key)!r}")

    # -- derived -------------------------------------------------------------------------------
    @property
    def steps(self) -> int:
        """T = max(1, round(epochs / q)), the same for every data set and model."""
        return max(1, round(self.epochs / self.sample_rate))

    def to_dict(self) -> dict:
        """Every setting, JSON-able except that ``inf`` stays a float (see :func:`canonical_json`)."""
        d = asdict(self)
        d["datasets"] = [dict(x) for x in self.datasets]
        for k in ("models", "epsilons", "seeds", "large_mlp_hidden", "audits"):
            d[k] = list(d[k])
        return d

    def fingerprint(self) -> str:
        """Hash of every setting: a results database belongs to exactly one protocol."""
        return digest(self.to_dict())


# -- helpers -------------------------------------------------------------------------------------
def _check_epsilons(values) -> list[float]:
    def epsilon(v, where):
        if isinstance(v, str) and v.strip().lower() in ("inf", "infinity", "∞", "none"):
            return math.inf
        if isinstance(v, float) and v == math.inf:
            return v
        return check_scalar(v, where, low=0.0, low_open=True, what="or 'inf' for non-private")

    return sorted(check_list(values, "epsilons", item=epsilon, unique=True))


def _check_seeds(seeds) -> list[int]:
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ValueError(f"seeds must be a count >= 1 or a list of integers >= 0; got {seeds!r}")
        return list(range(seeds))
    return check_list(seeds, "seeds", item=check_count, unique=True)


def dataset_label(spec: dict) -> str:
    """The data set's name in the report: its ``label``, else its name with its classes
    (``digits-0v1``), else its name."""
    if "label" in spec:
        return spec["label"]
    classes = spec.get("classes")
    if isinstance(classes, (list, tuple)):
        return f"{spec['name']}-{'v'.join(map(str, classes))}"
    return spec["name"]


def _check_dataset(d, where: str) -> dict:
    if isinstance(d, str):
        d = {"name": d}
    if not isinstance(d, dict) or "name" not in d:
        raise ValueError(f"{where} must be a table with a 'name' (one of {list(DATASETS)}); got {d!r}")
    unknown = sorted(set(d) - set(DATASET_KEYS))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; valid keys are {list(DATASET_KEYS)}")
    if d["name"] not in DATASETS:
        raise ValueError(f"{where}.name: unknown data set {d['name']!r}; valid names are {list(DATASETS)}")
    if "label" in d and (not isinstance(d["label"], str) or not d["label"].strip() or "/" in d["label"]):
        raise ValueError(f"{where}.label must be a non-empty string without '/'; got {d['label']!r}")
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}


# -- presets and files ---------------------------------------------------------------------------
_QUICK = {
    "name": "quick",
    "datasets": ({"name": "moons"}, {"name": "digits", "classes": [0, 1], "grid": [1, 4]}),
    "epsilons": (1.0, 4.0, math.inf),
    "seeds": 3,
    "epochs": 10.0,
    "sample_rate": 0.1,
    "audits": ("none", "dpsgd"),
}
_PAPER = {
    "name": "paper",
    "datasets": ({"name": "moons"}, {"name": "circles"}, {"name": "digits", "classes": [0, 1], "grid": [1, 4]},
                 {"name": "digits", "classes": [3, 5], "grid": [1, 4]}),
    "epsilons": (0.5, 1.0, 2.0, 4.0, 8.0, math.inf),
    "seeds": 5,
    "epochs": 20.0,
    "sample_rate": 0.1,
    "audits": ("none", "device-noise", "dpsgd"),
}
#: Named protocols: ``quick`` (the default of ``dpqml compare``) and ``paper`` (the full grid).
PRESETS = {"quick": _QUICK, "paper": _PAPER}
CONFIG_KEYS = tuple(f.name for f in fields(ProtocolConfig))


def preset(name: str):
    """The named preset's :class:`ProtocolConfig` (a :class:`~dpqml.protocol.tabular.TabularConfig`
    for the paper's tabular study, ``paper-tabular`` and ``paper-tabular-clean``)."""
    from .tabular import TABULAR_PRESETS, tabular_preset

    if name in TABULAR_PRESETS:
        return tabular_preset(name)
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; valid presets are {[*PRESETS, *TABULAR_PRESETS]}")
    return ProtocolConfig(**PRESETS[name])


def config_from_dict(raw: dict, source: str = "configuration") -> ProtocolConfig:
    """A validated :class:`ProtocolConfig` from a mapping; ``preset = "quick"`` in it starts from that
    preset. Unknown keys are refused with the list of valid ones."""
    if not isinstance(raw, dict):
        raise ValueError(f"{source}: the top level must be a table of settings; got {type(raw).__name__}")
    raw = dict(raw)
    base = {}
    from .tabular import TABULAR_PRESETS, tabular_config_from_dict

    if raw.get("preset") in TABULAR_PRESETS:  # the paper's tabular study: its own settings
        return tabular_config_from_dict(raw, source)
    if "preset" in raw:
        name = raw.pop("preset")
        if name not in PRESETS:
            raise ValueError(f"{source}: preset: unknown preset {name!r}; valid presets are "
                             f"{[*PRESETS, *TABULAR_PRESETS]}")
        base = dict(PRESETS[name])
    unknown = sorted(set(raw) - set(CONFIG_KEYS))
    if unknown:
        raise ValueError(f"{source}: unknown key(s) {unknown}; valid keys are {['preset', *CONFIG_KEYS]}")
    try:
        return ProtocolConfig(**{**base, **raw})
    except ValueError as e:
        raise ValueError(f"{source}: {e}") from None


def load_config(path) -> ProtocolConfig:
    """Read a protocol from a ``.toml``, ``.yaml`` or ``.yml`` file (see ``docs/compare.md``)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ValueError(f"--config {path}: cannot read it ({e.strerror or e})") from None
    suffix = path.suffix.lower()
    if suffix == ".toml":
        try:
            import tomllib
        except ImportError:  # Python 3.10
            import tomli as tomllib
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ValueError(f"{path}: not valid TOML ({e})") from None
    elif suffix in (".yaml", ".yml"):
        import yaml

        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ValueError(f"{path}: not valid YAML ({e})") from None
    else:
        raise ValueError(f"--config {path}: the file must end in .toml, .yaml or .yml")
    return config_from_dict(raw if raw is not None else {}, str(path))
