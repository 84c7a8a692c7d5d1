"""Plots for reports (matplotlib ``Figure`` objects, no pyplot state; Agg rendering).

Every function returns a :class:`matplotlib.figure.Figure`; :func:`figure_to_data_uri` embeds it
in an HTML report as a PNG.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pluralis.census import targets as census
from pluralis.data import vocab
from pluralis.simulate.generator import BIG_FIVE


def figure_to_data_uri(fig: Figure, *, dpi: int = 110) -> str:
    """A PNG ``data:`` URI of a figure (for self-contained HTML).

    Parameters
    ----------
    fig
        the figure.
    dpi
        PNG resolution.

    Returns
    -------
    str

    Example
    -------
    >>> fig = Figure(figsize=(1, 1)); _ = fig.add_subplot(1, 1, 1).plot([0, 1])
    >>> figure_to_data_uri(fig).startswith("data:image/png;base64,")
    True
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def plot_census_fit(survey: pd.DataFrame, countries=("US", "UK")) -> Figure:
    """Panel shares vs census shares of age, sex and ethnicity (5 groups), one row per country.

    ``survey``: a survey frame with ``study_locale``, ``age``, ``gender``, ``ethnicity_categorised``.

    Parameters
    ----------
    survey
        the panel's survey frame.
    countries
        countries to show (those present; at least the first).

    Returns
    -------
    matplotlib.figure.Figure

    Example
    -------
    >>> from pluralis.simulate.generator import generate_personas
    >>> len(plot_census_fit(generate_personas(300, country=["US", "UK"], seed=0).survey_frame()).axes)
    6
    """
    countries = [c for c in countries if (survey["study_locale"].str.lower() == c.lower()).any()] or list(countries)[:1]
    fig = Figure(figsize=(10, 2.9 * len(countries)))
    eth = survey["ethnicity_categorised"].map(vocab.ETHNICITY_TO_CENSUS)
    for i, c in enumerate(countries):
        sub = survey["study_locale"].str.lower() == c.lower()
        m = census.margins(c)
        observed = {"age": survey.loc[sub, "age"], "gender": survey.loc[sub, "gender"], "ethnicity": eth[sub]}
        for j, var in enumerate(("age", "gender", "ethnicity")):
            ax = fig.add_subplot(len(countries), 3, 3 * i + j + 1)
            target = m[var]
            obs = observed[var].value_counts(normalize=True).reindex(target.index).fillna(0.0)
            x = np.arange(len(target))
            ax.bar(x - 0.2, 100 * target.to_numpy(), width=0.4, color="#9e9e9e", label="census")
            ax.bar(x + 0.2, 100 * obs.to_numpy(), width=0.4, color="#1f77b4", label="panel")
            labels = [str(k).replace(" years old", "") for k in target.index]
            ax.set_xticks(x)
            ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=7)
            ax.tick_params(axis="y", labelsize=7)
            tvd = 0.5 * float(np.abs(obs.to_numpy() - target.to_numpy()).sum())
            ax.set_title(f"{c}: {var} (TVD {100 * tvd:.2f} pp)", fontsize=9)
            if j == 0:
                ax.set_ylabel("% of adults", fontsize=8)
            if i == 0 and j == 2:
                ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def plot_score_distributions(utterances: pd.DataFrame, *, turns: str = "openers") -> Figure:
    """Box plots of scores per model (opening turns by default), ordered by median.

    Parameters
    ----------
    utterances
        rated responses (``model_name``, ``score``, ``turn``).
    turns
        ``"openers"`` or ``"all"``.

    Returns
    -------
    matplotlib.figure.Figure

    Example
    -------
    >>> u = pd.DataFrame({"model_name": ["a", "a", "b"], "score": [10, 50, 90], "turn": 0})
    >>> len(plot_score_distributions(u).axes)
    1
    """
    u = utterances[utterances["turn"] == 0] if turns == "openers" else utterances
    groups = u.groupby("model_name")["score"]
    order = groups.median().sort_values().index.tolist()
    fig = Figure(figsize=(7, 0.32 * len(order) + 1.3))
    ax = fig.add_subplot(1, 1, 1)
    ax.boxplot(
        [u.loc[u["model_name"] == m, "score"].to_numpy() for m in order],
        orientation="horizontal",
        widths=0.6,
        showfliers=False,
        patch_artist=True,
        boxprops={"facecolor": "#c6dbef"},
    )
    ax.set_yticks(range(1, len(order) + 1))
    ax.set_yticklabels(order, fontsize=8)
    ax.set_xlim(0, 101)
    ax.set_xlabel("score (1-100)" + (", opening turns" if turns == "openers" else ""))
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_rank_table(table: pd.DataFrame, title: str = "Model ranks by group") -> Figure:
    """Fallback rank plot (when :mod:`pluralis.ranking.plots` is unavailable): one line per
    group over models, rank with its interval when given.

    Parameters
    ----------
    table
        the subgroup rankings table: ``by, group, model, rank``.
    title
        figure title.

    Returns
    -------
    matplotlib.figure.Figure

    Example
    -------
    >>> t = pd.DataFrame({"by": ["(all)"] * 2, "group": ["(all)"] * 2, "model": ["x", "y"], "rank": [1, 2]})
    >>> len(plot_rank_table(t).axes)
    1
    """
    overall = table[table["by"] == "(all)"].sort_values("rank")
    models = overall["model"].tolist() or sorted(table["model"].unique())
    fig = Figure(figsize=(7.5, 0.32 * len(models) + 1.6))
    ax = fig.add_subplot(1, 1, 1)
    keys = list(dict.fromkeys(zip(table["by"], table["group"])))
    for k, (by, group) in enumerate(keys):
        g = table[(table["by"] == by) & (table["group"] == group)].set_index("model").reindex(models)
        y = np.arange(len(models)) + (k - len(keys) / 2) * 0.06
        ax.plot(g["rank"], y, "o", label=str(group), color="black" if by == "(all)" else f"C{k % 10}")
    ax.set_yticks(range(len(models)))
    ax.set_yticklabels(models, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("rank (1 = most preferred)")
    ax.legend(fontsize=7, frameon=False, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_truth_recovery(recovery: pd.DataFrame) -> Figure:
    """Estimated vs true rank of every model in every group (simulated studies: the answer key).

    ``recovery``: columns ``group``, ``model``, ``rank``, ``true_rank``.

    Parameters
    ----------
    recovery
        :func:`pluralis.pipelines.demo.truth_recovery` output.

    Returns
    -------
    matplotlib.figure.Figure

    Example
    -------
    >>> r = pd.DataFrame({"group": ["a", "a"], "model": ["x", "y"], "rank": [1, 2], "true_rank": [1, 2]})
    >>> plot_truth_recovery(r).axes[0].get_xlabel()
    'true rank (preference model)'
    """
    fig = Figure(figsize=(6.8, 4.6))
    ax = fig.add_subplot(1, 1, 1)
    n = int(max(recovery["true_rank"].max(), recovery["rank"].max()))
    ax.plot([1, n], [1, n], color="grey", lw=1, ls="--")
    rng = np.random.default_rng(0)
    jitter = rng.uniform(-0.15, 0.15, len(recovery))
    for k, (g, sub) in enumerate(recovery.groupby("group", sort=False)):
        idx = recovery.index.get_indexer(sub.index)
        ax.scatter(
            sub["true_rank"] + jitter[idx], sub["rank"] - jitter[idx], s=16, alpha=0.7, label=str(g), color=f"C{k % 10}"
        )
    ax.set_xlabel("true rank (preference model)")
    ax.set_ylabel("estimated rank")
    ax.set_xticks(range(1, n + 1))
    ax.set_yticks(range(1, n + 1))
    ax.invert_xaxis()
    ax.invert_yaxis()
    ax.grid(alpha=0.25)
    if recovery["group"].nunique() <= 12:
        ax.legend(fontsize=8, frameon=False, loc="center left", bbox_to_anchor=(1.02, 0.5))
    ax.set_title("Do the rankings recover the simulated truth?", fontsize=10)
    fig.tight_layout()
    return fig


def plot_traits(data: pd.DataFrame) -> Figure:
    """Persona trait profiles: mean Big Five by age band, and political lean by country.

    Parameters
    ----------
    data
        a persona panel's ``data`` (Big Five, ``political``, ``age``, ``country``).

    Returns
    -------
    matplotlib.figure.Figure

    Example
    -------
    >>> from pluralis.simulate.generator import generate_personas
    >>> len(plot_traits(generate_personas(200, seed=0).data).axes)
    2
    """
    fig = Figure(figsize=(10, 3.0))
    ax = fig.add_subplot(1, 2, 1)
    means = data.groupby("age", observed=True)[list(BIG_FIVE)].mean()
    for t in BIG_FIVE:
        ax.plot(range(len(means)), means[t], marker="o", label=t)
    ax.set_xticks(range(len(means)))
    ax.set_xticklabels([str(a).replace(" years old", "") for a in means.index], fontsize=8)
    ax.set_ylabel("mean (SD units)", fontsize=8)
    ax.set_title("Big Five by age band", fontsize=9)
    ax.legend(fontsize=7, frameon=False)
    ax2 = fig.add_subplot(1, 2, 2)
    for c in pd.unique(data["country"]):
        v = data.loc[data["country"] == c, "political"].to_numpy(dtype=float)
        ax2.hist(v, bins=30, alpha=0.5, density=True, label=str(c))
    ax2.set_xlabel("political lean (left - / right +, SD units)", fontsize=8)
    ax2.set_title("Political lean by country", fontsize=9)
    ax2.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def plot_fidelity(rankings: pd.DataFrame) -> Figure:
    """Kendall's tau between simulated and human model rankings per group (fidelity evaluation).

    Parameters
    ----------
    rankings
        :attr:`pluralis.pipelines.fidelity.FidelityReport.rankings`.

    Returns
    -------
    matplotlib.figure.Figure

    Example
    -------
    >>> r = pd.DataFrame({"by": ["(all)", "gender"], "group": ["(all)", "Female"], "kendall_tau": [0.8, 0.6]})
    >>> plot_fidelity(r).axes[0].get_xlabel()
    "Kendall's tau (simulated vs human ranking)"
    """
    r = rankings.dropna(subset=["kendall_tau"])
    labels = [g if b == "(all)" else f"{b}: {g}" for b, g in zip(r["by"], r["group"])]
    fig = Figure(figsize=(6, 0.3 * len(r) + 1.2))
    ax = fig.add_subplot(1, 1, 1)
    y = np.arange(len(r))
    ax.barh(y, r["kendall_tau"].to_numpy(), color=np.where(r["kendall_tau"] >= 0, "#1f77b4", "#d62728"))
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(-1, 1)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel("Kendall's tau (simulated vs human ranking)")
    fig.tight_layout()
    return fig


def plot_representativeness_shares(report, *, margins: tuple[str, ...] = ("age", "gender", "ethnicity")) -> Figure:
    """Sample vs census shares per category on a fixed 0-based percentage scale, one panel per margin.

    Small differences look small: the bars start at 0 % and every panel shares one y scale, so a
    0.2 pp gap is a sliver on a 30 % bar (a difference-only plot auto-scaled to ±0.15 pp would make it
    look dramatic). Each pair is labelled with the difference (sample minus census, pp).

    Parameters
    ----------
    report
        a :class:`pluralis.census.representativeness.RepresentativenessReport`.
    margins
        the margins to show (those present).

    Returns
    -------
    matplotlib.figure.Figure

    Example
    -------
    >>> from pluralis.census.representativeness import representativeness
    >>> s = pd.DataFrame({"user_id": ["a", "b"], "age": ["18-24 years old"] * 2,
    ...                   "gender": ["Male", "Female"], "ethnicity_categorised": ["White", "Asian"]})
    >>> fig = plot_representativeness_shares(representativeness(s, "UK"))
    >>> float(fig.axes[0].get_ylim()[0]), fig.axes[0].get_ylabel()
    (0.0, '% of adults')
    """
    t = report.table
    present = [m for m in margins if (t["level"] == m).any()]
    top = 100 * float(t.loc[t["level"].isin(present), ["observed_share", "expected_share"]].max().max())
    ymax = max(10.0, 10.0 * np.ceil(top * 1.12 / 10.0))
    widths = [max(2, int((t["level"] == m).sum())) for m in present]
    fig = Figure(figsize=(10, 3.4))
    gs = fig.add_gridspec(1, len(present), width_ratios=widths)
    for k, m in enumerate(present):
        ax = fig.add_subplot(gs[0, k])
        sub = t[t["level"] == m]
        x = np.arange(len(sub))
        obs, exp = 100 * sub["observed_share"].to_numpy(), 100 * sub["expected_share"].to_numpy()
        ax.bar(x - 0.2, exp, width=0.4, color="#9e9e9e", label="census")
        ax.bar(x + 0.2, obs, width=0.4, color="#1f77b4", label="sample")
        for xi, o, e, d in zip(x, obs, exp, sub["difference_pp"].to_numpy()):
            ax.annotate(
                f"{d:+.1f}", (xi, max(o, e)), textcoords="offset points", xytext=(0, 2), ha="center", fontsize=6.5
            )
        ax.set_xticks(x)
        ax.set_xticklabels(
            [str(c).replace(" years old", "") for c in sub["category"]], rotation=30, ha="right", fontsize=7.5
        )
        ax.set_ylim(0.0, ymax)
        ax.tick_params(axis="y", labelsize=7.5)
        ax.set_title(f"{m} (TVD {100 * report.tvd.get(m, np.nan):.1f} pp)", fontsize=9)
        ax.grid(axis="y", alpha=0.25)
        if k == 0:
            ax.set_ylabel("% of adults")
            ax.legend(fontsize=7.5, frameon=False, loc="upper left")
    fig.suptitle(f"{report.country}: sample (n = {report.n:,}) vs census; labels: difference in pp", fontsize=10)
    fig.tight_layout()
    return fig


def plot_group_ranks(table: pd.DataFrame, by: str, *, label: str | None = None, ncols: int = 4) -> Figure:
    """Small multiples of model ranks: one panel per group, dot-and-whisker per model, n in each title.

    Readable where one panel with a series per group is not (7 age bands overlap): models are rows
    (best overall at the top), the dot is the group's rank, the line its interval, the grey ring the
    overall rank; a filled dot marks a significant shift from it.

    Parameters
    ----------
    table
        :attr:`pluralis.ranking.subgroups.SubgroupResult.table` (``by, group, model, rank``; optional
        ``rank_lo, rank_hi, n_participants, significant``).
    by
        the grouping field to draw.
    label
        how the field is named in the title (default: ``by``).
    ncols
        panels per row.

    Returns
    -------
    matplotlib.figure.Figure

    Example
    -------
    >>> t = pd.DataFrame({"by": ["(all)"] * 2 + ["age"] * 4, "group": ["(all)"] * 2 + ["18-24"] * 2 + ["25-34"] * 2,
    ...                   "model": ["x", "y"] * 3, "rank": [1, 2, 1, 2, 2, 1], "n_participants": [9, 9, 4, 4, 5, 5]})
    >>> fig = plot_group_ranks(t, "age")
    >>> [ax.get_title() for ax in fig.axes]
    ['18-24 (n = 4)', '25-34 (n = 5)']
    """
    overall = table[table["by"] == "(all)"].sort_values("rank")
    sub = table[table["by"] == by]
    models = overall["model"].tolist() or sorted(sub["model"].unique())
    groups = list(dict.fromkeys(sub["group"]))
    ncols = max(1, min(ncols, len(groups)))
    nrows = int(np.ceil(len(groups) / ncols))
    fig = Figure(figsize=(2.6 * ncols + 1.2, (0.24 * len(models) + 0.9) * nrows + 0.5))
    y = np.arange(len(models))
    base = overall.set_index("model")["rank"].reindex(models).to_numpy(dtype=float)
    for k, g in enumerate(groups):
        ax = fig.add_subplot(nrows, ncols, k + 1)
        d = sub[sub["group"] == g].set_index("model").reindex(models)
        rank = d["rank"].to_numpy(dtype=float)
        if {"rank_lo", "rank_hi"} <= set(d.columns):
            lo, hi = d["rank_lo"].to_numpy(dtype=float), d["rank_hi"].to_numpy(dtype=float)
            ax.hlines(y, lo, hi, color="#1f77b4", lw=1.4)
        ax.plot(base, y, "o", mfc="none", mec="#9e9e9e", ms=7, label="overall")
        sig = d["significant"].fillna(False).to_numpy(dtype=bool) if "significant" in d else np.zeros(len(y), bool)
        ax.plot(rank[~sig], y[~sig], "o", mfc="white", mec="#1f77b4", ms=4.5)
        ax.plot(rank[sig], y[sig], "o", color="#1f77b4", ms=4.5)
        n = int(d["n_participants"].max()) if "n_participants" in d and d["n_participants"].notna().any() else None
        name = str(g).replace(" years old", "")
        ax.set_title(f"{name} (n = {n:,})" if n is not None else name, fontsize=8.5)
        ax.set_yticks(y)
        ax.set_yticklabels(models if k % ncols == 0 else [], fontsize=7)
        ax.set_xlim(0.5, len(models) + 0.5)
        step = 1 if len(models) <= 10 else 5
        ax.set_xticks([1, *range(step, len(models) + 1, step)] if step > 1 else range(1, len(models) + 1))
        ax.tick_params(axis="x", labelsize=7)
        ax.invert_yaxis()
        ax.grid(axis="x", alpha=0.25)
        if k >= len(groups) - ncols:
            ax.set_xlabel("rank (1 = best)", fontsize=7.5)
    fig.suptitle(f"Model ranks by {label or by}", fontsize=10)
    fig.tight_layout()
    return fig
