"""Collection platform: run a PRISM-protocol feedback study (web app, real database, real LLM backends).

- :mod:`pluralis.collect.config`: the study definition (:class:`StudyConfig`, :func:`load_study_config`).
- :mod:`pluralis.collect.protocol`: the UI-independent protocol engine (:class:`ProtocolSession`), used by
  the web app and by simulated participants alike.
- :mod:`pluralis.collect.quotas`: sample quotas (census cells).
- :mod:`pluralis.collect.questions`: survey question kinds, one registered object per kind (validation,
  form parsing, the macro that renders it, simulated answers), and the table of PRISM's built-in questions.
- :mod:`pluralis.collect.check`: check a study before it is served (``pluralis study check``): the file, the
  template's placeholders, one call to every model.
- :mod:`pluralis.collect.recruitment`: recruitment-platform URL parameters (Prolific), browser OS, Prolific's export.
- :mod:`pluralis.collect.quality`: PRISM's quality control (signals, action rules, inclusion; spec §8.1).
- :mod:`pluralis.store.participants`: payment matching, withdrawal, the failures table, the audit log.
- :mod:`pluralis.web.repository`: the app's database access through the Pluralis store.
- :mod:`pluralis.web.app`: the FastAPI app behind ``pluralis serve STUDY.toml``.
"""

from pluralis.collect.config import StudyConfig, default_study_path, load_study_config
from pluralis.collect.protocol import (
    ProtocolError,
    ProtocolSession,
    ProtocolState,
    Step,
    StepView,
    combine_records,
    example_survey_answers,
)
from pluralis.collect.quotas import QuotaPlan, QuotaTracker

__all__ = [
    "ProtocolError",
    "ProtocolSession",
    "ProtocolState",
    "QuotaPlan",
    "QuotaTracker",
    "Step",
    "StepView",
    "StudyConfig",
    "combine_records",
    "default_study_path",
    "example_survey_answers",
    "load_study_config",
]
