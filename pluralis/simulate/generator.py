"""Census-grounded synthetic personas (after PERSONA, Castricato et al. 2024), vectorised.

A persona is drawn in four layers. Every layer is columnar (numpy arrays of category codes and
float32 traits), so a million personas take seconds; texts are rendered only for personas that
are exported (:mod:`pluralis.simulate.texts`).

1. **Census cell** — (age band, sex, census group) drawn from the census joint table of the
   country (:func:`pluralis.census.tables.census_cells`; ONS 2021 England & Wales, ACS 2022 US).
   ``sampling="quota"`` (default) allocates the n personas to cells by largest remainder, so
   census margins are met up to rounding (|error| < 1/n per cell); ``"random"`` draws a multinomial.
   The census group fixes the 5-group census ethnicity, the US Hispanic split and PRISM's
   ``ethnicity.categorised`` (e.g. "Other ethnic group: Arab" -> "Middle Eastern / Arab").
2. **Conditional fields** — education | age; employment | age x sex; marital status | age x sex;
   religion | age (US) or | ethnicity (UK); region | ethnicity; English proficiency | ethnicity;
   LLM familiarity | age: inverse-CDF draws from ``resources/conditionals.csv`` (approximate
   published shares; sources and assumptions in ``resources/SOURCES.md``). LLM use and use cases
   follow PRISM's own shares (Tab. 9), tilted by familiarity.
3. **Idiosyncratic traits** (documented assumptions, all in standard-deviation units):

   * Big Five ``(O, C, E, A, N) ~ N(mu, R)`` with the meta-analytic inter-trait correlations ``R``
     of van der Linden et al. (2010, rounded) and mean shifts per age band ``b`` (0 = 18-24 ... 5 = 65+)
     ``mu = AGE_SLOPE * (b - 2.5) + FEMALE_SHIFT * female`` (maturity: C and A rise, N falls with
     age; women score higher on N and A — Soto et al. 2011; Costa et al. 2001).
   * Inglehart–Welzel positions: ``secular`` (traditional -> secular-rational) and
     ``self_expression`` (survival -> self-expression) = country offset + age, religion and
     education effects + Openness + N(0, 0.85^2) (:data:`VALUE_EFFECTS`).
   * ``political`` lean (left - / right +) = -0.5 secular - 0.2 self_expression - 0.15 O + 0.1 C
     + an ethnicity tilt (US) + N(0, 0.8^2).
   * Two Schwartz basic values (top-2 of a Gumbel-perturbed linear score of the traits,
     :data:`SCHWARTZ_WEIGHTS`), interests (independent logits per interest,
     :data:`INTERESTS`), a communication style (Gumbel argmax, :data:`STYLE_WEIGHTS`).
   * Stated preferences (PRISM's 0–100 sliders): PRISM's mean per attribute plus trait effects
     (:data:`STATED_EFFECTS`) plus noise, clipped.
   * Scale use: ``rating_center ~ 62 + 3 A + 2 E - 2 N + N(0, 9^2)``,
     ``rating_spread ~ exp(0.1 E + N(0, 0.25^2))`` (PRISM App. O: people use the 1–100 scale differently).
4. **Texts** — a self-description and a "constitution" (what they want from an AI), rendered from
   the traits by :mod:`pluralis.simulate.texts` when exported.

Reproducibility: the rows are split into chunks of ``chunk_size``; chunk ``k`` of country ``c``
draws from ``SeedSequence(seed, spawn_key=(country_key(c), k))``, so the same ``(n, seed,
chunk_size)`` gives the same panel on every executor and any number of workers.

Example
-------
>>> panel = generate_personas({"US": 500, "UK": 500}, seed=0)
>>> len(panel), sorted(panel.data["country"].unique())
(1000, ['UK', 'US'])
>>> tvd = panel.census_tvd()["US"]
>>> max(tvd["age"], tvd["gender"], tvd["ethnicity"]) < 0.01
True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pluralis.census import tables
from pluralis.data import vocab
from pluralis.errors import ConfigError
from pluralis.simulate.executors import check_executor, map_chunks
from pluralis.simulate.texts import participants_from_panel, render_texts
from pluralis.simulate.traits import BIG_FIVE, GENERATOR_VERSION, INTEREST_NAMES, INTERESTS

DEFAULT_CHUNK_SIZE = 250_000

#: Inter-trait correlations (O, C, E, A, N), van der Linden et al. (2010) meta-analysis, rounded.
BIG_FIVE_CORR = np.array(
    [
        [1.00, 0.20, 0.43, 0.21, -0.17],
        [0.20, 1.00, 0.29, 0.43, -0.43],
        [0.43, 0.29, 1.00, 0.26, -0.36],
        [0.21, 0.43, 0.26, 1.00, -0.36],
        [-0.17, -0.43, -0.36, -0.36, 1.00],
    ]
)
#: Mean shift per age band step (SD units), (O, C, E, A, N).
AGE_SLOPE = np.array([-0.04, 0.08, -0.03, 0.07, -0.06])
#: Mean shift for women (SD units), (O, C, E, A, N).
FEMALE_SHIFT = np.array([0.0, 0.05, 0.08, 0.30, 0.35])

#: Inglehart–Welzel effects: (secular, self_expression) per country, per religion group, per age step, per degree.
VALUE_EFFECTS: dict[str, Any] = {
    "country": {"US": (-0.25, 0.0), "UK": (0.25, 0.05)},
    "age_step": (-0.12, -0.10),
    "religion": {
        "Non-religious": (0.6, 0.15),
        "Agnostic": (0.5, 0.15),
        "Spiritual": (0.1, 0.1),
        "Christian": (-0.45, -0.05),
        "Jewish": (-0.2, 0.05),
        "Muslim": (-0.8, -0.2),
        "Hindu": (-0.5, -0.1),
        "Sikh": (-0.5, -0.1),
        "Buddhist": (-0.1, 0.0),
        "Folk religion": (-0.5, -0.1),
        "Other": (-0.3, 0.0),
    },
    "degree": (0.15, 0.3),
    "no_secondary": (-0.1, -0.2),
    "openness": (0.15, 0.25),
    "noise_sd": 0.85,
}
#: US ethnicity tilt of political lean (detailed ethnicity -> shift; negative = left).
POLITICAL_ETHNICITY_US = {"Black": -0.6, "Hispanic": -0.2, "Asian": -0.2, "Mixed": -0.1, "Other": -0.1, "White": 0.1}

#: Trait design used by the linear trait models: [1, age_step, female, O, C, E, A, N, secular, self_expr, political].
TRAIT_DESIGN: tuple[str, ...] = (
    "const",
    "age_step",
    "female",
    "openness",
    "conscientiousness",
    "extraversion",
    "agreeableness",
    "neuroticism",
    "secular",
    "self_expression",
    "political",
)

SCHWARTZ_VALUES: tuple[str, ...] = (
    "self-direction",
    "stimulation",
    "hedonism",
    "achievement",
    "power",
    "security",
    "conformity",
    "tradition",
    "benevolence",
    "universalism",
)
#: Linear scores of the ten Schwartz values on TRAIT_DESIGN (columns as SCHWARTZ_VALUES).
SCHWARTZ_WEIGHTS = np.array(
    [
        # sd   stim  hed   ach   pow   sec   conf  trad  ben   univ
        [0.6, 0.0, 0.2, 0.3, -0.6, 0.3, 0.0, -0.2, 0.9, 0.6],  # const
        [-0.1, -0.3, -0.2, -0.15, 0.0, 0.25, 0.2, 0.25, 0.05, 0.05],  # age_step
        [-0.05, -0.2, -0.1, -0.15, -0.3, 0.1, 0.05, 0.05, 0.25, 0.15],  # female
        [0.6, 0.5, 0.2, 0.1, 0.0, -0.2, -0.3, -0.2, 0.0, 0.4],  # O
        [0.0, -0.1, -0.2, 0.5, 0.1, 0.3, 0.4, 0.1, 0.1, 0.0],  # C
        [0.1, 0.5, 0.4, 0.3, 0.3, -0.1, 0.0, -0.1, 0.1, 0.0],  # E
        [0.0, 0.0, 0.0, -0.2, -0.5, 0.0, 0.2, 0.1, 0.6, 0.3],  # A
        [-0.1, -0.1, 0.0, 0.0, 0.0, 0.4, 0.2, 0.0, 0.0, 0.0],  # N
        [0.3, 0.1, 0.3, 0.0, 0.0, -0.2, -0.3, -0.8, 0.0, 0.2],  # secular
        [0.4, 0.2, 0.2, 0.0, -0.2, -0.4, -0.2, -0.2, 0.1, 0.4],  # self_expression
        [0.0, 0.0, 0.0, 0.2, 0.3, 0.4, 0.3, 0.4, -0.1, -0.5],  # political
    ]
)


COMMUNICATION_STYLES: tuple[str, ...] = ("concise", "detailed", "casual", "formal", "warm", "direct")
#: Style scores on TRAIT_DESIGN (columns as COMMUNICATION_STYLES).
STYLE_WEIGHTS = np.array(
    [
        # concise detailed casual formal warm direct
        [0.3, 0.0, 0.2, -0.2, 0.0, 0.0],  # const
        [0.15, 0.0, -0.3, 0.3, 0.0, 0.05],  # age_step
        [-0.1, 0.1, 0.0, 0.0, 0.4, -0.3],  # female
        [-0.3, 0.6, 0.1, 0.0, 0.1, 0.0],  # O
        [0.4, 0.3, -0.3, 0.5, 0.0, 0.2],  # C
        [-0.2, 0.0, 0.6, -0.2, 0.4, 0.2],  # E
        [-0.1, 0.0, 0.2, 0.0, 0.6, -0.6],  # A
        [0.0, 0.2, 0.0, 0.1, 0.0, -0.3],  # N
        [0.0, 0.1, 0.1, 0.0, 0.0, 0.1],  # secular
        [0.0, 0.1, 0.2, -0.1, 0.1, 0.0],  # self_expression
        [0.1, -0.1, 0.0, 0.1, 0.0, 0.2],  # political
    ]
)

#: Stated preferences: PRISM's means (survey, §2.1) and trait effects in slider points per SD.
STATED_BASE = {
    "values": 54.3,
    "creativity": 69.6,
    "fluency": 86.7,
    "factuality": 88.7,
    "diversity": 75.7,
    "safety": 80.2,
    "personalisation": 67.9,
    "helpfulness": 89.4,
}
STATED_SD = {
    "values": 22.0,
    "creativity": 18.0,
    "fluency": 13.0,
    "factuality": 13.0,
    "diversity": 17.0,
    "safety": 21.0,
    "personalisation": 21.0,
    "helpfulness": 12.0,
}
STATED_EFFECTS: dict[str, dict[str, float]] = {
    "values": {"secular": -7.0, "political": 3.0, "agreeableness": 2.0},
    "creativity": {"openness": 7.0, "age_step": -1.5},
    "fluency": {"conscientiousness": 3.0, "age_step": 1.0},
    "factuality": {"conscientiousness": 3.0, "openness": 2.0},
    "diversity": {"agreeableness": 4.0, "self_expression": 4.0, "political": -3.0},
    "safety": {"neuroticism": 5.0, "agreeableness": 3.0, "age_step": 3.0, "female": 5.0},
    "personalisation": {"extraversion": 4.0, "age_step": -3.0},
    "helpfulness": {"conscientiousness": 2.0},
}

#: PRISM Tab. 9 use-case shares among participants shown the question, in vocab.LM_USECASES order.
USECASE_SHARES = np.array(
    [
        0.228,
        0.492,
        0.173,
        0.374,
        0.313,
        0.209,
        0.212,
        0.172,
        0.269,
        0.106,
        0.247,
        0.127,
        0.104,
        0.085,
        0.114,
        0.146,
        0.078,
        0.183,
    ]
)
#: P(direct use = Yes / No / Unsure) by familiarity (Very, Somewhat, Not), matching PRISM's totals overall.
DIRECT_USE = np.array([[0.98, 0.015, 0.005], [0.82, 0.14, 0.04], [0.20, 0.62, 0.18]])
INDIRECT_USE = np.array([[0.92, 0.03, 0.05], [0.74, 0.13, 0.13], [0.30, 0.40, 0.30]])
#: lm_frequency_use by familiarity (Every day, Every week, More than once a month, Once per month, Less than one a year).
FREQUENCY = np.array([[0.25, 0.40, 0.20, 0.12, 0.03], [0.05, 0.23, 0.26, 0.34, 0.12], [0.01, 0.05, 0.12, 0.37, 0.45]])

CATEGORICAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "country": tables.COUNTRIES,
    "age": vocab.AGE_BANDS,
    "gender": tables.SEXES,
    "ethnicity": vocab.CENSUS_ETHNICITIES,
    "ethnicity_detailed": tables.DETAILED_ETHNICITIES,
    **{f: tables.FIELD_CATEGORIES[f] for f in tables.CONDITIONAL_FIELDS},
    "lm_direct_use": vocab.LM_USE,
    "lm_indirect_use": vocab.LM_USE,
    "lm_frequency_use": vocab.LM_FREQUENCY,
    "value_1": SCHWARTZ_VALUES,
    "value_2": SCHWARTZ_VALUES,
    "communication_style": COMMUNICATION_STYLES,
}
FLOAT_COLUMNS: tuple[str, ...] = (
    *BIG_FIVE,
    "secular",
    "self_expression",
    "political",
    "rating_center",
    "rating_spread",
    *(f"stated_prefs_{a}" for a in vocab.STATED_PREF_ATTRIBUTES),
)


def country_key(country: str) -> int:
    """A stable integer per country for seeding (``US`` -> 1, ``UK`` -> 2).

    Parameters
    ----------
    country
        a country code of :data:`pluralis.census.tables.COUNTRIES`.

    Returns
    -------
    int

    Example
    -------
    >>> country_key("UK")
    2
    """
    return tables.COUNTRIES.index(country) + 1


# --- the panel -----------------------------------------------------------------------------------


@dataclass
class PersonaPanel:
    """A population of synthetic personas, one row each, stored columnar.

    ``data`` has one row per persona: ``persona_id``, categorical demographics (``country``,
    ``age``, ``gender``, ``census_group``, ``ethnicity``, ``ethnicity_detailed``,
    ``ethnicity_categorised``, ``education``, ``employment_status``, ``marital_status``,
    ``religion``, ``region``, ``english_proficiency``, LLM familiarity/use), float32 traits
    (Big Five, ``secular``, ``self_expression``, ``political``, scale use, ``stated_prefs_*``), the
    Schwartz values ``value_1``/``value_2``, ``communication_style`` and bitmasks ``interests`` and
    ``usecases``. ``config`` records how it was generated.

    Example
    -------
    >>> p = generate_personas(200, country="UK", seed=1)
    >>> p.data["persona_id"].iloc[0], p.data["country"].iloc[0]
    ('sim-uk-0', 'UK')
    """

    data: pd.DataFrame
    config: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.data)

    @property
    def ids(self) -> pd.Series:
        """The personas' ids.

        Returns
        -------
        pandas.Series

        Example
        -------
        >>> generate_personas(2, seed=0).ids.tolist()
        ['sim-us-0', 'sim-us-1']
        """
        return self.data["persona_id"]

    def subset(self, rows) -> PersonaPanel:
        """A panel with the selected rows (boolean mask, positions or a slice).

        Parameters
        ----------
        rows
            a boolean mask, integer positions or a slice.

        Returns
        -------
        PersonaPanel

        Example
        -------
        >>> p = generate_personas(50, seed=0)
        >>> len(p.subset(slice(0, 10)))
        10
        """
        if isinstance(rows, slice):
            data = self.data.iloc[rows]
        else:
            arr = np.asarray(rows)
            data = self.data[arr] if arr.dtype == bool else self.data.iloc[arr]
        return PersonaPanel(data.reset_index(drop=True), dict(self.config))

    def interests(self, i: int) -> list[str]:
        """Names of the interests of row ``i``.

        Parameters
        ----------
        i
            a row position.

        Returns
        -------
        list of str

        Example
        -------
        >>> p = generate_personas(20, seed=0)
        >>> all(isinstance(x, str) for x in p.interests(0))
        True
        """
        mask = int(self.data["interests"].to_numpy()[i])
        return [name for k, name in enumerate(INTEREST_NAMES) if mask >> k & 1]

    def margins(self, variable: str, country: str | None = None) -> pd.Series:
        """Observed shares of ``age``, ``gender`` or ``ethnicity`` (census categories).

        Parameters
        ----------
        variable
            ``"age"``, ``"gender"`` or ``"ethnicity"``.
        country
            one country (default: everyone).

        Returns
        -------
        pandas.Series

        Example
        -------
        >>> p = generate_personas(1000, seed=0)
        >>> round(float(p.margins("gender").sum()), 6)
        1.0
        """
        d = self.data if country is None else self.data[self.data["country"] == country]
        return d[variable].value_counts(normalize=True, sort=False).sort_index()

    def census_tvd(self) -> dict[str, dict[str, float]]:
        """Total variation distance to the census, per country: ``joint`` (age x sex x ethnicity) and each margin.

        Returns
        -------
        dict
            ``{country: {"joint": tvd, "age": tvd, ...}}``.

        Example
        -------
        >>> tvd = generate_personas(2000, seed=3).census_tvd()["US"]
        >>> max(tvd.values()) < 0.005
        True
        """
        from pluralis.census import targets as census

        out: dict[str, dict[str, float]] = {}
        for country in pd.unique(self.data["country"]):
            d = self.data[self.data["country"] == country]
            res = {}
            for level, by in (
                ("joint", ["age", "gender", "ethnicity"]),
                ("age", ["age"]),
                ("gender", ["gender"]),
                ("ethnicity", ["ethnicity"]),
            ):
                target = census.joint_distribution(str(country), "census", by=by).set_index(by)["share"]
                obs = d.groupby(by, observed=True).size() / len(d)
                obs.index = obs.index if len(by) > 1 else pd.Index(obs.index.astype(str), name=by[0])
                if len(by) > 1:
                    obs.index = pd.MultiIndex.from_tuples([tuple(map(str, k)) for k in obs.index], names=by)
                obs = obs.reindex(target.index, fill_value=0.0)
                res[level] = float(0.5 * np.abs(obs.to_numpy() - target.to_numpy()).sum())
            out[str(country)] = res
        return out

    def survey_frame(self) -> pd.DataFrame:
        """A PRISM-style survey frame (the columns of ``Study.frames().survey`` that analyses use), built
        column-wise without records, so representativeness and weighting run on millions of personas.

        Returns
        -------
        pandas.DataFrame

        Example
        -------
        >>> f = generate_personas(100, seed=0).survey_frame()
        >>> {"user_id", "age", "gender", "ethnicity_categorised", "source"} <= set(f.columns)
        True
        """
        d = self.data
        info = {c: tables.COUNTRY_INFO[c] for c in tables.COUNTRIES}
        country = d["country"].astype(str)
        eth = d["ethnicity_categorised"].astype(str)
        rel = d["religion"].astype(str)
        out = pd.DataFrame(
            {
                "user_id": d["persona_id"].to_numpy(),
                "source": "simulated",
                "age": d["age"].astype(str),
                "gender": d["gender"].astype(str),
                "employment_status": d["employment_status"].astype(str),
                "education": d["education"].astype(str),
                "marital_status": d["marital_status"].astype(str),
                "english_proficiency": d["english_proficiency"].astype(str),
                "lm_familiarity": d["lm_familiarity"].astype(str),
                "religion_categorised": rel,
                "religion_simplified": rel.map(vocab.RELIGION_SIMPLIFY),
                "ethnicity_categorised": eth,
                "ethnicity_simplified": eth.map(vocab.ETHNICITY_SIMPLIFY),
                "location_reside_country": country.map({k: v[0] for k, v in info.items()}),
                "location_reside_countryISO": country.map({k: v[1] for k, v in info.items()}),
                "location_special_region": country.map({k: v[4] for k, v in info.items()}),
                "study_locale": country.map({k: v[5] for k, v in info.items()}),
            }
        )
        for a in vocab.STATED_PREF_ATTRIBUTES:
            out[f"stated_prefs_{a}"] = d[f"stated_prefs_{a}"].to_numpy(dtype=float)
        for col in ("region", "communication_style", "value_1", *BIG_FIVE, "secular", "self_expression", "political"):
            out[f"persona_{col}"] = d[col].to_numpy()
        return out

    def to_participants(self, rows=None, *, study_id: str = "pluralis-sim", survey_only: bool = False) -> list:
        """PRISM survey records (:class:`pluralis.data.Participant`) with ``source="simulated"`` and
        the generating traits in ``persona``; self-description and system string are rendered texts.

        Parameters
        ----------
        rows
            which personas (mask, positions or slice; default all).
        study_id
            prefix of the study ids.
        survey_only
            mark everyone as survey-only.

        Returns
        -------
        list of pluralis.data.Participant

        Example
        -------
        >>> ps = generate_personas(3, seed=0).to_participants()
        >>> ps[0].source, ps[0].persona["country"], len(ps[0].self_description) > 40
        ('simulated', 'US', True)
        """
        panel = self if rows is None else self.subset(rows)
        return participants_from_panel(panel, study_id=study_id, survey_only=survey_only)

    def texts(self, rows=None) -> pd.DataFrame:
        """Rendered ``self_description`` and ``constitution`` for the selected rows.

        Parameters
        ----------
        rows
            which personas (mask, positions or slice; default all).

        Returns
        -------
        pandas.DataFrame

        Example
        -------
        >>> t = generate_personas(2, seed=0).texts()
        >>> list(t.columns)
        ['persona_id', 'self_description', 'constitution']
        """
        panel = self if rows is None else self.subset(rows)
        return render_texts(panel)

    def to_parquet(self, path: str | Path) -> Path:
        """Write the panel (columnar, categorical codes kept) to a parquet file.

        Parameters
        ----------
        path
            the ``.parquet`` file (written atomically).

        Returns
        -------
        pathlib.Path

        Example
        -------
        >>> import tempfile, os
        >>> p = generate_personas(10, seed=0)
        >>> path = p.to_parquet(os.path.join(tempfile.mkdtemp(), "p.parquet"))
        >>> PersonaPanel.read_parquet(path).data.equals(p.data)
        True
        """
        import json

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        df = self.data.copy()
        df.attrs = {"pluralis_personas": json.dumps(self.config, default=str)}
        df.to_parquet(tmp, index=False)
        tmp.replace(path)
        return path

    @classmethod
    def read_parquet(cls, path: str | Path) -> PersonaPanel:
        """Read a panel written by :meth:`to_parquet`.

        Parameters
        ----------
        path
            a file written by :meth:`to_parquet`.

        Returns
        -------
        PersonaPanel

        Example
        -------
        >>> import tempfile, os
        >>> p = generate_personas(10, seed=0)
        >>> q = PersonaPanel.read_parquet(p.to_parquet(os.path.join(tempfile.mkdtemp(), "p.parquet")))
        >>> q.data["persona_id"].tolist() == p.data["persona_id"].tolist()
        True
        """
        import json

        import pyarrow.parquet as pq

        path = Path(path)
        if not path.exists():
            raise ConfigError(f"persona file {path} not found")
        df = pd.read_parquet(path)
        meta = pq.read_schema(path).metadata or {}
        config: dict = {}
        raw = meta.get(b"pandas")
        if raw:
            try:
                attrs = json.loads(raw).get("attributes", {})
                config = json.loads(attrs.get("pluralis_personas", "{}"))
            except (ValueError, AttributeError):
                config = {}
        missing = [c for c in ("persona_id", "country", "age", "gender", "ethnicity") if c not in df.columns]
        if missing:
            raise ConfigError(f"{path}: not a persona panel (missing columns {missing})")
        df.attrs = {}
        return cls(df, config)

    @staticmethod
    def concat(panels: list[PersonaPanel]) -> PersonaPanel:
        """Stack panels (e.g. countries) into one.

        Parameters
        ----------
        panels
            the panels.

        Returns
        -------
        PersonaPanel

        Example
        -------
        >>> a, b = generate_personas(5, country="US"), generate_personas(5, country="UK")
        >>> len(PersonaPanel.concat([a, b]))
        10
        """
        data = pd.concat([p.data for p in panels], ignore_index=True)
        for col, cats in CATEGORICAL_COLUMNS.items():
            if col in data.columns:
                data[col] = pd.Categorical(data[col], categories=cats)
        if "census_group" in data.columns:
            data["census_group"] = pd.Categorical(
                data["census_group"], categories=sorted(tables.CENSUS_GROUP_ETHNICITY)
            )
        if "ethnicity_categorised" in data.columns:
            data["ethnicity_categorised"] = pd.Categorical(
                data["ethnicity_categorised"], categories=vocab.ETHNICITY_CATEGORISED
            )
        config = dict(panels[0].config) if panels else {}
        config["parts"] = [p.config for p in panels]
        return PersonaPanel(data, config)


# --- generation ----------------------------------------------------------------------------------


def parse_quotas(specs: list[str] | tuple[str, ...]) -> dict[str, dict[str, float]]:
    """Command-line quotas ``"VARIABLE=CATEGORY:SHARE,CATEGORY:SHARE,..."`` -> the ``quotas`` mapping of
    :func:`generate_personas`. Categories left out get share 0; the check that a quota is possible (shares
    sum to 1, categories exist, the census has such adults) is :func:`generate_personas`'s.

    Parameters
    ----------
    specs
        one ``VARIABLE=CATEGORY:SHARE,...`` string per variable.

    Returns
    -------
    dict

    Example
    -------
    >>> parse_quotas(["gender=Female:0.7,Male:0.3"])
    {'gender': {'Female': 0.7, 'Male': 0.3}}
    >>> parse_quotas(["gender=Female"])
    Traceback (most recent call last):
    ...
    pluralis.errors.ConfigError: quota 'gender=Female': 'Female' needs a share, as CATEGORY:SHARE (e.g. Female:0.5)
    """
    out: dict[str, dict[str, float]] = {}
    for spec in specs:
        var, sep, rest = str(spec).partition("=")
        var = var.strip()
        if not sep or not var or not rest.strip():
            raise ConfigError(f"quota {spec!r}: expected VARIABLE=CATEGORY:SHARE,... (e.g. gender=Female:0.5,Male:0.5)")
        if var in out:
            raise ConfigError(f"quota {spec!r}: {var} is given twice")
        target: dict[str, float] = {}
        for part in rest.split(","):
            cat, sep, share = part.rpartition(":")
            if not sep or not cat.strip():
                raise ConfigError(
                    f"quota {spec!r}: {part.strip()!r} needs a share, as CATEGORY:SHARE "
                    f"(e.g. {part.strip() or 'Female'}:0.5)"
                )
            try:
                value = float(share)
            except ValueError:
                raise ConfigError(
                    f"quota {spec!r}: share {share.strip()!r} of {cat.strip()!r} is not a number"
                ) from None
            if not np.isfinite(value):
                raise ConfigError(f"quota {spec!r}: share of {cat.strip()!r} must be finite")
            target[cat.strip()] = value
        out[var] = target
    return out


def _resolve_counts(n: int | Mapping[str, int], country: str | list[str] | None) -> dict[str, int]:
    if isinstance(n, Mapping):
        counts = {}
        for c, k in n.items():
            counts[tables.normalise_country(c)] = k
    else:
        countries = [country] if isinstance(country, str) else list(country or ["US"])
        if not countries:
            raise ConfigError("give at least one country")
        codes = [tables.normalise_country(c) for c in countries]
        if len(set(codes)) != len(codes):
            raise ConfigError(f"duplicate countries in {countries}")
        base, rest = divmod(int(n), len(codes)) if isinstance(n, (int, np.integer)) else (None, None)
        if base is None:
            raise ConfigError(f"n must be an integer or a mapping country -> n, got {n!r}")
        counts = {c: base + (1 if i < rest else 0) for i, c in enumerate(codes)}
    for c, k in counts.items():
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool):
            raise ConfigError(f"number of personas for {c} must be an integer, got {k!r}")
        if k < 0:
            raise ConfigError(f"number of personas for {c} must be >= 0, got {k}")
    if sum(counts.values()) == 0:
        raise ConfigError("asked for 0 personas; give n >= 1")
    return counts


def _cell_shares(cells: tables.CensusCells, quotas: Mapping[str, Mapping[str, float]] | None) -> np.ndarray:
    """Census cell shares, optionally re-weighted so one-way margins hit ``quotas`` (sequential raking)."""
    share = cells.share.copy()
    if not quotas:
        return share
    levels = {
        "age": (vocab.AGE_BANDS, cells.age),
        "gender": (tables.SEXES, cells.sex),
        "ethnicity": (vocab.CENSUS_ETHNICITIES, cells.ethnicity),
    }
    for var, target in quotas.items():
        if var not in levels:
            raise ConfigError(
                f"quota on unknown variable {var!r}; quotas can fix the margins of age, gender, ethnicity"
            )
        cats, codes = levels[var]
        unknown = [k for k in target if k not in cats]
        if unknown:
            raise ConfigError(
                f"quota for {var}: unknown categor{'y' if len(unknown) == 1 else 'ies'} {unknown}; "
                f"expected some of {list(cats)}"
            )
        vals = np.array([float(target.get(c, 0.0)) for c in cats])
        if (vals < 0).any():
            raise ConfigError(f"impossible quota for {var}: shares must be >= 0, got {dict(target)}")
        if abs(vals.sum() - 1.0) > 1e-6:
            raise ConfigError(f"impossible quota for {var}: shares must sum to 1, they sum to {vals.sum():.4g}")
    for _ in range(50):  # iterative proportional fitting over the quota margins
        worst = 0.0
        for var, target in quotas.items():
            cats, codes = levels[var]
            vals = np.array([float(target.get(c, 0.0)) for c in cats])
            current = np.bincount(codes, weights=share, minlength=len(cats))
            for k in np.flatnonzero(vals > 0):
                if current[k] <= 0:
                    raise ConfigError(
                        f"impossible quota: the census of {cells.country} has no adults with "
                        f"{var} = {cats[k]!r} in the allowed cells"
                    )
            ratio = np.divide(vals, current, out=np.zeros_like(vals), where=current > 0)
            share = share * ratio[codes]
            worst = max(worst, float(np.abs(current - vals).max()))
        if worst < 1e-10:
            break
    total = share.sum()
    if total <= 0:  # pragma: no cover - guarded above
        raise ConfigError("impossible quota: no census cell left")
    return share / total


def _design(age: np.ndarray, female: np.ndarray, big5: np.ndarray, secular, self_expr, political) -> np.ndarray:
    n = len(age)
    X = np.empty((n, len(TRAIT_DESIGN)), dtype=np.float32)
    X[:, 0] = 1.0
    X[:, 1] = age - 2.5
    X[:, 2] = female
    X[:, 3:8] = big5
    X[:, 8] = secular
    X[:, 9] = self_expr
    X[:, 10] = political
    return X


def _gumbel_top(rng: np.random.Generator, scores: np.ndarray, k: int) -> np.ndarray:
    g = scores - np.log(-np.log(rng.random(scores.shape, dtype=np.float32) + 1e-12) + 1e-12)
    if k == 1:
        return np.argmax(g, axis=1)[:, None]
    top = np.argpartition(-g, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(g, top, axis=1), axis=1)
    return np.take_along_axis(top, order, axis=1)


def _pack_bits(picks: np.ndarray) -> np.ndarray:
    """Rows of booleans (up to 32 columns) -> int64 bitmasks (bit k = column k)."""
    packed = np.packbits(picks, axis=1, bitorder="little")
    pad = np.zeros((len(picks), 4 - packed.shape[1]), dtype=np.uint8)
    return np.ascontiguousarray(np.concatenate([packed, pad], axis=1)).view("<u4")[:, 0].astype(np.int64)


def _categorical(rng: np.random.Generator, probs: np.ndarray, cond: np.ndarray) -> np.ndarray:
    cum = np.cumsum(probs, axis=1)
    cum[:, -1] = 1.0 + 1e-12
    u = rng.random(len(cond))
    return (u[:, None] >= cum[cond][:, :-1]).sum(axis=1).astype(np.int8)


def _generate_chunk(
    country: str, cell_index: np.ndarray, seed: int, spawn_key: tuple[int, ...]
) -> dict[str, np.ndarray]:
    """Generate the personas of one chunk (module-level so process pools and Ray can ship it)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=spawn_key))
    cells = tables.census_cells(country)
    n = len(cell_index)
    age = cells.age[cell_index].astype(np.int8)
    sex = cells.sex[cell_index].astype(np.int8)
    eth = cells.ethnicity[cell_index]
    det = cells.ethnicity_detailed[cell_index]
    out: dict[str, np.ndarray] = {
        "cell": cell_index.astype(np.int16),
        "age": age,
        "gender": sex,
        "ethnicity": eth,
        "ethnicity_detailed": det,
    }
    codes = {"age": age, "sex": sex, "ethnicity_detailed": det}
    for f in tables.CONDITIONAL_FIELDS:
        sampler = tables.conditional_sampler(f, country)
        out[f] = sampler.sample(codes, rng.random(n))
    fam = out["lm_familiarity"].astype(np.int64)
    out["lm_direct_use"] = _categorical(rng, DIRECT_USE, fam)
    out["lm_indirect_use"] = _categorical(rng, INDIRECT_USE, fam)
    freq = _categorical(rng, FREQUENCY, fam)
    shown = (out["lm_direct_use"] == 0) | (out["lm_indirect_use"] == 0)
    out["lm_frequency_use"] = np.where(shown, freq, -1).astype(np.int8)
    # use cases: Tab. 9 shares, a little more for the very familiar
    boost = np.array([1.25, 0.95, 0.7], dtype=np.float32)[fam]
    p_use = np.clip(USECASE_SHARES[None, :].astype(np.float32) * boost[:, None], 0, 0.95)
    picks = rng.random(p_use.shape, dtype=np.float32) < p_use
    out["usecases"] = np.where(shown, _pack_bits(picks), 0).astype(np.int64)

    # Big Five
    female = (sex == 1).astype(np.float32)
    L = np.linalg.cholesky(BIG_FIVE_CORR).astype(np.float32)
    z = rng.standard_normal((n, 5), dtype=np.float32) @ L.T
    big5 = (
        z
        + (age[:, None] - 2.5).astype(np.float32) * AGE_SLOPE.astype(np.float32)
        + female[:, None] * FEMALE_SHIFT.astype(np.float32)
    )
    # Inglehart–Welzel values
    ve = VALUE_EFFECTS
    sec = np.full(n, ve["country"][country][0], dtype=np.float32)
    selfx = np.full(n, ve["country"][country][1], dtype=np.float32)
    sec += ve["age_step"][0] * (age - 2.5)
    selfx += ve["age_step"][1] * (age - 2.5)
    rel_cats = tables.FIELD_CATEGORIES["religion"]
    rel_eff = np.array([ve["religion"][r] for r in rel_cats], dtype=np.float32)
    sec += rel_eff[out["religion"], 0]
    selfx += rel_eff[out["religion"], 1]
    edu_cats = tables.FIELD_CATEGORIES["education"]
    degree = np.isin(
        out["education"],
        [edu_cats.index("University Bachelors Degree"), edu_cats.index("Graduate / Professional degree")],
    )
    low = np.isin(
        out["education"], [edu_cats.index(e) for e in ("Some Primary", "Completed Primary School", "Some Secondary")]
    )
    sec += ve["degree"][0] * degree + ve["no_secondary"][0] * low
    selfx += ve["degree"][1] * degree + ve["no_secondary"][1] * low
    sec += ve["openness"][0] * big5[:, 0]
    selfx += ve["openness"][1] * big5[:, 0]
    sec += rng.normal(0, ve["noise_sd"], n).astype(np.float32)
    selfx += rng.normal(0, ve["noise_sd"], n).astype(np.float32)
    pol = -0.5 * sec - 0.2 * selfx - 0.15 * big5[:, 0] + 0.1 * big5[:, 1] + rng.normal(0, 0.8, n).astype(np.float32)
    if country == "US":
        tilt = np.array([POLITICAL_ETHNICITY_US.get(e, 0.0) for e in tables.DETAILED_ETHNICITIES], dtype=np.float32)
        pol += tilt[det]
    X = _design(age, female, big5, sec, selfx, pol)
    for k, name in enumerate(BIG_FIVE):
        out[name] = big5[:, k]
    out["secular"], out["self_expression"], out["political"] = sec, selfx, pol.astype(np.float32)
    top2 = _gumbel_top(rng, X @ SCHWARTZ_WEIGHTS.astype(np.float32), 2)
    out["value_1"], out["value_2"] = top2[:, 0].astype(np.int8), top2[:, 1].astype(np.int8)
    B = np.array(list(INTERESTS.values()), dtype=np.float32).T  # (design, interests)
    u = rng.random((n, B.shape[1]), dtype=np.float32)
    logistic = np.log(u + 1e-12) - np.log1p(-u)  # P(logistic < x) = sigmoid(x)
    out["interests"] = _pack_bits(logistic < X @ B)
    out["communication_style"] = _gumbel_top(rng, X @ STYLE_WEIGHTS.astype(np.float32), 1)[:, 0].astype(np.int8)
    # stated preferences (0-100 sliders)
    col = {name: X[:, i] for i, name in enumerate(TRAIT_DESIGN)}
    for a in vocab.STATED_PREF_ATTRIBUTES:
        v = np.full(n, STATED_BASE[a], dtype=np.float32)
        for trait, eff in STATED_EFFECTS[a].items():
            v += eff * col[trait]
        v += rng.normal(0, STATED_SD[a], n).astype(np.float32)
        out[f"stated_prefs_{a}"] = np.clip(np.rint(v), 0, 100).astype(np.float32)
    # scale use
    out["rating_center"] = (
        62 + 3 * big5[:, 3] + 2 * big5[:, 2] - 2 * big5[:, 4] + rng.normal(0, 9, n).astype(np.float32)
    ).astype(np.float32)
    out["rating_spread"] = np.exp(0.1 * big5[:, 2] + rng.normal(0, 0.25, n).astype(np.float32)).astype(np.float32)
    return out


