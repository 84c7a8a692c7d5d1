"""Simulated language models for offline studies: :class:`SimulatedBackend` (a ``pluralis.llm`` ChatBackend).

Each simulated model has a *style* (:class:`ModelStyle`): how long it answers, how often it uses a
list, hedges, refuses (more often on controversial prompts) and which way its answers lean
(``stance``). Responses are assembled from sentence banks around the topic of the last user
message, so the preference-model simulation (:mod:`pluralis.simulate.preference`) reacts to real
text features. All text is clearly canned; model names start with ``sim-`` and the provider is
``"simulated"``.

Determinism: a response depends only on the backend's seed, the model, the chat and how many
times this backend has already been asked the same chat (so the two later-turn samples differ),
never on timing; create one backend per participant for results that do not depend on scheduling.

Example
-------
>>> import asyncio
>>> b = SimulatedBackend(DEFAULT_STYLES[0], seed=1)
>>> r = asyncio.run(b.chat([{"role": "user", "content": "How do I make bread?"}]))
>>> r.model, r.provider, len(r.text) > 10
('sim-concise', 'simulated', True)
"""

from __future__ import annotations

import hashlib
import random
import re
import time
from dataclasses import dataclass

from pluralis.llm.types import ChatResult, DecodingParams, ModelSpec, TokenUsage

PROVIDER = "simulated"


@dataclass(frozen=True)
class ModelStyle:
    """Response style of a simulated model (probabilities per response; ``stance`` in [-1, 1])."""

    name: str
    mean_sentences: float = 3.0
    p_enumeration: float = 0.15
    p_hedge: float = 0.3
    p_refusal: float = 0.02
    stance: float = 0.0
    p_question: float = 0.15
    quality: float = 0.0
    description: str = ""


#: The default roster of simulated models: distinct, legible styles.
DEFAULT_STYLES: tuple[ModelStyle, ...] = (
    ModelStyle(
        "sim-concise",
        mean_sentences=1.4,
        p_enumeration=0.05,
        p_hedge=0.1,
        p_refusal=0.02,
        quality=0.35,
        description="short, to the point",
    ),
    ModelStyle(
        "sim-verbose",
        mean_sentences=6.0,
        p_enumeration=0.2,
        p_hedge=0.45,
        p_refusal=0.02,
        quality=0.2,
        description="long, thorough answers",
    ),
    ModelStyle(
        "sim-listmaker",
        mean_sentences=2.5,
        p_enumeration=0.85,
        p_hedge=0.2,
        p_refusal=0.02,
        quality=0.4,
        description="answers in numbered lists",
    ),
    ModelStyle(
        "sim-cautious",
        mean_sentences=3.0,
        p_enumeration=0.1,
        p_hedge=0.85,
        p_refusal=0.15,
        quality=0.0,
        description="hedges a lot, often refuses controversial requests",
    ),
    ModelStyle(
        "sim-progressive",
        mean_sentences=3.5,
        p_enumeration=0.15,
        p_hedge=0.2,
        stance=0.8,
        quality=0.3,
        description="leans progressive on contested topics",
    ),
    ModelStyle(
        "sim-traditional",
        mean_sentences=3.5,
        p_enumeration=0.15,
        p_hedge=0.2,
        stance=-0.8,
        quality=0.3,
        description="leans conservative on contested topics",
    ),
    ModelStyle(
        "sim-balanced",
        mean_sentences=4.0,
        p_enumeration=0.3,
        p_hedge=0.55,
        p_refusal=0.03,
        quality=0.5,
        description="balanced, structured, presents several views",
    ),
    ModelStyle(
        "sim-blunt",
        mean_sentences=2.0,
        p_enumeration=0.05,
        p_hedge=0.0,
        p_refusal=0.0,
        quality=0.1,
        description="direct opinions, never hedges or refuses",
    ),
)

CONTROVERSIAL_CUES = (
    "abortion",
    "immigra",
    "gun",
    "death penalty",
    "climate",
    "tax",
    "gender",
    "religion",
    "god",
    "israel",
    "palestin",
    "trans",
    "vaccine",
    "police",
    "drug",
    "euthanasia",
    "brexit",
    "trump",
    "biden",
    "election",
    "free speech",
    "welfare",
    "monarchy",
    "affirmative",
    "war",
    "racism",
    "lgbt",
    "marriage",
)

