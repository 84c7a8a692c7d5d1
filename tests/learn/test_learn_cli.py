"""CLI: ``pluralis learn`` on PRISM files and a store; clear errors."""

from __future__ import annotations

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from pluralis.cli.learn import register

runner = CliRunner()


@pytest.fixture(scope="module")
def app():
    a = typer.Typer()

    @a.callback()
    def main():  # a command group, as the real `pluralis` app
        pass

    register(a)
    return a


@pytest.fixture(scope="module")
def study():
    from pluralis.data.synthetic import generate_study

    return generate_study(n_participants=160, seed=4, with_metadata=False)


@pytest.fixture(scope="module")
def folder(tmp_path_factory, study):
    from pluralis.data import write_prism

    path = tmp_path_factory.mktemp("learn") / "prism"
    write_prism(study, path)
    return path


def test_learn_by_gender_writes_tables_and_plots(app, folder, tmp_path):
    out = tmp_path / "results"
    r = runner.invoke(
        app,
        [
            "learn",
            str(folder),
            "--by",
            "gender",
            "--folds",
            "3",
            "--bootstrap",
            "30",
            "--weights-bootstrap",
            "10",
            "--composition",
            "Female,Male",
            "--shares",
            "0,0.5,1",
            "--out",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "Pairwise accuracy on held-out participants" in r.output and "Reward weights per group" in r.output
    assert "left out (too few participants)" in r.output  # the few non-binary participants
    for name in (
        "cross_group.csv",
        "cross_group_accuracy.csv",
        "cross_group_log_loss.csv",
        "cross_group_accuracy.png",
        "reward_weights.csv",
        "composition.csv",
        "composition.png",
    ):
        assert (out / name).stat().st_size > 0, name
    t = pd.read_csv(out / "cross_group.csv")
    assert set(t.train_group) == {"Female", "Male", "(all)"} and set(t.eval_group) == {"Female", "Male"}
    assert t.accuracy.between(0.55, 0.8).all() and (t.by == "gender").all()
    m = pd.read_csv(out / "cross_group_accuracy.csv", index_col=0)
    assert m.shape == (3, 2)
    # the synthetic study's response-style effects (signs of PRISM Tab. 27) are recovered in every group
    w = pd.read_csv(out / "reward_weights.csv").pivot(index="feature", columns="group", values="coef")
    assert (w.loc["if_refusal"] < 0).all() and (w.loc["if_line_breaks"] < 0).all()
    assert (w.loc["if_enumeration"] > 0).all() and (w.loc["log_length"] > 0).all()
    c = pd.read_csv(out / "composition.csv")
    assert sorted(c.share_a.unique()) == [0.0, 0.5, 1.0] and set(c.eval_group) == {"Female", "Male", "(all)"}


def test_learn_from_a_store_with_the_personalised_model(app, study, tmp_path):
    from pluralis.store import Store

    db = tmp_path / "study.sqlite"
    with Store.open(db) as store:
        store.import_study(study)
    out = tmp_path / "p"
    r = runner.invoke(
        app,
        [
            "learn",
            str(db),
            "--by",
            "conversation_type",
            "--model",
            "personalised",
            "--covariates",
            "stated_prefs_safety,age",
            "--folds",
            "3",
            "--bootstrap",
            "10",
            "--feature-set",
            "all",
            "--out",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    t = pd.read_csv(out / "cross_group.csv")
    assert set(t.eval_group) == {"unguided", "values guided", "controversy guided"}
    assert not (out / "reward_weights.csv").exists()  # weights tables are for the global reward model


@pytest.mark.parametrize(
    "args, message",
    [
        (["--by", "colour"], "unknown field 'colour'"),
        (["--by", "gender", "--groups", "Female,Non-binary / third gender"], "group 'Non-binary / third gender' has"),
        (["--by", "gender", "--groups", "Female,Martian"], "no pairs for group(s) ['Martian']"),
        (["--by", "gender", "--features", "bag-of-words"], "--features must be 'text', 'embedding' or 'model'"),
        (["--by", "gender", "--feature-set", "fancy"], "unknown feature set 'fancy'"),
        (["--by", "gender", "--composition", "Female"], "--composition takes two groups"),
        (["--by", "gender", "--shares", "0,half"], "--shares must be comma-separated numbers"),
        (["--by", "gender", "--model", "neural"], "--model must be 'reward' or 'personalised'"),
        (["--by", "gender", "--min-participants", "2"], "must be at least the number of folds"),
    ],
)
def test_bad_options_are_clear_errors(app, folder, tmp_path, args, message):
    r = runner.invoke(app, ["learn", str(folder), *args, "--out", str(tmp_path / "x")])
    assert r.exit_code == 2, r.output
    assert message in " ".join(r.output.split())
    assert not (tmp_path / "x" / "cross_group.csv").exists()


def test_missing_data_is_a_clear_error(app, tmp_path):
    r = runner.invoke(app, ["learn", str(tmp_path / "nowhere"), "--by", "gender"])
    assert r.exit_code == 2 and "error" in r.output


def test_learn_with_sentence_embeddings(app, tmp_path):
    from pluralis.data import write_prism
    from pluralis.data.synthetic import generate_study

    folder = tmp_path / "tiny"
    write_prism(generate_study(n_participants=10, seed=5, with_metadata=False, conversations_per_participant=3), folder)
    out = tmp_path / "emb"

    def learn(out_dir):  # the same command each time, into its own folder
        return runner.invoke(
            app,
            [
                "learn",
                str(folder),
                "--by",
                "conversation_type",
                "--features",
                "embedding",
                "--min-participants",
                "2",
                "--folds",
                "2",
                "--bootstrap",
                "10",
                "--out",
                str(out_dir),
                "--cache",
                str(tmp_path / "cache.sqlite"),
            ],
        )

    r = learn(out)
    assert r.exit_code == 0, r.output
    assert "embedding" in r.output and (out / "cross_group_accuracy.png").exists()
    t = pd.read_csv(out / "cross_group.csv")
    assert t.accuracy.notna().all()
    assert "0 cached" in r.output
    # a second run reads every vector from the store's cache and gives the same numbers
    from pluralis.features import embeddings

    embeddings._CACHES.clear()
    out2 = tmp_path / "emb2"
    r2 = learn(out2)
    assert r2.exit_code == 0, r2.output
    assert " 0 computed" in r2.output and "0 cached" not in r2.output
    pd.testing.assert_frame_equal(pd.read_csv(out2 / "cross_group.csv"), t, rtol=1e-6)


def test_an_interrupted_embedding_run_keeps_the_vectors_it_computed(tmp_path, monkeypatch):
    """The encoder runs once over all texts; every EMBED_CHUNK texts reach the store as they come, so a run
    stopped part-way (Ctrl-C) resumes from what it had written."""
    from pluralis.cli import learn as learn_cli
    from pluralis.features import embeddings
    from pluralis.store import EmbeddingCache, Store

    texts = [f"interrupted embedding probe number {i}, " + "word " * (i % 13) for i in range(100)]
    real = embeddings.embed_texts
    batches = []

    def stopped_after_three_batches(todo, **kwargs):
        def on_batch(batch, vectors):
            batches.append(list(batch))
            kwargs["on_batch"](batch, vectors)
            if len(batches) == 3:
                raise KeyboardInterrupt

        return real(todo, **{**kwargs, "on_batch": on_batch, "batch_size": 10, "cache": False})

    monkeypatch.setattr(learn_cli, "EMBED_CHUNK", 20)
    monkeypatch.setattr(embeddings, "embed_texts", stopped_after_three_batches)
    db = str(tmp_path / "cache.sqlite")
    with pytest.raises(KeyboardInterrupt):
        learn_cli.embed_with_cache(texts, "unused", cache=db)
    store = Store.open(db)
    try:
        kept = EmbeddingCache(store).get("all-MiniLM-L6-v2", texts)
    finally:
        store.close()
    # two batches filled a chunk and were written; the third was in hand when the run stopped
    assert sorted(kept) == sorted(batches[0] + batches[1])
    monkeypatch.setattr(embeddings, "embed_texts", real)
    embeddings._CACHES.clear()
    assert learn_cli.embed_with_cache(texts, "unused", cache=db) == {"texts": 100, "cached": 20, "embedded": 80}


def test_learn_by_a_numeric_participant_field_compares_its_quartiles(app, study, tmp_path):
    # QA: --by on a numeric field gave one group per value (every age in years its own, too-small group)
    import copy

    import numpy as np

    from pluralis.data import write_prism

    numeric = copy.deepcopy(study)
    ages = np.random.default_rng(0).integers(18, 80, len(numeric.survey))
    for p, age in zip(numeric.survey, ages, strict=True):
        p.age_years = int(age)  # a survey field of the researcher's own
    folder = tmp_path / "prism"
    write_prism(numeric, folder)
    out = tmp_path / "by-age"
    args = ["learn", str(folder), "--by", "age_years", "--folds", "2", "--bootstrap", "10", "--out", str(out)]
    with pytest.warns(UserWarning, match=r"age_years: \d+ distinct numeric values, grouped by quantile"):
        r = runner.invoke(app, [*args, "--min-participants", "10"])
    assert r.exit_code == 0, r.output
    groups = set(pd.read_csv(out / "cross_group.csv")["train_group"]) - {"(all)"}
    # quartiles of the participants (not of their pairs), each labelled with its range of ages
    quartiles = pd.Series(ages).groupby(pd.qcut(pd.Series(ages), 4, labels=False))
    assert groups == {f"{g.min()}–{g.max()}" for _, g in quartiles}