def _assemble(country: str, parts: list[dict[str, np.ndarray]], offset: int = 0) -> pd.DataFrame:
    cells = tables.census_cells(country)
    cols = {k: np.concatenate([p[k] for p in parts]) if parts else np.array([]) for k in (parts[0] if parts else {})}
    n = len(cols["cell"]) if parts else 0
    groups_all = sorted(tables.CENSUS_GROUP_ETHNICITY)
    group_code = np.array([groups_all.index(g) for g in cells.group], dtype=np.int16)
    eth_cat_code = np.array(
        [vocab.ETHNICITY_CATEGORISED.index(tables.CENSUS_GROUP_ETHNICITY[g][0]) for g in cells.group], dtype=np.int16
    )
    cell = cols["cell"].astype(np.int64)
    data: dict[str, Any] = {
        "persona_id": np.array([f"sim-{country.lower()}-{i}" for i in range(offset, offset + n)], dtype=object),
        "country": pd.Categorical.from_codes(
            np.full(n, tables.COUNTRIES.index(country), dtype=np.int8), pd.Index(tables.COUNTRIES)
        ),
    }
    for c, cats in CATEGORICAL_COLUMNS.items():
        if c == "country":
            continue
        data[c] = pd.Categorical.from_codes(cols[c].astype(np.int16), pd.Index(cats))
        if c == "ethnicity_detailed":
            data["census_group"] = pd.Categorical.from_codes(group_code[cell], pd.Index(groups_all))
            data["ethnicity_categorised"] = pd.Categorical.from_codes(
                eth_cat_code[cell], pd.Index(vocab.ETHNICITY_CATEGORISED)
            )
    for c in FLOAT_COLUMNS:
        data[c] = cols[c].astype(np.float32)
    data["interests"] = cols["interests"].astype(np.int64)
    data["usecases"] = cols["usecases"].astype(np.int64)
    return pd.DataFrame(data)