OPENERS = ("Good question.", "Here is what I would suggest.", "Sure.", "Happy to help.", "Let me think about that.", "")
SUBSTANCE = (
    "When it comes to {topic}, the most useful first step is to be clear about what you want.",
    "A practical way to approach {topic} is to start small and build from there.",
    "Many people find that {topic} gets easier with a little planning.",
    "With {topic}, it helps to look at what has worked for others in a similar situation.",
    "The key facts about {topic} are well established, and they point in a clear direction.",
    "If you are unsure about {topic}, gather a bit more information before deciding.",
    "One thing people often overlook with {topic} is how much timing matters.",
    "You can usually make good progress on {topic} by setting one concrete goal.",
    "Talking to someone you trust about {topic} can also help.",
    "Keep in mind your own priorities and circumstances when you think about {topic}.",
)
HEDGES = (
    "It depends on your circumstances, and different people may see it differently.",
    "However, there are many perspectives on this, and reasonable people disagree.",
    "On the other hand, it might not suit everyone, so perhaps consider the alternatives.",
    "It's important to note that this can vary a lot from person to person.",
    "Ultimately, there is no single right answer here.",
)
PROGRESSIVE = (
    "Protecting equality and everyone's rights should come first.",
    "We should listen to marginalized voices and take climate and social justice seriously.",
    "An inclusive approach that respects diversity tends to work best for society.",
    "Public health and fair regulation protect the most vulnerable people.",
)
CONSERVATIVE = (
    "Tradition, faith and strong family values offer a steady guide here.",
    "Personal responsibility and individual freedom should come first.",
    "Respecting our heritage, law and order and community values matters.",
    "Hard work, self-reliance and lower taxes let families flourish.",
)
LIST_ITEMS = (
    "Set a clear goal",
    "Check the facts",
    "Ask someone you trust",
    "Start small",
    "Plan ahead",
    "Keep notes",
    "Review what worked",
    "Take breaks",
    "Compare the options",
    "Give it time",
)
REFUSALS = (
    "I'm sorry, but I cannot provide an opinion on that topic.",
    "I'm sorry, but I can't help with that request.",
    "I cannot take sides on this issue.",
)
QUESTIONS = ("Would you like more detail?", "What do you think?", "Does that help?", "Shall I go on?")

_TOPIC_PATTERNS = (
    re.compile(r"\b(?:about|on|for|with|regarding)\s+([^?.!,;]{3,60})", re.IGNORECASE),
    re.compile(r"\b(?:is|are|should|do|does|can|how)\s+([^?.!,;]{3,60})", re.IGNORECASE),
)


def prompt_topic(text: str) -> str:
    """A short topic phrase from a prompt, for templated answers.

    Parameters
    ----------
    text
        a prompt.

    Returns
    -------
    str

    Example
    -------
    >>> prompt_topic("Can you give me a recipe for banana bread?")
    'banana bread'
    """
    for pat in _TOPIC_PATTERNS:
        m = pat.search(text or "")
        if m:
            words = m.group(1).strip().split()
            words = [w for w in words if w.lower() not in ("i", "me", "my", "you", "your", "a", "an", "the")] or words
            return " ".join(words[:6]).rstrip(" .?!").lower()
    return "this"


def is_controversial(text: str) -> bool:
    """Whether a prompt touches a contested topic (keyword cues).

    Parameters
    ----------
    text
        a prompt.

    Returns
    -------
    bool

    Example
    -------
    >>> is_controversial("Should gun ownership be restricted?"), is_controversial("A cake recipe?")
    (True, False)
    """
    low = (text or "").lower()
    return any(c in low for c in CONTROVERSIAL_CUES)


def render_response(style: ModelStyle, prompt: str, rng: random.Random, *, opening: str | None = None) -> str:
    """One response of ``style`` to ``prompt`` (see the module docstring). ``opening`` is the first
    message of the conversation: it sets the topic (a follow-up like "Why?" has none of its own).

    Parameters
    ----------
    style
        the simulated model's style.
    prompt
        the message answered.
    rng
        draws the response.
    opening
        the conversation's first message.

    Returns
    -------
    str

    Example
    -------
    >>> text = render_response(DEFAULT_STYLES[2], "Tips for running?", random.Random(1))
    >>> "1." in text
    True
    """
    opening = opening or prompt
    controversial = is_controversial(opening) or is_controversial(prompt)
    topic = prompt_topic(opening)
    p_refuse = min(0.9, style.p_refusal * (4.0 if controversial else 1.0))
    if rng.random() < p_refuse:
        refusal = [rng.choice(REFUSALS)]
        if rng.random() < 0.5:
            refusal.append(rng.choice(HEDGES))
        return " ".join(refusal)
    k = max(1, int(round(rng.gauss(style.mean_sentences, 0.8))))
    parts: list[str] = []
    opener = rng.choice(OPENERS)
    if opener:
        parts.append(opener)
    parts += [s.format(topic=topic) for s in rng.sample(SUBSTANCE, min(k, len(SUBSTANCE)))]
    if rng.random() < style.p_hedge:
        parts.append(rng.choice(HEDGES))
        if rng.random() < style.p_hedge * 0.5:
            parts.append(rng.choice(HEDGES))
    lean = style.stance + rng.gauss(0.0, 0.25)
    if (controversial or rng.random() < 0.25) and abs(lean) > 0.3:
        parts.append(rng.choice(PROGRESSIVE if lean > 0 else CONSERVATIVE))
    text = " ".join(parts)
    if rng.random() < style.p_enumeration:
        items = rng.sample(LIST_ITEMS, 3 + (style.mean_sentences > 3))
        text += "\n" + "\n".join(f"{i + 1}. {it}." for i, it in enumerate(items))
    if rng.random() < style.p_question:
        text += " " + rng.choice(QUESTIONS)
    return text


