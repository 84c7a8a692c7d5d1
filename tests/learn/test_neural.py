"""The neural (mixture-of-ideal-points) personalised reward model: beats the linear one where groups differ
through a covariate interaction, matches it where they do not, and is deterministic, symmetric and a
scikit-learn estimator."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

torch = pytest.importorskip("torch")

from pluralis.errors import ConfigError  # noqa: E402
from pluralis.learn.cv import participant_folds  # noqa: E402
from pluralis.learn.models import PairFeatures, PersonalisedRewardModel, RewardModel, pairwise_accuracy  # noqa: E402
from pluralis.learn.neural import MixtureRewardModel  # noqa: E402
from pluralis.learn.selection import SelectedRewardModel  # noqa: E402


def _halves(pf, seed=0):
    folds = participant_folds(pf.frame["user_id"], 2, seed=seed)
    return pf.take(folds == 0), pf.take(folds == 1)


@pytest.fixture(scope="module")
def xor_split(covariate_pairs):
    return _halves(covariate_pairs("xor", 300, 30, seed=0))


def test_beats_the_linear_model_when_groups_are_a_covariate_interaction(xor_split):
    train, test = xor_split
    bayes = pairwise_accuracy(test.y, test.frame["p_true"].to_numpy())
    linear = PersonalisedRewardModel(covariates=["z1", "z2"]).fit(train)
    glob = RewardModel().fit(train)
    neural = MixtureRewardModel(covariates=["z1", "z2"]).fit(train)
    # z1 * z2 decides the group: linear in z1 and z2, the model cannot tell the groups apart ...
    assert linear.score(test) < glob.score(test) + 0.01
    # ... the mixture weights, a network of the covariates, can
    assert neural.score(test) > linear.score(test) + 0.06
    assert neural.score(test) > bayes - 0.03
    assert neural.log_loss(test) < linear.log_loss(test) - 0.05
    # the two ideal points are the two planted groups: opposite weights on the first feature
    V = neural.prototypes()
    assert sorted(np.sign(V["list"].round(1))) == [-1.0, 1.0] and (V["list"].abs() > 1.2).all()
    assert (V["refusal"] < -1.0).all()
    # and each held-out participant's mixture puts them in their group
    people = test.frame.drop_duplicates("user_id")
    pi = neural.mixture_weights(people)
    in_group = people["z1"].to_numpy() * people["z2"].to_numpy() > 0
    likes = V["list"].to_numpy().argmax()
    assert np.mean((pi[:, likes] > 0.5) == in_group) > 0.85
    # early stopping: the validation split picked an epoch before the cap
    assert 0 < neural.best_epoch_ <= neural.n_epochs_ < neural.max_epochs
    assert {"epoch", "train_log_loss", "validation_log_loss"} <= set(neural.history_.columns)


@pytest.mark.parametrize("kind", ["linear", "none"])
def test_matches_the_linear_model_when_there_is_nothing_nonlinear(covariate_pairs, kind):
    train, test = _halves(covariate_pairs(kind, 240, 25, n_noise=2, seed=1))
    covs = ["z1", "z2", "noise0", "noise1"]
    linear = PersonalisedRewardModel(covariates=covs).fit(train)
    neural = MixtureRewardModel(covariates=covs).fit(train)
    assert abs(neural.score(test) - linear.score(test)) < 0.015
    assert neural.log_loss(test) < linear.log_loss(test) + 0.015


def test_deterministic_seeded_and_threads_restored(covariate_pairs):
    pf = covariate_pairs("xor", 60, 15, seed=2)
    before = torch.get_num_threads()
    m = MixtureRewardModel(covariates=["z1", "z2"], max_epochs=15, random_state=3)
    p1 = clone(m).fit(pf).predict_proba(pf)
    p2 = clone(m).fit(pf).predict_proba(pf)
    np.testing.assert_array_equal(p1, p2)
    p3 = clone(m).set_params(random_state=4).fit(pf).predict_proba(pf)
    assert not np.array_equal(p1, p3)
    assert torch.get_num_threads() == before
    # the global torch RNG is left alone
    torch.manual_seed(123)
    a = torch.rand(1)
    torch.manual_seed(123)
    clone(m).fit(pf)
    assert torch.rand(1).item() == a.item()


def test_symmetric_sklearn_api_and_user_embeddings(covariate_pairs):
    pf = covariate_pairs("linear", 60, 30, seed=5)
    m = MixtureRewardModel(covariates=["z1"], n_prototypes=3, hidden=8, response_hidden=4, max_epochs=10)
    assert clone(m).get_params()["n_prototypes"] == 3
    m.fit(pf)
    p, q = m.predict_proba(pf)[:, 1], m.predict_proba(pf.swap())[:, 1]
    np.testing.assert_allclose(p, 1 - q, atol=1e-6)
    assert set(np.unique(m.predict(pf))) <= {0, 1} and list(m.classes_) == [0, 1]
    assert m.mixture_weights(pf.frame.iloc[:5]).shape == (5, 3)
    assert m.coefficients().index.tolist() == list(pf.feature_names)
    same = PairFeatures.from_arrays(pf.table[:3], pf.table[:3], None, pf.frame.iloc[:3])
    np.testing.assert_allclose(m.predict_proba(same)[:, 1], 0.5)
    # rewards: personal, and only differences matter
    r = m.reward(pf.table[:4], pf.frame.iloc[:4])
    r0 = m.reward(pf.table[:1], pf.frame.iloc[:1])
    assert r[0] == pytest.approx(r0[0], abs=1e-5)
    # participant embeddings: only participants seen in training get one
    e = MixtureRewardModel(covariates=[], user_embedding=True, max_epochs=5).fit(pf)
    assert len(e.user_index_) == 60
    new = pd.DataFrame({"user_id": ["stranger"]})
    np.testing.assert_allclose(e.mixture_weights(new), e.mixture_weights(pd.DataFrame({"user_id": ["other"]})))


def test_selector_prefers_the_neural_model_only_where_it_helps(covariate_pairs):
    cands = {
        "global": RewardModel(),
        "linear": PersonalisedRewardModel(covariates=["z1", "z2"]),
        "neural": MixtureRewardModel(covariates=["z1", "z2"], max_epochs=40),
    }
    xor = covariate_pairs("xor", 150, 20, seed=6)
    sel = SelectedRewardModel(candidates=cands, cv=2).fit(xor)
    assert sel.chosen_ == "neural"
    none = covariate_pairs("none", 150, 20, seed=6)
    assert SelectedRewardModel(candidates=cands, cv=2).fit(none).chosen_ == "global"


def test_clear_errors_and_torch_imported_lazily(covariate_pairs):
    pf = covariate_pairs("none", 10, 5, seed=7)
    with pytest.raises(ConfigError, match="not fitted"):
        MixtureRewardModel(covariates=["z1"]).predict_proba(pf)
    with pytest.raises(ConfigError, match="n_prototypes"):
        MixtureRewardModel(covariates=["z1"], n_prototypes=0).fit(pf)
    with pytest.raises(ConfigError, match="no participant covariates"):
        MixtureRewardModel().fit(pf)
    with pytest.raises(ConfigError, match="validation fraction"):
        MixtureRewardModel(covariates=["z1"], validation_fraction=1.5).fit(pf)
    code = "import sys, pluralis.learn.neural, pluralis.learn.selection; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