def generate_personas(
    n: int | Mapping[str, int],
    *,
    country: str | list[str] | None = "US",
    seed: int = 0,
    sampling: str = "quota",
    quotas: Mapping[str, Mapping[str, float]] | None = None,
    executor: str = "auto",
    workers: int | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: Callable[[int], None] | None = None,
    ray_address: str | None = None,
    ray_init: dict | None = None,
) -> PersonaPanel:
    """Generate ``n`` census-grounded personas (see the module docstring for the model).

    Parameters
    ----------
    n
        number of personas, or a mapping ``{"US": 300, "UK": 300}`` (then ``country`` is ignored).
        An int with several countries is split evenly.
    country
        ``"US"``, ``"UK"`` (any spelling :func:`pluralis.census.targets.normalise_country` accepts)
        or a list of them. Unknown countries raise :class:`ConfigError`.
    seed
        same seed, same ``n`` and ``chunk_size`` -> identical panel, on any executor.
    sampling
        ``"quota"`` (cell counts by largest remainder: census margins met up to rounding) or
        ``"random"`` (multinomial draw of cells).
    quotas
        optional target margins, e.g. ``{"gender": {"Female": 0.5, "Male": 0.5}}``; the census
        joint table is raked to them (impossible or malformed quotas raise :class:`ConfigError`).
    executor, workers, chunk_size
        ``"auto"`` (default: in-process for one chunk, else a local process pool), ``"serial"``,
        ``"process"`` or ``"ray"`` (see :mod:`pluralis.simulate.executors`).
    progress
        callback ``progress(k)`` advanced per finished chunk.

    Returns
    -------
    PersonaPanel

    Example
    -------
    >>> p = generate_personas(1000, country=["US", "UK"], seed=7)
    >>> p.data.groupby("country", observed=True).size().to_dict()
    {'US': 500, 'UK': 500}
    >>> generate_personas(1000, country=["US", "UK"], seed=7).data.equals(p.data)
    True
    """
    check_executor(executor)
    if sampling not in ("quota", "random"):
        raise ConfigError(f"sampling must be 'quota' or 'random', got {sampling!r}")
    if not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ConfigError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    counts = _resolve_counts(n, country)
    jobs: list[tuple] = []
    layout: list[tuple[str, int]] = []
    for c, k in counts.items():
        if k == 0:
            continue
        cells = tables.census_cells(c)
        share = _cell_shares(cells, quotas)
        master = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(country_key(c),)))
        if sampling == "quota":
            # quota on the census cells (age x sex x 5-group ethnicity), then the census sub-group
            # (e.g. "Asian/Asian British: Indian") drawn at random within each cell
            key = (cells.age.astype(np.int64) * 2 + cells.sex) * len(vocab.CENSUS_ETHNICITIES) + cells.ethnicity
            n_keys = len(vocab.AGE_BANDS) * 2 * len(vocab.CENSUS_ETHNICITIES)
            key_share = np.bincount(key, weights=share, minlength=n_keys)
            grid = np.arange(n_keys)
            n_eth = len(vocab.CENSUS_ETHNICITIES)
            key_counts = tables.allocate_joint(k, key_share, [grid // (2 * n_eth), grid // n_eth % 2, grid % n_eth])
            cell_counts = np.zeros(len(share), dtype=np.int64)
            for g in np.flatnonzero(key_counts):
                idx = np.flatnonzero(key == g)
                cell_counts[idx] = master.multinomial(key_counts[g], share[idx] / share[idx].sum())
        else:
            cell_counts = master.multinomial(k, share)
        flat = np.repeat(np.arange(len(share), dtype=np.int16), cell_counts)
        flat = flat[master.permutation(k)]
        n_chunks = -(-k // chunk_size)
        for j in range(n_chunks):
            jobs.append((c, flat[j * chunk_size : (j + 1) * chunk_size], int(seed), (country_key(c), j + 1)))
        layout.append((c, n_chunks))
    results = map_chunks(
        _generate_chunk,
        jobs,
        executor=executor,
        workers=workers,
        progress=progress,
        ray_address=ray_address,
        ray_init=ray_init,
    )
    frames = []
    pos = 0
    for c, n_chunks in layout:
        frames.append(_assemble(c, results[pos : pos + n_chunks]))
        pos += n_chunks
    config = {
        "generator": GENERATOR_VERSION,
        "counts": counts,
        "seed": int(seed),
        "sampling": sampling,
        "quotas": {k: dict(v) for k, v in (quotas or {}).items()},
        "chunk_size": int(chunk_size),
    }
    if len(frames) == 1:
        return PersonaPanel(frames[0], config)
    panel = PersonaPanel.concat([PersonaPanel(f, {}) for f in frames])
    panel.config = config
    return panel
