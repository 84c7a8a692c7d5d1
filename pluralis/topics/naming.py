"""Topic names: PRISM's LLM prompt (spec §5.1), a chat-function namer, and keyword names.

A *namer* is any callable ``namer(top_texts, top_words) -> str``. :func:`chat_namer` turns a
chat function (``messages -> reply text``; the command line builds one from an OpenAI-compatible
endpoint with :mod:`pluralis.llm`) into a namer that sends PRISM's exact prompt with PRISM's
decoding (temperature 0, 48 tokens, top_p 1, an empty system message). Without a model,
:func:`keyword_name` names a topic by its leading keywords.

PRISM's code asked ``gpt-4`` (the paper says gpt-4-turbo; spec §9 row 8) and the labels were
checked by hand; names from any model deserve the same check.

Example
-------
>>> print(naming_prompt(["Hi", "Hello"], ["hello", "hi"]))
Your task is to create a short clear title for a cluster of texts (around 2-4 words) based on the following information.
<BLANKLINE>
    Typical texts in the cluster are: ['Hi', 'Hello']
<BLANKLINE>
    Typical words used in the cluster are: ['hello', 'hi']
<BLANKLINE>
    Give the cluster title:
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

#: Name of the outlier "topic" (label -1), as in PRISM's tables.
OUTLIER_NAME = "Outliers"

#: PRISM's naming prompt; the four leading spaces come from line continuations in its f-string.
PRISM_NAMING_PROMPT = (
    "Your task is to create a short clear title for a cluster of texts (around 2-4 words) based on the "
    "following information.\n\n    Typical texts in the cluster are: {top_texts}\n\n    Typical words used "
    "in the cluster are: {top_words}\n\n    Give the cluster title:"
)

#: PRISM's decoding settings for naming (``openai.ChatCompletion.create`` arguments).
PRISM_NAMING_PARAMS: dict[str, float | int] = {
    "temperature": 0.0,
    "max_tokens": 48,
    "top_p": 1.0,
    "frequency_penalty": 0.0,
    "presence_penalty": 0.0,
}

Namer = Callable[[list[str], list[str]], str]
ChatFunction = Callable[[list[dict[str, str]]], str]


def naming_prompt(top_texts: Sequence[str], top_words: Sequence[str]) -> str:
    """PRISM's naming prompt for one topic (Python list reprs, as PRISM formatted them).

    Parameters
    ----------
    top_texts : sequence of str
        The topic's most representative texts.
    top_words : sequence of str
        The topic's keywords.

    Returns
    -------
    str
        The filled-in prompt.

    Example
    -------
    >>> naming_prompt(["a"], ["b"]).splitlines()[-1].strip()
    'Give the cluster title:'
    """
    return PRISM_NAMING_PROMPT.format(top_texts=list(map(str, top_texts)), top_words=list(map(str, top_words)))


def naming_messages(top_texts: Sequence[str], top_words: Sequence[str]) -> list[dict[str, str]]:
    """The chat PRISM sent: an empty system message, then the naming prompt.

    Parameters
    ----------
    top_texts : sequence of str
        The topic's most representative texts.
    top_words : sequence of str
        The topic's keywords.

    Returns
    -------
    list of dict of str to str
        Chat messages (``role``, ``content``).

    Example
    -------
    >>> [m["role"] for m in naming_messages(["a"], ["b"])]
    ['system', 'user']
    """
    return [{"role": "system", "content": ""}, {"role": "user", "content": naming_prompt(top_texts, top_words)}]


def clean_name(reply: str, max_chars: int = 80) -> str:
    """A model's reply as a topic name: first line, without quotes, a "Title:" prefix or a final full stop.

    Parameters
    ----------
    reply : str
        The model's reply (``None`` or empty gives ``""``).
    max_chars : int
        Longest name kept (default 80).

    Returns
    -------
    str
        The cleaned name.

    Example
    -------
    >>> clean_name('Title: "Travel Recommendations".\\nThese texts ...')
    'Travel Recommendations'
    """
    text = (reply or "").strip()
    text = text.splitlines()[0].strip() if text else ""
    text = re.sub(r"^(cluster\s+)?title\s*:\s*", "", text, flags=re.IGNORECASE)
    text = text.strip().strip("*#").strip().strip("\"'`“”‘’").strip()
    text = text.rstrip(".").strip().strip("\"'`“”‘’").strip()
    return text[:max_chars]


def chat_namer(chat: ChatFunction) -> Namer:
    """A namer that asks ``chat(messages) -> reply`` with PRISM's prompt and cleans the reply.

    Parameters
    ----------
    chat : ChatFunction
        A callable from a list of chat messages to the model's reply text.

    Returns
    -------
    Namer
        A callable ``(top_texts, top_words) -> name``.

    Example
    -------
    >>> namer = chat_namer(lambda messages: '"Pet Care Questions"')
    >>> namer(["How often should I feed my cat?"], ["cat", "feed"])
    'Pet Care Questions'
    """

    def namer(top_texts: list[str], top_words: list[str]) -> str:
        return clean_name(chat(naming_messages(top_texts, top_words)))

    return namer


def keyword_name(words: Sequence[str], n: int = 3) -> str:
    """A name from a topic's keywords: its first ``n`` distinct keywords joined with " / ".

    Parameters
    ----------
    words : sequence of str
        The topic's keywords, best first.
    n : int
        Number of distinct keywords used (default 3).

    Returns
    -------
    str
        The name, or ``"(no keywords)"``.

    Example
    -------
    >>> keyword_name(["flights", "cheap flights", "hotels", "trip", "beach"])
    'flights / cheap flights / hotels'
    >>> keyword_name(["cat", "cat food", "cat", "dog"], n=2)
    'cat / cat food'
    >>> keyword_name([])
    '(no keywords)'
    """
    chosen: list[str] = []
    for w in words:
        if w in chosen:
            continue
        chosen.append(w)
        if len(chosen) == n:
            break
    return " / ".join(chosen) if chosen else "(no keywords)"


def unique_names(names: dict[int, str]) -> dict[int, str]:
    """Make topic names unique by appending `` (2)``, `` (3)``... to repeats (lowest topic keeps it).

    Parameters
    ----------
    names : dict of int to str
        Topic label -> name.

    Returns
    -------
    dict of int to str
        Topic label -> unique name, in ascending label order.

    Example
    -------
    >>> unique_names({0: "Travel", 3: "Travel", 1: "Food"})
    {0: 'Travel', 1: 'Food', 3: 'Travel (2)'}
    """
    seen: dict[str, int] = {}
    out: dict[int, str] = {}
    for t in sorted(names):
        name = names[t]
        seen[name] = seen.get(name, 0) + 1
        out[t] = name if seen[name] == 1 else f"{name} ({seen[name]})"
    return out
