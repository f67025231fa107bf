"""Transforms fitted to data (standardization, PCA, min-max), guarded against private data.

A scaler or a PCA fitted on the private training set leaks it: its mean, variance or
principal directions depend on every private example, and DP-SGD's guarantee covers only the
noisy gradients, not these statistics (DESIGN.md, DP-SGD pitfall 8). So every ``fit`` here
takes a mandatory declaration ``fitted_on="public" | "private"`` and refuses
``fitted_on="private"`` while ``dp=True`` (the default)::

    public, private = public_split(ds, n_public=100, seed=0)   # examples you may publish
    pca = PCA(n_components=4).fit(public.x_train, fitted_on="public")
    z_train = pca.transform(private.x_train)                    # train (with DP) on these

    PCA(4).fit(ds.x_train, fitted_on="private")                 # ValueError: leaks
    PCA(4).fit(ds.x_train, fitted_on="private", dp=False)       # fine for a non-private baseline

The declaration is a promise the library cannot check: ``fitted_on="public"`` must only be
said of data that really is public. Outputs of :class:`StandardScaler` and :class:`PCA` are
unbounded; follow them with :func:`dpqml.data.transforms.scale_to_angles` (a declared box,
``clip=True``) before an angle encoding.
"""

from __future__ import annotations

import numpy as np

from .transforms import check_range

FITTED_ON = ("public", "private")


class FittedTransform:
    """Base class: ``fit(x, *, fitted_on, dp=True)``, ``transform(x)``, ``fit_transform``."""

    #: the statistics a subclass estimates, named in the refusal message
    statistics = "statistics"

    def __init__(self):
        self.fitted_on: str | None = None

    def _check_fit(self, x, fitted_on: str, dp: bool) -> np.ndarray:
        if fitted_on not in FITTED_ON:
            raise ValueError(
                f"fitted_on must be one of {list(FITTED_ON)} (declare where the fitting data comes from); "
                f"got {fitted_on!r}"
            )
        if fitted_on == "private" and dp:
            name = type(self).__name__
            raise ValueError(
                f"refusing to fit {name} on private data while DP is on: fitting on the private training set "
                f"leaks it (its {self.statistics} depend on every private example and are not covered by ε). "
                f"Fit on a declared public split instead: `public, private = public_split(ds, n_public=..., "
                f"seed=...)`, then `{name}(...).fit(public.x_train, fitted_on='public')` and train on "
                f"private.x_train; or use a fixed, data-independent transform (average_pool, scale_to_angles). "
                f"Pass dp=False only for a non-private baseline."
            )
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
            raise ValueError(f"x must be a non-empty 2-D array (n_examples, n_features); got shape {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("x contains NaN or infinite values; cannot fit on them")
        return x

    def fit(self, x, *, fitted_on: str, dp: bool = True):
        """Estimate the transform from ``x`` ``(n_examples, n_features)``; returns ``self``.

        Args:
            fitted_on: ``"public"`` or ``"private"``: where ``x`` comes from (no default: say it).
            dp: whether the model trained on the output is trained with DP. With ``dp=True``,
                ``fitted_on="private"`` raises ValueError.
        """
        x = self._check_fit(x, fitted_on, dp)
        self._fit(x)
        self.fitted_on = fitted_on
        return self

    def transform(self, x) -> np.ndarray:
        """Apply the fitted transform to ``(n_examples, n_features)`` features."""
        if self.fitted_on is None:
            raise ValueError(f"{type(self).__name__} is not fitted; call fit(x, fitted_on='public') first")
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features_in:
            raise ValueError(
                f"x must have shape (n_examples, {self.n_features_in}) as in fit; got shape {x.shape}"
            )
        return self._transform(x)

    def fit_transform(self, x, *, fitted_on: str, dp: bool = True) -> np.ndarray:
        """``fit(x, fitted_on=..., dp=...)`` then ``transform(x)``."""
        return self.fit(x, fitted_on=fitted_on, dp=dp).transform(x)

    def _fit(self, x: np.ndarray) -> None:
        raise NotImplementedError

    def _transform(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class StandardScaler(FittedTransform):
    """``(x - mean) / std`` per feature; a feature with zero std is only centred."""

    statistics = "per-feature means and standard deviations"

    def _fit(self, x):
        self.n_features_in = x.shape[1]
        self.mean_ = x.mean(axis=0)
        std = x.std(axis=0)
        self.scale_ = np.where(std > 0, std, 1.0)

    def _transform(self, x):
        return (x - self.mean_) / self.scale_


class MinMaxScaler(FittedTransform):
    """Maps the fitted per-feature ``[min, max]`` onto ``feature_range`` (default ``(0, π)``).

    Values outside the fitted range are clipped, so the output always lies in
    ``feature_range``, a bounded domain declared up front.
    """

    statistics = "per-feature minima and maxima"

    def __init__(self, feature_range=(0.0, np.pi)):
        super().__init__()
        self.feature_range = check_range(feature_range, "feature_range")

    def _fit(self, x):
        self.n_features_in = x.shape[1]
        self.data_min_ = x.min(axis=0)
        self.data_max_ = x.max(axis=0)

    def _transform(self, x):
        lo, hi = self.feature_range
        span = np.where(self.data_max_ > self.data_min_, self.data_max_ - self.data_min_, 1.0)
        u = np.clip((x - self.data_min_) / span, 0.0, 1.0)
        return lo + u * (hi - lo)


class PCA(FittedTransform):
    """Projection onto the top ``n_components`` principal directions: ``(x - mean) @ components_.T``.

    ``components_``: ``(n_components, n_features)``, orthonormal rows, by decreasing variance;
    each row's sign is fixed so that its largest-magnitude entry is positive.
    """

    statistics = "mean and principal directions"

    def __init__(self, n_components: int):
        super().__init__()
        if isinstance(n_components, bool) or not isinstance(n_components, (int, np.integer)) or n_components < 1:
            raise ValueError(f"n_components must be an integer >= 1; got {n_components!r}")
        self.n_components = int(n_components)

    def _fit(self, x):
        n, d = x.shape
        if self.n_components > min(n, d):
            raise ValueError(
                f"n_components={self.n_components} exceeds min(n_examples, n_features) = min({n}, {d})"
            )
        self.n_features_in = d
        self.mean_ = x.mean(axis=0)
        _, s, vt = np.linalg.svd(x - self.mean_, full_matrices=False)
        comps = vt[: self.n_components]
        signs = np.sign(comps[np.arange(len(comps)), np.argmax(np.abs(comps), axis=1)])
        self.components_ = comps * signs[:, None]
        self.explained_variance_ = s[: self.n_components] ** 2 / max(n - 1, 1)

    def _transform(self, x):
        return (x - self.mean_) @ self.components_.T
