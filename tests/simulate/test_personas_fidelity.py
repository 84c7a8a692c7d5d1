"""Fidelity evaluation: simulated vs human feedback per group."""

from __future__ import annotations

import pytest

from pluralis.data.synthetic import generate_study
from pluralis.errors import ConfigError
from pluralis.pipelines.fidelity import fidelity
from pluralis.simulate.replay import replay_ratings


@pytest.fixture(scope="module")
def human():
    return generate_study(150, seed=7)


def test_identical_studies_are_perfectly_faithful(human):
    rep = fidelity(human, human, by=["gender", "age"], min_ratings=10)
    assert rep.summary["mean_kendall_tau"] == pytest.approx(1.0)
    assert rep.summary["mean_wasserstein"] == pytest.approx(0.0)
    assert rep.distributions["ks"].max() == 0 and rep.rankings["same_top"].all()
    assert {"(all)", "gender", "age"} <= set(rep.rankings["by"])


def test_replay_rates_the_same_prompts_for_the_same_groups(human):
    sim = replay_ratings(human, seed=1)
    hu = human.frames().utterances
    assert len(sim.utterances) == int((hu["turn"] == 0).sum())
    assert (sim.survey["source"] == "simulated").all()
    assert sim.survey["gender"].tolist() == human.frames().survey["gender"].tolist()
    assert sim.utterances.groupby("interaction_id")["if_chosen"].sum().eq(1).all()
    rep = fidelity(sim, human, by=["gender"], min_ratings=10)
    assert "restricted to" in rep.notes[0]
    row = rep.distributions.set_index("by").loc["(all)"]
    assert row["n_simulated"] == row["n_human"]
    assert -1 <= rep.summary["overall_kendall_tau"] <= 1


def test_rankings_by_method(human):
    pytest.importorskip("pluralis.ranking.engine")
    rep = fidelity(human, generate_study(150, seed=8), by=["gender"], method="prc", min_ratings=10, same_prompts=False)
    assert rep.summary["method"] == "prc" and rep.rankings["n_models"].min() >= 3
    # two studies from the same latent model agree on the ranking
    assert rep.summary["overall_kendall_tau"] > 0.5


def test_fidelity_bad_inputs(human):
    with pytest.raises(ConfigError, match="no field"):
        fidelity(human, human, by=["shoe_size"])
    with pytest.raises(ConfigError, match="turns"):
        fidelity(human, human, turns="some")
    with pytest.raises(ConfigError):
        fidelity(42, human)
