"""Data model and I/O: validated records, one reader/writer per data format behind one registry, synthetic studies."""

from pluralis.data.io.arena import read_arena, write_arena
from pluralis.data.io.community_alignment import read_community_alignment
from pluralis.data.io.hf import load_prism_from_hf_cache
from pluralis.data.io.prism import load_prism, write_prism
from pluralis.data.io.registry import (
    DataFormat,
    detect_format,
    formats,
    get_format,
    load_study,
    register_format,
    save_study,
    unregister_format,
)
from pluralis.data.io.wide import from_wide, read_wide, to_wide, write_wide
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
    "DataFormat",
    "Interaction",
    "ModelTurn",
    "Participant",
    "Study",
    "StudyFrames",
    "TextMetadata",
    "UserTurn",
    "Utterance",
    "canonical_json",
    "detect_format",
    "formats",
    "from_wide",
    "get_format",
    "load_prism",
    "load_prism_from_hf_cache",
    "load_study",
    "read_arena",
    "read_community_alignment",
    "read_wide",
    "register_format",
    "save_study",
    "to_wide",
    "unregister_format",
    "write_arena",
    "write_prism",
    "write_wide",
]
