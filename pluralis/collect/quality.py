"""Quality control of a study's participants, as PRISM did it (spec §8.1): scripted signals and action rules.

PRISM described no attention checks; its quality control was a set of scripted checks, each giving a signal
(``reject``, ``return`` or ``investigate``; investigate = a value recorded for human review), and rules that
turn a participant's recruitment-platform status and signal counts into an action. :func:`quality_control`
runs them over a study's records (and, when given, the platform's submissions):

================  ==================================  ====================================  ============
stage             check (column)                      rule                                  signal
================  ==================================  ====================================  ============
internal          ``no_completion_code``              code != the study's code               investigate
internal          ``very_fast_platform``              time taken < mean - 3 sd               reject
survey            ``not_in_survey``                   no survey row                          return
survey            ``not_unique``                      several survey rows for one submission investigate
survey            ``no_consent``                      consent != "Yes, I consent ..."        reject
survey            ``under_18``                        consent_age != "I certify ..."         reject
survey            ``very_fast_survey``                timing_duration_s < mean - 3 sd        reject
survey            ``mobile_os``                       "iPhone"/"Android" in the OS           return
survey            ``attention_failed``                attention checks failed > allowed      configurable
conversations     ``not_in_conversations``            no conversation                        return
conversations     ``quota_not_filled``                fewer than 6 conversations             investigate
================  ==================================  ====================================  ============

plus the values PRISM recorded for review: "prefer not to say" answers, stated-preference sliders left at
50, mean length (characters, words split on " ", sentences split on ".") of ``system_string`` and
``self_description``, conversations, mean and sd of turns, mean performance/choice sliders at 50 per
conversation, mean ``open_feedback`` length. Means and standard deviations are over all rows (sd with
``ddof=1``, as pandas computes it).

Action rules by platform status (Q = conversations, R = reject signals, T = return signals):
``ACTIVE``, ``APPROVED``, ``REJECTED`` keep their status; ``RETURNED`` -> ``APPROVE_POST_RETURN`` if
Q >= 6, R = 0, T <= 1, else ``RETURN_LEAVE``; ``TIMED-OUT`` -> ``APPROVE_POST_TIMEOUT`` if Q >= 6, R = 0,
T = 0, else ``REJECT``; ``AWAITING REVIEW``: the first of (Q >= 6, R = 0, T = 0) -> ``APPROVE``;
(R = 0, T >= 1) -> ``RETURN_REQUEST``; Q < 6 -> ``REJECT``; R > 0 -> ``REJECT``; else ``CHECK``. Later
duplicate submissions become ``APPROVE_DUPLICATE`` and are excluded. ``include_flag`` follows PRISM's eight
inclusion rules (partial and survey-only completers are kept), and ``bonus`` marks approved participants of
the bonus samples who started inside a bonus window (PRISM: the two DDoS windows).

Without the platform's export every participant is ``AWAITING REVIEW`` and the timing check uses the
study's own times; :func:`pluralis.collect.recruitment.read_prolific_export` reads Prolific's.

Example
-------
>>> from pluralis.data.synthetic import generate_study
>>> study = generate_study(n_participants=30, seed=0)
>>> qc = quality_control(study, params=QCParams(min_conversations=1))
>>> len(qc), set(qc["action"]) <= set(ACTIONS)
(30, True)
>>> qc.loc[qc["user_id"] == "user0", ["status", "reject", "return"]].values.tolist()
[['AWAITING REVIEW', 0, 0]]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from pluralis.data import vocab

if TYPE_CHECKING:
    from pluralis.collect.config import StudyConfig
    from pluralis.data.study import Study

Signal = Literal["reject", "return", "investigate"]

#: PRISM's Prolific completion code (spec §8.1).
PRISM_COMPLETION_CODE = "CVQAGUHV"
#: PRISM's DDoS bonus windows (UTC start/end, spec §8.1).
PRISM_BONUS_WINDOWS: tuple[tuple[str, str], ...] = (
    ("2023-11-28 17:50", "2023-11-28 23:30"),
    ("2023-12-01 17:15", "2023-12-01 23:00"),
)
#: PRISM's samples whose APPROVE rows could get the DDoS bonus.
PRISM_BONUS_SAMPLES = ("us_rep_sample", "uk_rep_sample")
#: Recruitment-platform statuses (Prolific's).
STATUSES = ("ACTIVE", "APPROVED", "REJECTED", "RETURNED", "TIMED-OUT", "AWAITING REVIEW")
#: Every action the rules give.
ACTIONS = (
    "ACTIVE",
    "APPROVED",
    "REJECTED",
    "APPROVE",
    "APPROVE_POST_RETURN",
    "RETURN_LEAVE",
    "APPROVE_POST_TIMEOUT",
    "REJECT",
    "RETURN_REQUEST",
    "CHECK",
    "APPROVE_DUPLICATE",
)
#: Survey answers counted for "prefer not to say" (the PRISM demographic questions; flattened names).
PREFER_NOT_TO_SAY_FIELDS = (
    "age",
    "gender",
    "employment_status",
    "education",
    "marital_status",
    "religion_categorised",
    "ethnicity_categorised",
    "location_birth_country",
    "location_reside_country",
)


@dataclass(frozen=True)
class QCParams:
    """Every parameter of the quality-control checks and rules (spec §8.1).

    Attributes
    ----------
    completion_code
        The code a finished submission carries (``None``: do not check). PRISM's: ``"CVQAGUHV"``.
    fast_sd
        "Very fast" is below mean - ``fast_sd`` * sd of the duration (3).
    min_conversations
        The conversation quota: fewer is "quota not filled" and blocks approval (6).
    consent_label, age_label
        The consent answers that pass.
    mobile_markers
        Operating-system names that signal "return" (iPhone, Android).
    slider_default
        The value counted as a slider left at its default (50).
    attention_signal, attention_allowed_failures
        The signal of failing more than ``attention_allowed_failures`` attention checks.
    bonus_windows, bonus_samples
        Start-time windows (UTC) and samples whose approved participants are tagged for a bonus.
    default_status
        The platform status of a participant when no platform export is given.

    Example
    -------
    >>> QCParams.prism().completion_code, QCParams().min_conversations
    ('CVQAGUHV', 6)
    """

    completion_code: str | None = None
    fast_sd: float = 3.0
    min_conversations: int = 6
    consent_label: str = vocab.CONSENT
    age_label: str = vocab.CONSENT_AGE
    mobile_markers: tuple[str, ...] = ("iPhone", "Android")
    slider_default: int = 50
    attention_signal: Signal = "reject"
    attention_allowed_failures: int = 0
    bonus_windows: tuple[tuple[str, str], ...] = ()
    bonus_samples: tuple[str, ...] = PRISM_BONUS_SAMPLES
    default_status: str = "AWAITING REVIEW"

    @classmethod
    def prism(cls) -> QCParams:
        """PRISM's parameters as coded (its completion code and DDoS bonus windows).

        Example
        -------
        >>> len(QCParams.prism().bonus_windows)
        2
        """
        return cls(completion_code=PRISM_COMPLETION_CODE, bonus_windows=PRISM_BONUS_WINDOWS)

    @classmethod
    def for_study(cls, config: StudyConfig, **overrides: Any) -> QCParams:
        """The parameters of a study: its completion code, conversation quota and ``[quality]`` settings.

        Example
        -------
        >>> from pluralis.collect.config import StudyConfig
        >>> data = StudyConfig().model_dump(mode="json")
        >>> data["completion"]["code"] = "C0DE"; data["conversations"]["types"][0]["quota"] = 1
        >>> p = QCParams.for_study(StudyConfig.model_validate(data))
        >>> p.completion_code, p.min_conversations
        ('C0DE', 5)
        """
        q = config.quality
        params = cls(
            completion_code=config.completion.code,
            fast_sd=q.fast_sd,
            min_conversations=q.min_conversations
            if q.min_conversations is not None
            else config.conversations.total_quota,
            consent_label=config.consent.consent_label,
            age_label=config.consent.age_label,
            mobile_markers=tuple(q.mobile_markers),
            slider_default=q.slider_default,
            attention_signal=q.attention_signal,
            attention_allowed_failures=q.attention_allowed_failures,
        )
        return replace(params, **overrides)


def attention_checks(config: StudyConfig) -> dict[str, str]:
    """The study's attention checks: question id -> the answer that passes.

    Parameters
    ----------
    config : StudyConfig
        The study definition.

    Returns
    -------
    dict of str to str
        Question id of each ``attention`` question with an ``expected`` answer -> that answer.

    Example
    -------
    >>> from pluralis.collect.config import StudyConfig
    >>> attention_checks(StudyConfig())
    {}
    """
    return {
        q.id: str(q.expected)
        for s in config.survey.sections
        for q in s.questions
        if q.kind == "attention" and q.expected is not None
    }


def text_lengths(texts: pd.Series) -> pd.DataFrame:
    """Characters, words (split on a single space) and sentences (split on ".") of each text, as PRISM
    counted them (a text with no "." is one sentence; missing text counts 0).

    Parameters
    ----------
    texts : pandas.Series
        Texts (missing values allowed).

    Returns
    -------
    pandas.DataFrame
        Integer columns ``chars``, ``words`` and ``sentences``, on ``texts``'s index.

    Example
    -------
    >>> text_lengths(pd.Series(["Be kind. Be brief.", None])).to_dict("list")
    {'chars': [18, 0], 'words': [4, 0], 'sentences': [3, 0]}
    """
    present = texts.notna()
    s = texts.astype("object").where(present, "").astype(str)
    return pd.DataFrame(
        {  # len(text.split(sep)) == text.count(sep) + 1
            "chars": s.str.len().where(present, 0).astype(int),
            "words": (s.str.count(" ") + 1).where(present, 0).astype(int),
            "sentences": (s.str.count(r"\.") + 1).where(present, 0).astype(int),
        },
        index=texts.index,
    )


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    """A column, or a column of missing values when the frame has none."""
    return df[name] if name in df else pd.Series(None, index=df.index, dtype="object")


def _too_fast(values: pd.Series, sd_factor: float) -> tuple[pd.Series, float | None]:
    x = pd.to_numeric(values, errors="coerce")
    if x.notna().sum() < 2:
        return pd.Series(False, index=values.index), None
    threshold = float(x.mean() - sd_factor * x.std())
    return (x < threshold).fillna(False), threshold


def _survey_values(survey: pd.DataFrame, params: QCParams, attention: Mapping[str, str]) -> pd.DataFrame:
    out = pd.DataFrame({"user_id": survey["user_id"].astype(str)})
    out["consent_ok"] = _col(survey, "consent") == params.consent_label
    out["age_ok"] = _col(survey, "consent_age") == params.age_label
    out["survey_duration_s"] = pd.to_numeric(_col(survey, "timing_duration_s"), errors="coerce")
    pnts = [c for c in PREFER_NOT_TO_SAY_FIELDS if c in survey]
    out["prefer_not_to_say"] = (survey[pnts] == vocab.PREFER_NOT_TO_SAY).sum(axis=1).astype(int) if pnts else 0
    sliders = [f"stated_prefs_{k}" for k in vocab.STATED_PREF_ATTRIBUTES if f"stated_prefs_{k}" in survey]
    out["stated_prefs_at_default"] = (
        (survey[sliders].apply(pd.to_numeric, errors="coerce") == params.slider_default).sum(axis=1).astype(int)
        if sliders
        else 0
    )
    lengths = [text_lengths(survey[c]) for c in ("system_string", "self_description") if c in survey]
    for part in ("chars", "words", "sentences"):
        out[f"survey_text_{part}"] = pd.concat([x[part] for x in lengths], axis=1).mean(axis=1) if lengths else np.nan
    failed = pd.Series(0, index=survey.index)
    for qid, expected in attention.items():
        col = f"custom_survey_{qid}"
        answers = survey[col] if col in survey else pd.Series(None, index=survey.index)
        failed += (answers != expected).astype(int)
    out["attention_failures"] = failed.astype(int)
    return out


def _conversation_values(conversations: pd.DataFrame, params: QCParams) -> pd.DataFrame:
    if conversations.empty or "user_id" not in conversations:
        return pd.DataFrame(
            columns=[
                "user_id",
                "n_conversations",
                "mean_turns",
                "sd_turns",
                "feedback_sliders_at_default",
                "open_feedback_chars",
                "open_feedback_words",
                "open_feedback_sentences",
            ]
        )
    c = conversations
    attr_cols = [col for col in c.columns if col.startswith(("performance_attributes_", "choice_attributes_"))]
    at_default = (
        (c[attr_cols].apply(pd.to_numeric, errors="coerce") == params.slider_default).sum(axis=1)
        if attr_cols
        else pd.Series(0, index=c.index)
    )
    lengths = text_lengths(c["open_feedback"]) if "open_feedback" in c else None
    frame = pd.DataFrame(
        {
            "user_id": c["user_id"].astype(str),
            "turns": pd.to_numeric(_col(c, "conversation_turns"), errors="coerce"),
            "at_default": at_default,
        }
    )
    for part in ("chars", "words", "sentences"):
        frame[part] = lengths[part] if lengths is not None else np.nan
    g = frame.groupby("user_id", sort=False)
    return pd.DataFrame(
        {
            "n_conversations": g.size(),
            "mean_turns": g["turns"].mean(),
            "sd_turns": g["turns"].std(),
            "feedback_sliders_at_default": g["at_default"].mean(),
            "open_feedback_chars": g["chars"].mean(),
            "open_feedback_words": g["words"].mean(),
            "open_feedback_sentences": g["sentences"].mean(),
        }
    ).reset_index()


def decide_actions(
    status: pd.Series, q: pd.Series, r: pd.Series, t: pd.Series, min_conversations: int = 6
) -> pd.Series:
    """PRISM's action rules (spec §8.1) for submissions with a platform ``status``, ``q`` conversations,
    ``r`` reject and ``t`` return signals (duplicates are handled by :func:`quality_control`).

    Parameters
    ----------
    status : pandas.Series
        Platform status of each submission (``AWAITING REVIEW``, ``RETURNED``, ``TIMED-OUT``, ``APPROVED``, ...).
    q : pandas.Series
        Number of conversations each participant completed.
    r : pandas.Series
        Number of reject signals (failed checks) of each participant.
    t : pandas.Series
        Number of return signals of each participant.
    min_conversations : int
        Conversations a complete submission has (PRISM: 6).

    Returns
    -------
    pandas.Series
        The action of each submission (``APPROVE``, ``REJECT``, ``RETURN_REQUEST``, ``CHECK``, ... or the
        status itself when it is final), on ``status``'s index.

    Example
    -------
    >>> status = pd.Series(["AWAITING REVIEW", "AWAITING REVIEW", "RETURNED", "TIMED-OUT", "APPROVED"])
    >>> decide_actions(status, pd.Series([6, 6, 6, 6, 0]), pd.Series([0, 0, 0, 0, 3]), pd.Series([0, 1, 1, 1, 0])).tolist()
    ['APPROVE', 'RETURN_REQUEST', 'APPROVE_POST_RETURN', 'REJECT', 'APPROVED']
    """
    full = q >= min_conversations
    keep = status.isin(["ACTIVE", "APPROVED", "REJECTED"])
    returned = status == "RETURNED"
    timed_out = status == "TIMED-OUT"
    review = status == "AWAITING REVIEW"
    conditions = [
        keep,
        returned & full & (r == 0) & (t <= 1),
        returned,
        timed_out & full & (r == 0) & (t == 0),
        timed_out,
        review & full & (r == 0) & (t == 0),
        review & (r == 0) & (t >= 1),
        review & ~full,
        review & (r > 0),
        review,
    ]
    choices: list[Any] = [
        status.to_numpy(dtype=object),
        "APPROVE_POST_RETURN",
        "RETURN_LEAVE",
        "APPROVE_POST_TIMEOUT",
        "REJECT",
        "APPROVE",
        "RETURN_REQUEST",
        "REJECT",
        "REJECT",
        "CHECK",
    ]
    picked = np.select([c.to_numpy(dtype=bool) for c in conditions], choices, default="CHECK")
    return pd.Series(picked, index=status.index, dtype=object)


def _in_windows(started: pd.Series, windows: Sequence[tuple[str, str]]) -> pd.Series:
    ts = pd.to_datetime(started, errors="coerce", utc=True)
    hit = pd.Series(False, index=started.index)
    for lo, hi in windows:
        hit |= (ts >= pd.Timestamp(lo, tz="UTC")) & (ts <= pd.Timestamp(hi, tz="UTC"))
    return hit.fillna(False)


def quality_control(
    study: Study,
    submissions: pd.DataFrame | None = None,
    *,
    params: QCParams | None = None,
    config: StudyConfig | None = None,
    attention: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """PRISM's quality-control table (spec §8.1): one row per submission with every signal, value and action.

    Parameters
    ----------
    study
        The study's records (survey rows and conversations; see :meth:`pluralis.data.study.Study.frames`).
    submissions
        The recruitment platform's submissions, one row each: ``submission`` (e.g. the Prolific id),
        ``user_id`` (the participant it maps to, when known), ``status``, and optionally
        ``completion_code``, ``time_taken_s``, ``started_at``, ``operating_system``, ``sample``. Default: one
        ``AWAITING REVIEW`` row per survey participant (:func:`submissions_from_sessions` builds them from
        the live study).
    params
        The thresholds (default: :meth:`QCParams.for_study` of ``config``, else PRISM's :class:`QCParams`).
    config
        The study definition (its parameters and attention checks).
    attention
        Attention checks, question id -> passing answer (default: the study's, :func:`attention_checks`).

    Returns
    -------
    pandas.DataFrame
        Columns ``submission, user_id, status, action, include_flag, bonus, n_conversations, reject, return,
        investigate, reasons`` then one boolean column per check (see the module docs) and the recorded
        values. ``df.attrs["thresholds"]`` holds the "very fast" thresholds used.

    Example
    -------
    >>> from pluralis.data.synthetic import generate_study
    >>> study = generate_study(n_participants=10, seed=1)
    >>> subs = pd.DataFrame({"submission": ["p0", "p1", "p2", "p2"], "user_id": ["user0", "user1", None, None],
    ...                      "status": ["AWAITING REVIEW", "RETURNED", "TIMED-OUT", "TIMED-OUT"],
    ...                      "started_at": ["2024-01-01 10:00", "2024-01-01 10:05", "2024-01-01 11:00",
    ...                                     "2024-01-02 09:00"]})
    >>> qc = quality_control(study, subs, params=QCParams(min_conversations=1))
    >>> qc[["submission", "action", "include_flag", "return"]].values.tolist()
    [['p0', 'APPROVE', 1, 0], ['p1', 'APPROVE_POST_RETURN', 1, 0], ['p2', 'REJECT', 0, 2], ['p2', 'APPROVE_DUPLICATE', 0, 2]]
    """
    if params is None:
        params = QCParams.for_study(config) if config is not None else QCParams()
    if attention is None:
        attention = attention_checks(config) if config is not None else {}
    frames = study.frames()
    survey = frames.survey
    sv = (
        _survey_values(survey, params, attention)
        if len(survey)
        else _survey_values(pd.DataFrame({"user_id": pd.Series(dtype=str)}), params, attention)
    )
    cv = _conversation_values(frames.conversations, params)

    if submissions is None:
        subs = pd.DataFrame({"submission": sv["user_id"], "user_id": sv["user_id"]})
    else:
        subs = submissions.copy()
        if "submission" not in subs:
            raise ValueError("submissions need a 'submission' column (the platform's participant id)")
        if "user_id" not in subs:
            subs["user_id"] = None
    subs = subs.reset_index(drop=True)
    for col in ("status", "completion_code", "time_taken_s", "started_at", "operating_system", "sample"):
        if col not in subs:
            subs[col] = None
    subs["status"] = subs["status"].fillna(params.default_status).astype(str).str.upper()
    subs["user_id"] = subs["user_id"].astype("object").where(subs["user_id"].notna(), None)

    table = subs.merge(sv, on="user_id", how="left").merge(cv, on="user_id", how="left")
    table["n_conversations"] = table["n_conversations"].fillna(0).astype(int)
    in_survey = table["user_id"].isin(set(sv["user_id"]))
    survey_rows_per_submission = (
        table[in_survey].groupby("submission")["user_id"].nunique().reindex(table["submission"]).fillna(0).to_numpy()
    )
    fast_platform, platform_threshold = _too_fast(table["time_taken_s"], params.fast_sd)
    survey_fast_all, survey_threshold = _too_fast(sv["survey_duration_s"], params.fast_sd)  # over all survey rows
    fast_survey_users = set(sv.loc[survey_fast_all.to_numpy(), "user_id"])
    os_text = table["operating_system"].fillna("").astype(str)
    mobile = pd.Series(False, index=table.index)
    for marker in params.mobile_markers:
        mobile |= os_text.str.contains(marker, regex=False)

    checks: dict[str, tuple[Signal, pd.Series]] = {
        "no_completion_code": (
            "investigate",
            (table["completion_code"] != params.completion_code)
            if params.completion_code is not None
            else pd.Series(False, index=table.index),
        ),
        "very_fast_platform": ("reject", fast_platform),
        "not_in_survey": ("return", ~in_survey),
        "not_unique": ("investigate", pd.Series(survey_rows_per_submission > 1, index=table.index)),
        "no_consent": ("reject", in_survey & (table["consent_ok"] != True)),  # noqa: E712 (NaN-safe)
        "under_18": ("reject", in_survey & (table["age_ok"] != True)),  # noqa: E712
        "very_fast_survey": ("reject", table["user_id"].isin(fast_survey_users)),
        "mobile_os": ("return", mobile),
        "attention_failed": (
            params.attention_signal,
            in_survey & (table["attention_failures"].fillna(0) > params.attention_allowed_failures),
        ),
        "not_in_conversations": ("return", table["n_conversations"] == 0),
        "quota_not_filled": ("investigate", table["n_conversations"] < params.min_conversations),
    }
    for name, (_signal, fired) in checks.items():
        table[name] = fired.astype(bool).to_numpy()
    for signal in ("reject", "return", "investigate"):
        names = [n for n, (sig, _f) in checks.items() if sig == signal]
        table[signal] = table[names].sum(axis=1).astype(int) if names else 0
    table["reasons"] = _reasons(table, checks)

    q, r, t = table["n_conversations"], table["reject"], table["return"]
    action = decide_actions(table["status"], q, r, t, params.min_conversations)
    started = pd.to_datetime(table["started_at"], errors="coerce", utc=True)
    order = table.assign(_start=started, _row=np.arange(len(table))).sort_values(["_start", "_row"], na_position="last")
    duplicate = order.duplicated("submission", keep="first").reindex(table.index)
    action = action.where(~duplicate, "APPROVE_DUPLICATE")
    table["action"] = action
    table["bonus"] = (
        (action == "APPROVE")
        & table["sample"].isin(params.bonus_samples)
        & _in_windows(table["started_at"], params.bonus_windows)
    )

    approved = action.isin(["APPROVE"]) | (table["status"] == "APPROVED")
    mobile_flag = table["mobile_os"]
    include = np.select(
        [
            duplicate,
            approved,
            q >= params.min_conversations,
            (q >= 1) & (q < params.min_conversations),
            in_survey & (q == 0) & (r == 0),
            in_survey & (q > 0) & (r == 0) & mobile_flag,
            in_survey & (q > 0) & (r == 0),
        ],
        [0, 1, 1, 1, 1, 1, 1],
        default=0,
    )
    table["include_flag"] = include.astype(int)
    first = ["submission", "user_id", "status", "action", "include_flag", "bonus", "n_conversations"]
    rest = ["reject", "return", "investigate", "reasons", *checks]
    values = [
        "completion_code",
        "time_taken_s",
        "survey_duration_s",
        "operating_system",
        "prefer_not_to_say",
        "stated_prefs_at_default",
        "survey_text_chars",
        "survey_text_words",
        "survey_text_sentences",
        "attention_failures",
        "mean_turns",
        "sd_turns",
        "feedback_sliders_at_default",
        "open_feedback_chars",
        "open_feedback_words",
        "open_feedback_sentences",
    ]
    out = table[first + rest + values].copy()
    out.attrs["thresholds"] = {"very_fast_platform_s": platform_threshold, "very_fast_survey_s": survey_threshold}
    out.attrs["params"] = params
    return out


def _reasons(table: pd.DataFrame, checks: Mapping[str, tuple[str, Any]]) -> list[str]:
    names = list(checks)
    flags = table[names].to_numpy(dtype=bool)
    return ["; ".join(f"{n} ({checks[n][0]})" for n, f in zip(names, row) if f) for row in flags]


def submissions_from_sessions(
    sessions: Iterable[Mapping[str, Any]],
    prolific: pd.DataFrame | None = None,
    *,
    id_param: str | None = "PROLIFIC_PID",
) -> pd.DataFrame:
    """Quality control's submissions table from the live study's participants, optionally joined with the
    recruitment platform's export.

    Parameters
    ----------
    sessions
        Rows of :func:`pluralis.store.participants.sessions_overview` (``user_id``, ``created_at``,
        ``completed_at``, ``completion_code``, ``params``, ``client_os``).
    prolific
        :func:`pluralis.collect.recruitment.read_prolific_export`'s table: its submissions are the rows
        (status, time taken, completion code from Prolific), mapped to participants by ``id_param``; a
        submission with no participant is "not in survey".
    id_param
        The URL parameter that holds the platform's participant id.

    Returns
    -------
    pandas.DataFrame
        Columns ``submission, user_id, status, completion_code, time_taken_s, started_at, operating_system``.

    Example
    -------
    >>> rows = [{"user_id": "u1", "created_at": 0.0, "completed_at": 3000.0, "completion_code": "C1",
    ...          "params": {"PROLIFIC_PID": "p1"}, "client_os": "Windows"}]
    >>> submissions_from_sessions(rows)[["submission", "user_id", "time_taken_s"]].values.tolist()
    [['p1', 'u1', 3000.0]]
    >>> prolific = pd.DataFrame({"submission": ["p1", "p2"], "status": ["APPROVED", "RETURNED"]})
    >>> submissions_from_sessions(rows, prolific)[["submission", "user_id", "status"]].values.tolist()
    [['p1', 'u1', 'APPROVED'], ['p2', None, 'RETURNED']]
    """
    rows = []
    for s in sessions:
        params = dict(s.get("params") or {})
        done = s.get("completed_at")
        started = s.get("created_at")
        rows.append(
            {
                "submission": params.get(id_param) if id_param and params.get(id_param) else s["user_id"],
                "user_id": s["user_id"],
                "status": None,
                "completion_code": s.get("completion_code"),
                "time_taken_s": (done - started) if done is not None and started is not None else None,
                "started_at": pd.to_datetime(started, unit="s", utc=True) if started is not None else None,
                "operating_system": s.get("client_os"),
            }
        )
    ours = pd.DataFrame(
        rows,
        columns=[
            "submission",
            "user_id",
            "status",
            "completion_code",
            "time_taken_s",
            "started_at",
            "operating_system",
        ],
    )
    if prolific is None:
        return ours
    theirs = prolific.copy()
    keep = ["submission", "user_id", "operating_system"]
    linked = theirs.merge(ours[keep], on="submission", how="left")
    for col in ("user_id", "operating_system"):
        linked[col] = linked[col].astype("object").where(linked[col].notna(), None)
    for col in ("status", "completion_code", "time_taken_s", "started_at"):
        if col not in linked:
            linked[col] = None
    return linked[
        ["submission", "user_id", "status", "completion_code", "time_taken_s", "started_at", "operating_system"]
    ].reset_index(drop=True)


__all__ = [
    "ACTIONS",
    "PRISM_BONUS_SAMPLES",
    "PRISM_BONUS_WINDOWS",
    "PRISM_COMPLETION_CODE",
    "PREFER_NOT_TO_SAY_FIELDS",
    "QCParams",
    "STATUSES",
    "attention_checks",
    "decide_actions",
    "quality_control",
    "submissions_from_sessions",
    "text_lengths",
]
