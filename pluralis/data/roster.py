"""The PRISM model roster (21 models, App. P), shipped with the package."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

#: ``model_provider`` values as stored in PRISM's utterances, keyed by the roster's provider field.
PROVIDER_CODES = {
    "Anthropic": "anthropic",
    "Cohere": "cohere",
    "OpenAI": "openai",
    "Aleph": "aleph",
    "Google": "google",
    "HuggingFace-API": "huggingface_api",
}


@dataclass(frozen=True)
class RosterModel:
    """One model of PRISM's roster: short and long name, provider, type and system prompt.

    Example
    -------
    >>> m = prism_models()[0]
    >>> m.short_name, m.provider
    ('claude-2', 'anthropic')
    """

    short_name: str
    long_name: str
    provider: str
    model_type: str
    system_prompt: str
    params: dict = field(default_factory=dict, hash=False, compare=False)


@lru_cache(maxsize=1)
def prism_models() -> tuple[RosterModel, ...]:
    """The 21 PRISM models in release order.

    Returns
    -------
    tuple of RosterModel

    Example
    -------
    >>> len(prism_models()), prism_models()[0].short_name
    (21, 'claude-2')
    """
    text = resources.files("pluralis.data.resources").joinpath("prism_models.jsonl").read_text("utf-8")
    out = []
    for line in text.splitlines():
        if line.strip():
            d = json.loads(line)
            out.append(
                RosterModel(
                    short_name=d["short_name"],
                    long_name=d["long_name"],
                    provider=PROVIDER_CODES.get(d["model_provider"], d["model_provider"].lower()),
                    model_type=d["model_type"],
                    system_prompt=d["header"],
                    params=d.get("selected_params", {}),
                )
            )
    return tuple(out)


def short_name(long_name: str) -> str:
    """Map a stored ``model_name`` (long name) to PRISM's short name; unknown names pass through.

    Parameters
    ----------
    long_name
        a ``model_name`` as stored in PRISM's files.

    Returns
    -------
    str

    Example
    -------
    >>> short_name("models/chat-bison-001")
    'palm-2'
    """
    return {m.long_name: m.short_name for m in prism_models()}.get(long_name, long_name)
