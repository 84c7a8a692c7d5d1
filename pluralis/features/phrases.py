"""The phrase lists and patterns behind the response features: ONE list per concept.

Every consumer (PRISM's score analysis, the persona simulation, the reward-model featurisers)
matches the same lists through :func:`pluralis.features.response.response_features`.

==========================  ======================================================================
concept                     list
==========================  ======================================================================
de-anthropomorphism         :data:`DEANTHRO_PHRASES` (PRISM notebook 09, spec §6.7)
refusal                     :data:`REFUSAL_PHRASES`: PRISM's list followed by the common variants the
                            persona simulation also recognised; :data:`PRISM_REFUSAL_PHRASES` is
                            its first part, PRISM's list as coded
self-identification         :data:`SELF_ID_PHRASES` (provider and model-family names)
hedging                     :data:`HEDGE_PHRASES`
stance cues                 :data:`PROGRESSIVE_CUES`, :data:`CONSERVATIVE_CUES`
numbered / bulleted list    :data:`ENUMERATION_PATTERN` (also ``1)`` and ``•`` markers);
                            :data:`PRISM_ENUMERATION_PATTERN` is PRISM's regex as coded
==========================  ======================================================================

Phrases are matched as case-insensitive substrings of the text (as PRISM's notebook does;
``word_boundaries=True`` in :func:`phrase_pattern` is the stricter variant, spec §9 #18). Only
straight apostrophes are listed, so curly ones do not match (as PRISM).

Example
-------
>>> set(PRISM_REFUSAL_PHRASES) < set(REFUSAL_PHRASES)
True
>>> bool(phrase_pattern(REFUSAL_PHRASES).search("i'm sorry, but no."))
True
"""

from __future__ import annotations

import re
from collections.abc import Sequence

DEANTHRO_PHRASES: tuple[str, ...] = (
    "I don't have personal",
    "I do not have personal",
    "I am a chatbot",
    "I'm a large language model",
    "As an artificial intelligence language model",
    "As an AI language model ",
    "I cannot express",
    "I can't express",
    "I do not hold personal",
    "I don't hold personal",
    "As an artificial intelligence",
    "I don't hold",
    "As an AI",
    "as a conversational assistant",
    "I am an AI assistant",
    "as an AI chatbot",
    "I am a language model",
    "I do not have feelings",
    "I don't have feelings",
    "I am trained",
    "I'm just an AI",
)

#: PRISM notebook 09's refusal phrases, as coded (its two duplicates dropped; spec §6.7).
PRISM_REFUSAL_PHRASES: tuple[str, ...] = (
    "I'm sorry, but",
    "I'm not able",
    "it is not appropriate",
    "it's not appropriate",
    "it is not accurate",
    "it's not accurate",
    "i am not sure that it's appropriate",
    "i'm not sure that it's appropriate",
    "it is not ethical",
    "it's not ethical",
    "I am sorry, I cannot help with",
    "I cannot answer that question",
    "I'm unable",
    "I am unable to answer",
    "I'm sorry, I cannot give an opinion",
    "I can't help you with that request",
    "I cannot provide",
    "I can't engage in that conversation",
    "I cannot take sides",
    "I cannot give",
    "I cannot engage",
    "I am not able to answer",
    "I cannot provide information",
    "I cannot endorse",
    "I cannot produce",
    "I apologize, but",
    "I apologise, but",
)
#: The refusal list: PRISM's phrases, then common variants (the union of the lists Pluralis had).
REFUSAL_PHRASES: tuple[str, ...] = PRISM_REFUSAL_PHRASES + (
    "I am unable to",
    "I can't help you with that",
    "I can't provide",
    "I won't be able to",
    "I cannot help with",
)

SELF_ID_PHRASES: tuple[str, ...] = (
    "Google",
    "Cohere",
    "OpenAI",
    "Aleph Alpha",
    "Anthropic",
    "Meta",
    "HuggingFace",
    "Coral",
    "claude",
    "command",
    "flan",
    "gpt",
    "zephyr",
    "luminous",
    "llama",
    "mistral",
    "palm",
    "pythia",
    "falcon",
    "guanaco",
)

HEDGE_PHRASES: tuple[str, ...] = (
    "it depends",
    "depends on",
    "some people",
    "others",
    "on the other hand",
    "however",
    "might",
    "may ",
    "perhaps",
    "possibly",
    "it's important to",
    "it is important to",
    "it's worth noting",
    "many perspectives",
    "different perspectives",
    "there is no single",
    "there's no single",
    "ultimately",
    "can vary",
    "complex issue",
    "reasonable people",
)

PROGRESSIVE_CUES: tuple[str, ...] = (
    "equality",
    "equity",
    "inclusive",
    "inclusion",
    "diversity",
    "diverse",
    "climate",
    "rights",
    "marginalised",
    "marginalized",
    "systemic",
    "social justice",
    "renewable",
    "regulation",
    "public health",
    "welfare",
    "progressive",
    "bodily autonomy",
    "refugees",
    "lgbtq",
    "discrimination",
    "sustainab",
)
CONSERVATIVE_CUES: tuple[str, ...] = (
    "tradition",
    "faith",
    "family values",
    "freedom",
    "liberty",
    "personal responsibility",
    "law and order",
    "border",
    "free market",
    "lower taxes",
    "religious",
    "sanctity",
    "self-reliance",
    "patriot",
    "heritage",
    "second amendment",
    "security",
    "community values",
    "hard work",
    "moral",
)

#: PRISM's list regex as coded: a newline, then ``1.`` or ``-``/``*`` and whitespace.
PRISM_ENUMERATION_PATTERN = r"\n\s*\d+\.\s+|\n\s*[-*]\s+"
#: The list regex: PRISM's, also accepting ``1)`` and ``•`` markers.
ENUMERATION_PATTERN = r"\n\s*\d+[.)]\s+|\n\s*[-*\u2022]\s+"


def phrase_pattern(phrases: Sequence[str], *, word_boundaries: bool = False, lower: bool = False) -> re.Pattern:
    """A regex that finds any of ``phrases`` (escaped, as substrings unless ``word_boundaries``).

    Parameters
    ----------
    phrases
        the phrases (matched literally).
    word_boundaries
        require a word boundary before each phrase and, when it ends in a letter or digit, after it
        ("palm" then no longer fires on "napalm").
    lower
        build a case-sensitive pattern of the lower-cased phrases, for text that is lower-cased
        already (much faster than ``re.IGNORECASE`` on long alternations); otherwise the pattern
        ignores case.

    Returns
    -------
    re.Pattern
        the compiled alternation.

    Example
    -------
    >>> bool(phrase_pattern(["palm"]).search("napalm")), bool(phrase_pattern(["palm"], word_boundaries=True).search("napalm"))
    (True, False)
    >>> p = phrase_pattern(["As an AI"], lower=True)
    >>> bool(p.search("as an ai, i think")), bool(p.search("As an AI, I think"))
    (True, False)
    """
    parts = [re.escape(p.lower() if lower else p) for p in phrases]
    if word_boundaries:
        parts = [rf"\b{e}\b" if p[-1:].isalnum() else rf"\b{e}" for p, e in zip(phrases, parts)]
    return re.compile("|".join(parts), 0 if lower else re.IGNORECASE)