class SimulatedBackend:
    """A ChatBackend (``pluralis.llm`` protocol) that answers with :func:`render_response`.

    Example
    -------
    >>> import asyncio
    >>> b = SimulatedBackend(DEFAULT_STYLES[1], seed=0)
    >>> chat = [{"role": "user", "content": "Is immigration good?"}]
    >>> a, c = asyncio.run(b.chat(chat)), asyncio.run(b.chat(chat))
    >>> a.text != c.text or a.text == c.text   # second sample of the same chat draws again
    True
    """

    def __init__(self, style: ModelStyle, *, seed: int = 0):
        self.style = style
        self.seed = int(seed)
        self.spec = ModelSpec(name=style.name, provider=PROVIDER, base_url="http://127.0.0.1:9/v1")
        self._seen: dict[str, int] = {}
        self.calls = 0

    async def chat(
        self, messages: list[dict], *, params: DecodingParams | dict | None = None, timeout: float | None = None
    ) -> ChatResult:
        """Answer a chat (the last user message, on the conversation's topic), as a chat backend does.

        Parameters
        ----------
        messages
            the chat so far (``role``, ``content``).
        params, timeout
            accepted for the backend interface; ignored.

        Returns
        -------
        pluralis.llm.types.ChatResult

        Example
        -------
        >>> import asyncio
        >>> r = asyncio.run(SimulatedBackend(DEFAULT_STYLES[0], seed=0).chat([{"role": "user", "content": "Hi"}]))
        >>> r.model, r.finish_reason
        ('sim-concise', 'stop')
        """
        start = time.perf_counter()
        users = [m["content"] for m in messages if m.get("role") == "user"]
        last = users[-1] if users else ""
        key = hashlib.blake2b(
            repr([(m.get("role"), m.get("content")) for m in messages]).encode(), digest_size=8
        ).hexdigest()
        k = self._seen.get(key, 0)
        self._seen[key] = k + 1
        self.calls += 1
        rng = random.Random(f"{self.seed}:{self.style.name}:{key}:{k}")
        text = render_response(self.style, last, rng, opening=users[0] if users else None)
        n_prompt = sum(len(m.get("content", "")) for m in messages) // 4
        return ChatResult(
            text=text,
            model=self.style.name,
            provider=PROVIDER,
            served_model=self.style.name,
            latency_s=time.perf_counter() - start,
            usage=TokenUsage(prompt_tokens=n_prompt, completion_tokens=len(text) // 4),
            finish_reason="stop",
        )

    async def aclose(self) -> None:
        """Nothing to release (the backend interface).

        Example
        -------
        >>> import asyncio
        >>> asyncio.run(SimulatedBackend(DEFAULT_STYLES[0]).aclose()) is None
        True
        """
        return None


def simulated_backends(styles=DEFAULT_STYLES, *, seed: int = 0) -> dict[str, SimulatedBackend]:
    """``{name: SimulatedBackend}`` for a roster of styles (one fresh set per participant).

    Parameters
    ----------
    styles
        the simulated models' styles.
    seed
        random seed of their answers.

    Returns
    -------
    dict

    Example
    -------
    >>> sorted(simulated_backends())[:2]
    ['sim-balanced', 'sim-blunt']
    """
    return {s.name: SimulatedBackend(s, seed=seed) for s in styles}


def style_quality(styles=DEFAULT_STYLES) -> dict[str, float]:
    """Latent quality per simulated model (used as ``PreferenceModel.quality``).

    Parameters
    ----------
    styles
        the simulated models' styles.

    Returns
    -------
    dict

    Example
    -------
    >>> style_quality()["sim-balanced"]
    0.5
    """
    return {s.name: s.quality for s in styles}
