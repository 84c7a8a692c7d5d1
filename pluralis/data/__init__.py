"""Data model and I/O: validated records, PRISM / Arena / Community-Alignment formats, parquet, synthetic studies."""

from pluralis.data.io.prism import (
    from_wide,
    load_prism,
    load_prism_from_hf_cache,
    read_wide,
    to_wide,
    write_prism,
    write_wide,
)
from pluralis.data.io.sources import load_study, save_study
from pluralis.data.jsonio import canonical_json
from pluralis.data.model import (
    AttributeRatings,
    Comparison,
    Conversation,
    Interaction,
    ModelTurn,
    Participant,
    TextMetadata,
    UserTurn,
    Utterance,
)
from pluralis.data.study import Study, StudyFrames

__all__ = [
    "AttributeRatings",
    "Comparison",
    "Conversation",
    "Interaction",
    "ModelTurn",
    "Participant",
    "Study",
    "StudyFrames",
    "TextMetadata",
    "UserTurn",
    "Utterance",
    "canonical_json",
    "from_wide",
    "load_prism",
    "load_prism_from_hf_cache",
    "load_study",
    "read_wide",
    "save_study",
    "to_wide",
    "write_prism",
    "write_wide",
]
