"""A neural personalised reward model: a mixture of K ideal points (PAL-style), in torch.

:class:`MixtureRewardModel` gives each participant *u* a reward that is a convex combination of K
prototype rewards — K "ideal points" in preference space, as in PAL (Chen et al. 2024, *PAL:
Pluralistic alignment framework*, the inner-product variant) — with **user-specific mixture weights**
computed by a small network from the participant's covariates (and, optionally, a learned embedding
per participant seen in training)::

    f(x)     = [φ(x), GELU(W φ(x) + c)]          response representation (φ alone when response_hidden=0)
    π_u      = softmax(g(z_u) + e_u)             mixture weights; g a one-hidden-layer MLP on covariates
    r_u(x)   = Σ_k π_uk  v_k · f(x)              the participant's reward
    P(a ≻ b) = σ(r_u(a) − r_u(b))

The mixture weights are a *nonlinear* function of the covariates, so the model can express
preferences that depend on covariate interactions (e.g. two groups defined by the sign of
``z1 · z2``), which the linear :class:`~pluralis.learn.models.PersonalisedRewardModel`
(``w + A z``) cannot. ``P(a ≻ b) = 1 − P(b ≻ a)`` holds by construction.

Training: Adam on mini-batches of the pairs (cross-entropy, ties count half each way), with a
penalty ``alpha_spread`` pulling the prototypes towards their mean (no spread = the global model)
and weight decay on the network; **early stopping on a participant-disjoint validation split**
(``validation_fraction`` of the participants, never seen in training), then (``refit=True``) the
same network is retrained on all pairs for the chosen number of epochs. The prototypes start at the
global Bradley–Terry solution (:class:`~pluralis.learn.models.RewardModel`) plus small seeded noise,
so the model starts where the global model ends and moves away only as far as held-out participants
reward it. Everything is seeded (initialisation under :func:`torch.random.fork_rng`, batch order from
numpy), so fits are deterministic on CPU; small problems run on one thread (``n_threads``).

torch (the ``[train]`` extra; the CPU build is enough) is imported only when a model is fitted or used;
the package imports without it.

Example
-------
>>> rng = np.random.default_rng(0)
>>> n_users, per = 200, 30
>>> z1, z2 = rng.normal(size=(2, n_users))
>>> likes = z1 * z2 > 0                                   # the group is an interaction of two covariates
>>> user = np.repeat(np.arange(n_users), per)
>>> pa, pb = rng.integers(0, 2, (2, n_users * per, 2)).astype(float)
>>> w = np.where(likes[user, None], [2.5, -1.0], [-2.5, -1.0])
>>> y = (rng.random(len(user)) < 1 / (1 + np.exp(-np.sum(w * (pa - pb), axis=1)))).astype(float)
>>> frame = pd.DataFrame({"user_id": user.astype(str), "z1": z1[user], "z2": z2[user]})
>>> pf = PairFeatures.from_arrays(pa, pb, y, frame, feature_names=["list", "refusal"])
>>> m = MixtureRewardModel(covariates=["z1", "z2"], max_epochs=60).fit(pf)
>>> bool(m.score(pf) > 0.75), m.n_epochs_ > 0
(True, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from pluralis.errors import ConfigError
from pluralis.learn.cv import participant_holdout
from pluralis.learn.models import (
    DEFAULT_COVARIATES,
    CovariateEncoder,
    PairFeatures,
    RewardModel,
    _PairwiseModel,
    _rms_scale,
    _standardizes,
    _user_rows,
)

#: Problems with at most this many (pairs × parameters) train on one thread (no oversubscription).
SINGLE_THREAD_MAX_WORK = 50_000_000

_PREDICT_CHUNK = 65_536


def _torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch ships with the [train] extra
        raise ConfigError(
            "MixtureRewardModel needs torch: pip install 'pluralis[train]' (the CPU build is enough)"
        ) from exc
    return torch


def _build_net(torch, d: int, k: int, n_prototypes: int, hidden: int, response_hidden: int, n_users: int):
    """The torch module (built lazily so that importing this module does not import torch)."""
    nn: Any = torch.nn

    class MixtureNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.trunk = nn.Sequential(nn.Linear(d, response_hidden), nn.GELU()) if response_hidden else None
            self.prototypes = nn.Parameter(torch.zeros(n_prototypes, d + response_hidden))
            if k:
                self.gate = nn.Sequential(nn.Linear(k, hidden), nn.Tanh(), nn.Linear(hidden, n_prototypes))
            else:
                self.gate = None
                self.gate_bias = nn.Parameter(torch.zeros(n_prototypes))
            # row n_users: participants not seen in training (kept at zero)
            self.user = nn.Embedding(n_users + 1, n_prototypes, padding_idx=n_users) if n_users else None

        def represent(self, x):
            return torch.cat([x, self.trunk(x)], dim=1) if self.trunk is not None else x

        def mixture(self, z, u):
            logits = self.gate(z) if self.gate is not None else self.gate_bias.expand(len(u), -1)
            if self.user is not None:
                logits = logits + self.user(u)
            return torch.softmax(logits, dim=1)

        def forward(self, xa, xb, z, u):
            delta = self.represent(xa) - self.represent(xb)
            heads = delta @ self.prototypes.T
            return (self.mixture(z, u) * heads).sum(dim=1)

    return MixtureNet()


class MixtureRewardModel(_PairwiseModel):
    """Personalised reward as a mixture of K ideal points with covariate-driven weights (module docstring).

    Parameters
    ----------
    featurizer
        as :class:`~pluralis.learn.models.RewardModel` (text features or sentence embeddings).
    covariates
        participant columns for the mixture weights (default: :data:`~pluralis.learn.models.DEFAULT_COVARIATES`
        present); ``[]`` with ``user_embedding=True`` uses the embeddings alone.
    n_prototypes
        K, the number of ideal points.
    hidden
        hidden units of the covariate network ``g``.
    user_embedding
        also learn mixture logits per participant seen in training (zero for new participants).
    response_hidden
        hidden units of the response representation (0: the features themselves, a linear reward per prototype).
    alpha
        L2 penalty of the global model the prototypes start from.
    alpha_spread
        penalty on the prototypes' spread around their mean, per pair (larger = closer to one global reward).
    weight_decay
        L2 weight decay of the networks (Adam); ``alpha_users`` that of the user embeddings.
    learning_rate, batch_size, max_epochs, patience
        Adam step size, mini-batch size, epoch cap and early-stopping patience (epochs without
        a better validation log-loss).
    validation_fraction
        share of participants held out for early stopping (``None``: train ``max_epochs`` epochs).
    refit
        retrain on all pairs for the best number of epochs after early stopping.
    standardize
        as :class:`~pluralis.learn.models.RewardModel`.
    random_state
        seed of the initialisation, the validation split and the batch order.
    n_threads
        torch threads while fitting / predicting (``None``: one for small problems, else torch's default).

    Attributes
    ----------
    net_ : the fitted torch module; ``n_epochs_`` epochs trained; ``best_epoch_``; ``history_`` (DataFrame
        of train / validation log-loss per epoch); ``validation_log_loss_``; ``encoder_`` (covariates);
        ``scale_``; ``user_index_`` (participants with an embedding).

    See Also
    --------
    pluralis.learn.models.PersonalisedRewardModel : the linear personalised model.

    Example
    -------
    >>> rng = np.random.default_rng(1)
    >>> frame = pd.DataFrame({"user_id": np.repeat(np.arange(40), 20).astype(str),
    ...                       "group": np.repeat(rng.choice(["a", "b"], 40), 20)})
    >>> pa, pb = rng.normal(size=(2, 800, 3))
    >>> y = (rng.random(800) < 1 / (1 + np.exp(-(pa - pb) @ [1.0, -1.0, 0.0]))).astype(float)
    >>> m = MixtureRewardModel(covariates=["group"], max_epochs=20).fit(PairFeatures.from_arrays(pa, pb, y, frame))
    >>> p = m.predict_proba(PairFeatures.from_arrays(pa[:2], pb[:2], None, frame.iloc[:2]))
    >>> np.allclose(p.sum(axis=1), 1.0), m.mixture_weights(frame.iloc[:1]).shape
    (True, (1, 2))
    """

    _fitted_attribute = "net_"

    def __init__(
        self,
        featurizer=None,
        covariates: Sequence[str] | None = None,
        n_prototypes: int = 2,
        hidden: int = 16,
        user_embedding: bool = False,
        response_hidden: int = 0,
        alpha: float = 1.0,
        alpha_spread: float = 1e-3,
        weight_decay: float = 1e-4,
        alpha_users: float = 1e-2,
        learning_rate: float = 0.02,
        batch_size: int = 256,
        max_epochs: int = 200,
        patience: int = 10,
        validation_fraction: float | None = 0.2,
        refit: bool = True,
        standardize: bool | str = "auto",
        random_state: int = 0,
        n_threads: int | None = None,
    ):
        self.featurizer = featurizer
        self.covariates = covariates
        self.n_prototypes = n_prototypes
        self.hidden = hidden
        self.user_embedding = user_embedding
        self.response_hidden = response_hidden
        self.alpha = alpha
        self.alpha_spread = alpha_spread
        self.weight_decay = weight_decay
        self.alpha_users = alpha_users
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.refit = refit
        self.standardize = standardize
        self.random_state = random_state
        self.n_threads = n_threads

    # --- inputs ------------------------------------------------------------------------------------

    def _check_params(self) -> None:
        for name in ("n_prototypes", "hidden", "batch_size", "max_epochs", "patience"):
            v = getattr(self, name)
            if not (isinstance(v, (int, np.integer)) and v >= 1):
                raise ConfigError(f"{name} must be a positive integer, got {v!r}")
        if not (isinstance(self.response_hidden, (int, np.integer)) and self.response_hidden >= 0):
            raise ConfigError(f"response_hidden must be a non-negative integer, got {self.response_hidden!r}")
        for name in ("alpha", "alpha_spread", "weight_decay", "alpha_users"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v >= 0):
                raise ConfigError(f"{name} must be a non-negative number, got {v!r}")
        if not (np.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ConfigError(f"learning_rate must be positive, got {self.learning_rate!r}")

    def _covariate_columns(self, frame: pd.DataFrame) -> list[str]:
        if self.covariates is None:
            cols = [c for c in DEFAULT_COVARIATES if c in frame.columns]
            if not cols and not self.user_embedding:
                raise ConfigError(
                    "no participant covariates in the pairs (attach the survey) — name them with covariates=[...] "
                    "or use user_embedding=True"
                )
            return cols
        cols = [self.covariates] if isinstance(self.covariates, str) else list(self.covariates)
        if not cols and not self.user_embedding:
            raise ConfigError("covariates is empty and user_embedding is off: use RewardModel for a global model")
        return cols

    def _design(self, pf: PairFeatures) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(standardised table, covariates per pair, user index per pair) for fitted transforms."""
        table = (np.asarray(pf.table, dtype=np.float64) / self.scale_).astype(np.float32)
        codes, firsts = _user_rows(pf.frame)
        if self.encoder_ is not None:
            Z = self.encoder_.transform(firsts)[codes].astype(np.float32)
        else:
            Z = np.zeros((len(pf), 0), dtype=np.float32)
        n_known = len(self.user_index_)
        if n_known and "user_id" in pf.frame.columns:
            pos = self.user_index_.get_indexer(pd.Index(pf.frame["user_id"].astype(str)))
            u = np.where(pos >= 0, pos, n_known)
        else:
            u = np.full(len(pf), n_known)
        return table, Z, u.astype(np.int64), np.column_stack([pf.ia, pf.ib])

    # --- fitting -----------------------------------------------------------------------------------

    def _threads(self, work: float) -> int | None:
        if self.n_threads is not None:
            if int(self.n_threads) < 1:
                raise ConfigError(f"n_threads must be a positive integer, got {self.n_threads!r}")
            return int(self.n_threads)
        return 1 if work <= SINGLE_THREAD_MAX_WORK else None

    def _new_net(self, torch, d: int, k: int, n_users: int, w0: np.ndarray):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(self.random_state))
            net = _build_net(torch, d, k, int(self.n_prototypes), int(self.hidden), int(self.response_hidden), n_users)
            noise = torch.randn(int(self.n_prototypes), d) * (0.1 * float(np.sqrt(np.mean(w0**2))) + 0.05)
            with torch.no_grad():
                net.prototypes[:, :d] = torch.as_tensor(w0, dtype=torch.float32)[None, :] + noise
                if net.gate is not None:
                    net.gate[-1].weight.mul_(0.1)
                    net.gate[-1].bias.zero_()
        return net

    def _train(self, torch, net, data, train_rows, val_rows, n_epochs: int, *, early_stop: bool):
        table, Z, u, idx, y, s = data
        T = torch.as_tensor(table)
        Zt, ut = torch.as_tensor(Z), torch.as_tensor(u)
        ia, ib = torch.as_tensor(idx[:, 0]), torch.as_tensor(idx[:, 1])
        yt = torch.as_tensor(y, dtype=torch.float32)
        st = torch.as_tensor(s, dtype=torch.float32)
        groups: list[dict[str, Any]] = [{"params": [net.prototypes], "weight_decay": 0.0}]
        other = [p for n, p in net.named_parameters() if n != "prototypes" and not n.startswith("user.")]
        groups.append({"params": other, "weight_decay": float(self.weight_decay)})
        if net.user is not None:
            groups.append({"params": list(net.user.parameters()), "weight_decay": float(self.alpha_users)})
        opt = torch.optim.Adam(groups, lr=float(self.learning_rate))
        rng = np.random.default_rng(int(self.random_state))
        bs = int(self.batch_size)
        n_tr = len(train_rows)
        decisive_val = val_rows[y[val_rows] != 0.5] if val_rows is not None else None
        history, best, best_epoch, best_state, waited = [], np.inf, 0, None, 0

        def loss_on(rows):
            r = torch.as_tensor(rows)
            m = net(T[ia[r]], T[ib[r]], Zt[r], ut[r])
            ll = torch.nn.functional.binary_cross_entropy_with_logits(m, yt[r], weight=st[r], reduction="sum")
            return ll / st[r].sum().clamp_min(1e-12)

        for epoch in range(1, n_epochs + 1):
            net.train()
            order = train_rows[rng.permutation(n_tr)]
            total = 0.0
            for start in range(0, n_tr, bs):
                rows = order[start : start + bs]
                opt.zero_grad()
                loss = loss_on(rows)
                P = net.prototypes
                spread = ((P - P.mean(dim=0, keepdim=True)) ** 2).sum()
                (loss + float(self.alpha_spread) * spread).backward()
                opt.step()
                total += float(loss.detach()) * len(rows)
            row = {"epoch": epoch, "train_log_loss": total / max(n_tr, 1)}
            if decisive_val is not None and len(decisive_val):
                net.eval()
                with torch.no_grad():
                    v = float(loss_on(decisive_val))
                row["validation_log_loss"] = v
                if v < best - 1e-5:
                    best, best_epoch, waited = v, epoch, 0
                    best_state = {k: t.detach().clone() for k, t in net.state_dict().items()}
                else:
                    waited += 1
            history.append(row)
            if early_stop and waited >= int(self.patience):
                break
        if best_state is not None:
            net.load_state_dict(best_state)
        return pd.DataFrame(history), (best_epoch or len(history)), best

    def fit(self, X, y=None, sample_weight=None) -> MixtureRewardModel:
        """Fit on pairs carrying ``user_id`` and the covariate columns (see the class docstring)."""
        self._check_params()
        torch = _torch()
        pf = self._features(X, fitting=True)
        y = self._targets(pf, y)
        s = np.ones(len(pf)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        if len(s) != len(pf) or (s < 0).any() or not np.isfinite(s).all():
            raise ConfigError("sample_weight must be one non-negative number per pair")
        cols = self._covariate_columns(pf.frame)
        codes, firsts = _user_rows(pf.frame)
        self.encoder_ = CovariateEncoder(cols).fit(firsts) if cols else None
        D = pf.diff().astype(np.float64)
        self.scale_ = _rms_scale(D, s) if _standardizes(self.standardize, pf) else np.ones(D.shape[1])
        if self.user_embedding:
            if "user_id" not in pf.frame.columns:
                raise ConfigError("user_embedding=True needs a user_id column in the pairs")
            self.user_index_ = pd.Index(firsts["user_id"].astype(str).to_numpy(), name="user_id")
        else:
            self.user_index_ = pd.Index([], name="user_id", dtype=object)
        table, Z, u, idx = self._design(pf)
        data = (table, Z, u, idx, y, s)
        d, k, nu = table.shape[1], Z.shape[1], len(self.user_index_)
        rows = np.arange(len(pf))
        val = None
        if self.validation_fraction is not None:
            val_mask = participant_holdout(codes, float(self.validation_fraction), seed=int(self.random_state))
            val = rows[val_mask]
            train = rows[~val_mask]
        else:
            train = rows
        n_params = int(self.n_prototypes) * (d + int(self.response_hidden)) + (k + 1) * int(self.hidden)
        threads = self._threads(float(len(pf)) * max(n_params, d))
        before = torch.get_num_threads()
        try:
            if threads is not None:
                torch.set_num_threads(threads)
            # the global Bradley-Terry solution, on the training rows (standardised units)
            w0 = RewardModel(alpha=self.alpha, standardize=False).fit(
                PairFeatures(table.astype(np.float64), idx[train, 0], idx[train, 1], y[train]),
                sample_weight=s[train],
            )
            net = self._new_net(torch, d, k, nu, w0.coef_)
            history, best_epoch, best = self._train(
                torch, net, data, train, val, int(self.max_epochs), early_stop=val is not None
            )
            if self.refit and val is not None:
                w_all = RewardModel(alpha=self.alpha, standardize=False).fit(
                    PairFeatures(table.astype(np.float64), idx[:, 0], idx[:, 1], y), sample_weight=s
                )
                net = self._new_net(torch, d, k, nu, w_all.coef_)
                self._train(torch, net, data, rows, None, best_epoch, early_stop=False)
            net.eval()
        finally:
            torch.set_num_threads(before)
        self.net_ = net
        first = np.unique(codes, return_index=True)[1]  # one row per training participant
        with torch.no_grad():
            pi = net.mixture(torch.as_tensor(Z[first]), torch.as_tensor(u[first]))
        self.mean_mixture_ = pi.numpy().mean(axis=0).astype(np.float64)
        self.history_ = history
        self.best_epoch_ = int(best_epoch)
        self.n_epochs_ = int(len(history))
        self.validation_log_loss_ = float(best) if np.isfinite(best) else None
        res = SimpleNamespace(nit=self.n_epochs_, success=True, fun=float(history["train_log_loss"].iloc[-1]))
        self._finish_fit(pf, res)
        return self

    # --- prediction --------------------------------------------------------------------------------

    def _run(self, fn):
        torch = _torch()
        before = torch.get_num_threads()
        threads = self._threads(0.0)
        try:
            if threads is not None:
                torch.set_num_threads(threads)
            with torch.no_grad():
                return fn(torch)
        finally:
            torch.set_num_threads(before)

    def decision_function(self, X) -> np.ndarray:
        """Personal reward margin ``r_u(a) − r_u(b)`` of each pair."""
        pf = self._features(X, fitting=False)
        table, Z, u, idx = self._design(pf)

        def go(torch):
            T = torch.as_tensor(table)
            out = []
            for start in range(0, len(pf), _PREDICT_CHUNK):
                sl = slice(start, start + _PREDICT_CHUNK)
                ia, ib = torch.as_tensor(idx[sl, 0]), torch.as_tensor(idx[sl, 1])
                m = self.net_(T[ia], T[ib], torch.as_tensor(Z[sl]), torch.as_tensor(u[sl]))
                out.append(m.numpy().astype(np.float64))
            return np.concatenate(out) if out else np.zeros(0)

        return self._run(go)

    def _participants(self, covariates: pd.DataFrame | dict, user_id=None) -> tuple[np.ndarray, np.ndarray]:
        frame = pd.DataFrame([covariates]) if isinstance(covariates, dict) else covariates.reset_index(drop=True)
        if self.encoder_ is not None:
            Z = self.encoder_.transform(frame).astype(np.float32)
        else:
            Z = np.zeros((len(frame), 0), dtype=np.float32)
        n_known = len(self.user_index_)
        ids = user_id if user_id is not None else (frame["user_id"] if "user_id" in frame.columns else None)
        if n_known and ids is not None:
            ids = pd.Series(np.broadcast_to(np.asarray(ids, dtype=object), (len(frame),))).astype(str)
            pos = self.user_index_.get_indexer(pd.Index(ids))
            u = np.where(pos >= 0, pos, n_known)
        else:
            u = np.full(len(frame), n_known)
        return Z, u.astype(np.int64)

    def mixture_weights(self, covariates: pd.DataFrame | dict, user_id=None) -> np.ndarray:
        """Each participant's mixture weights ``π_u`` over the K ideal points, ``(n_rows, K)``.

        ``covariates``: a frame (or one dict) with the covariate columns; ``user_id`` (a column by
        default) adds the embeddings of participants seen in training.

        Example
        -------
        >>> rng = np.random.default_rng(2)
        >>> f = pd.DataFrame({"user_id": np.repeat(np.arange(20), 10).astype(str), "z": np.repeat(rng.normal(size=20), 10)})
        >>> pa, pb = rng.normal(size=(2, 200, 2))
        >>> m = MixtureRewardModel(covariates=["z"], max_epochs=3).fit(PairFeatures.from_arrays(pa, pb, pa[:, 0] > pb[:, 0], f))
        >>> np.allclose(m.mixture_weights({"z": 0.3}).sum(axis=1), 1.0)
        True
        """
        if not hasattr(self, "net_"):
            raise ConfigError("this MixtureRewardModel is not fitted yet: call fit() first")
        Z, u = self._participants(covariates, user_id)
        return self._run(lambda torch: self.net_.mixture(torch.as_tensor(Z), torch.as_tensor(u)).numpy()).astype(
            np.float64
        )

    def prototypes(self) -> pd.DataFrame:
        """The K ideal points' reward weights on the input features (original units), one row each.

        With ``response_hidden > 0`` only the linear (skip) part is shown.

        Example
        -------
        >>> rng = np.random.default_rng(3)
        >>> f = pd.DataFrame({"user_id": np.repeat(np.arange(20), 10).astype(str), "z": np.repeat(rng.normal(size=20), 10)})
        >>> pa, pb = rng.normal(size=(2, 200, 2))
        >>> m = MixtureRewardModel(covariates=["z"], max_epochs=3).fit(PairFeatures.from_arrays(pa, pb, pa[:, 0] > pb[:, 0], f))
        >>> m.prototypes().shape
        (2, 2)
        """
        if not hasattr(self, "net_"):
            raise ConfigError("this MixtureRewardModel is not fitted yet: call fit() first")
        d = self.n_features_in_
        V = self.net_.prototypes.detach().numpy().astype(np.float64)[:, :d] / self.scale_[None, :]
        return pd.DataFrame(V, columns=list(self.feature_names_in_), index=pd.RangeIndex(len(V), name="prototype"))

    def weights_for(self, covariates: pd.DataFrame | dict, user_id=None) -> np.ndarray:
        """Each row's personal linear reward weights ``Σ_k π_k v_k`` (original units), ``(n_rows, n_features)``."""
        return self.mixture_weights(covariates, user_id) @ self.prototypes().to_numpy()

    def coefficients(self) -> pd.Series:
        """The average training participant's linear reward weights (cf. ``RewardModel.coefficients``)."""
        V = self.prototypes().to_numpy()
        return pd.Series(self.mean_mixture_ @ V, index=list(self.feature_names_in_), name="coef")

    def reward(self, texts, covariates: pd.DataFrame | dict, user_id=None) -> np.ndarray:
        """Personal reward ``r_u(x)`` of each response for the participant(s) described by ``covariates``
        (one row per text, or a single row / dict for all)."""
        phi = (self._phi(texts) / self.scale_).astype(np.float32)
        Z, u = self._participants(covariates, user_id)
        if len(Z) not in (1, len(phi)):
            raise ConfigError(f"{len(Z)} covariate rows for {len(phi)} responses")

        def go(torch):
            f = self.net_.represent(torch.as_tensor(phi))
            pi = self.net_.mixture(torch.as_tensor(Z), torch.as_tensor(u))
            heads = f @ self.net_.prototypes.T
            return (pi * heads).sum(dim=1).numpy()

        return self._run(go).astype(np.float64)
