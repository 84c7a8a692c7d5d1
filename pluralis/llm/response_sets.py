"""Response sets: the PRISM opening turn (several models at once) and later-turn samples.

PRISM's opening turn queried 4 of its 21 models, chosen at random, with a 30 s timeout per
call; a model that failed or timed out was dropped and **not resampled**, so participants
sometimes saw fewer than 4 responses (spec §1.3). :func:`generate_response_set` does the
same: calls run concurrently (``asyncio.gather``), so the turn takes about as long as the
slowest model, never the sum. Each failure is kept as a :class:`~pluralis.llm.types.Failure`
(model, kind, message, latency).

Later turns ask the locked-in model for 2 samples at a non-zero temperature
(:func:`generate_samples`).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field

from pluralis.errors import ConfigError, PluralisError
from pluralis.llm.backend import ChatBackend, get_backend
from pluralis.llm.errors import BackendError, BackendHTTPError, FailureKind
from pluralis.llm.types import (
    DEFAULT_TIMEOUT,
    OPENING_TURN_MODELS,
    ChatResult,
    DecodingParams,
    Failure,
    ModelSpec,
    validate_messages,
)

ModelLike = ModelSpec | ChatBackend


class ResponseSet(BaseModel):
    """What one turn produced: the responses that came back and the calls that did not.

    ``requested`` lists the model names queried, in query order; ``responses`` keeps that
    order for the models that answered; ``latency_s`` is the wall time of the whole set.

    Example
    -------
    >>> rs = ResponseSet(requested=["a", "b"], latency_s=1.2,
    ...                  responses=[ChatResult(text="Hi", model="a", latency_s=1.1)],
    ...                  failures=[Failure(model="b", kind="timeout", message="30 s", latency_s=1.2)])
    >>> rs.models, rs.failed_models, rs.texts
    (['a'], ['b'], ['Hi'])
    """

    requested: list[str]
    responses: list[ChatResult] = Field(default_factory=list)
    failures: list[Failure] = Field(default_factory=list)
    latency_s: float

    @property
    def models(self) -> list[str]:
        """Names of the models that answered.

        Example
        -------
        >>> ResponseSet(requested=["a"], latency_s=0.1).models
        []
        """
        return [r.model for r in self.responses]

    @property
    def failed_models(self) -> list[str]:
        """Names of the models that were dropped.

        Example
        -------
        >>> ResponseSet(requested=["a"], latency_s=0.1,
        ...             failures=[Failure(model="a", kind="timeout", message="30 s", latency_s=30.0)]).failed_models
        ['a']
        """
        return [f.model for f in self.failures]

    @property
    def texts(self) -> list[str]:
        """Response texts, in order.

        Example
        -------
        >>> ResponseSet(requested=["a"], latency_s=0.1).texts
        []
        """
        return [r.text for r in self.responses]


def _name(model: ModelLike) -> str:
    return model.name if isinstance(model, ModelSpec) else model.spec.name


def _provider(model: ModelLike) -> str:
    return model.provider if isinstance(model, ModelSpec) else model.spec.provider


def choose_models(pool: Sequence[Any], k: int = OPENING_TURN_MODELS, rng: Any = None) -> list[Any]:
    """Choose ``k`` distinct items of ``pool`` uniformly at random, without replacement.

    ``rng`` is a ``random.Random``, a ``numpy.random.Generator``, an int seed, or ``None``
    (fresh entropy). ``k`` larger than the pool returns the whole pool, shuffled.

    Parameters
    ----------
    pool
        the models (or anything) to choose from.
    k
        how many.
    rng
        the randomness (see above).

    Returns
    -------
    list

    Example
    -------
    >>> choose_models(["a", "b", "c", "d", "e"], k=2, rng=7) == choose_models(["a", "b", "c", "d", "e"], k=2, rng=7)
    True
    >>> len(choose_models(["a", "b"], k=4, rng=0))
    2
    """
    if k < 1:
        raise ConfigError(f"k must be at least 1, got {k}")
    pool = list(pool)
    k = min(k, len(pool))
    if rng is None or isinstance(rng, int):
        rng = random.Random(rng)
    if isinstance(rng, random.Random):
        return rng.sample(pool, k)
    if hasattr(rng, "choice") and hasattr(rng, "integers"):  # numpy Generator
        idx = rng.choice(len(pool), size=k, replace=False)
        return [pool[int(i)] for i in idx]
    raise ConfigError(f"rng must be random.Random, numpy.random.Generator, an int seed or None; got {type(rng)}")


def failure_from(model: ModelLike, exc: BaseException, latency_s: float) -> Failure:
    """A :class:`Failure` record for an exception raised by a model call.

    Parameters
    ----------
    model
        the spec or backend that was called.
    exc
        what the call raised.
    latency_s
        seconds until it failed.

    Returns
    -------
    Failure

    Example
    -------
    >>> from pluralis.llm.errors import BackendTimeout
    >>> f = failure_from(ModelSpec(name="m"), BackendTimeout("no answer within 30 s", model="m"), 30.0)
    >>> f.kind, f.message
    ('timeout', 'no answer within 30 s')
    """
    kind: FailureKind
    if isinstance(exc, BackendError):
        kind, message = exc.kind, exc.detail
    elif isinstance(exc, TimeoutError):
        kind, message = "timeout", "no answer within the timeout"
    else:
        kind, message = "other", f"{type(exc).__name__}: {exc}" if not isinstance(exc, PluralisError) else str(exc)
    status = exc.status_code if isinstance(exc, BackendHTTPError) else None
    return Failure(
        model=_name(model),
        provider=_provider(model),
        kind=kind,
        message=message,
        latency_s=latency_s,
        status_code=status,
    )


async def call_model(
    model: ModelLike,
    messages: list[dict],
    *,
    params: DecodingParams | dict | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> ChatResult | Failure:
    """Call one model and return its result, or a :class:`Failure` instead of raising.

    The call is cut at ``timeout`` seconds even if the backend ignores its own timeout.

    Parameters
    ----------
    model
        a spec or a backend.
    messages
        the chat.
    params
        decoding parameters, over the spec's.
    timeout
        seconds allowed.

    Returns
    -------
    ChatResult or Failure

    Example
    -------
    >>> import asyncio
    >>> out = asyncio.run(call_model(ModelSpec(name="m", base_url="http://127.0.0.1:9/v1", max_retries=0),
    ...                              [{"role": "user", "content": "Hi"}], timeout=2))
    >>> type(out).__name__, out.kind
    ('Failure', 'http_error')
    """
    start = time.perf_counter()
    try:
        backend = get_backend(model)
        async with asyncio.timeout(timeout):
            return await backend.chat(messages, params=params, timeout=timeout)
    except asyncio.CancelledError:
        raise
    except Exception as e:  # every failure is recorded, none escapes: the turn goes on without this model
        return failure_from(model, e, time.perf_counter() - start)


async def generate_response_set(
    models: Sequence[ModelLike],
    messages: list[dict],
    *,
    k: int | None = None,
    rng: Any = None,
    params: DecodingParams | dict | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> ResponseSet:
    """Query several models concurrently with the same chat (PRISM's opening turn).

    With ``k=None`` every model in ``models`` is queried; with ``k`` set, ``k`` of them are
    chosen at random first (:func:`choose_models`, ``rng`` seeds it). A model that fails or
    exceeds ``timeout`` is dropped and recorded in ``failures``; it is not replaced by
    another model. ``params`` overrides each spec's decoding parameters.

    Parameters
    ----------
    models
        the pool of specs or backends.
    messages
        the chat, the same for every model.
    k
        how many models to query (``None``: all).
    rng
        seeds the choice of models (see :func:`choose_models`).
    params
        decoding parameters, over each spec's.
    timeout
        seconds allowed per model.

    Returns
    -------
    ResponseSet

    Example
    -------
    >>> import asyncio
    >>> pool = [ModelSpec(name=f"m{i}", base_url="http://127.0.0.1:9/v1", max_retries=0) for i in range(6)]
    >>> rs = asyncio.run(generate_response_set(pool, [{"role": "user", "content": "Hi"}], k=4, rng=1, timeout=2))
    >>> len(rs.requested), len(rs.responses), sorted({f.kind for f in rs.failures})
    (4, 0, ['http_error'])
    """
    messages = validate_messages(messages)
    models = list(models)
    if not models:
        raise ConfigError("generate_response_set needs at least one model")
    names = [_name(m) for m in models]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"duplicate model names in a response set: {', '.join(dupes)}")
    chosen = choose_models(models, k, rng) if k is not None else models
    start = time.perf_counter()
    outcomes = await asyncio.gather(*(call_model(m, messages, params=params, timeout=timeout) for m in chosen))
    return ResponseSet(
        requested=[_name(m) for m in chosen],
        responses=[o for o in outcomes if isinstance(o, ChatResult)],
        failures=[o for o in outcomes if isinstance(o, Failure)],
        latency_s=time.perf_counter() - start,
    )


async def generate_samples(
    model: ModelLike,
    messages: list[dict],
    *,
    n: int = 2,
    temperature: float | None = None,
    params: DecodingParams | dict | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> ResponseSet:
    """``n`` concurrent samples from one model (PRISM's later turns: 2 responses, A/B).

    The temperature (``temperature``, else ``params``, else the spec, else 1.0) must be
    above 0, or the samples could not differ. When a seed is set, sample ``i`` uses
    ``seed + i`` so the samples are not identical copies. Failed samples are recorded.

    Parameters
    ----------
    model
        a spec or a backend.
    messages
        the chat.
    n
        how many samples.
    temperature
        the sampling temperature (must be above 0).
    params
        decoding parameters, over the spec's.
    timeout
        seconds allowed per sample.

    Returns
    -------
    ResponseSet

    Raises
    ------
    ConfigError
        a temperature of 0 or less.

    Example
    -------
    >>> import asyncio
    >>> spec = ModelSpec(name="m", base_url="http://127.0.0.1:9/v1", max_retries=0)
    >>> rs = asyncio.run(generate_samples(spec, [{"role": "user", "content": "Hi"}], n=2, timeout=2))
    >>> rs.requested, len(rs.failures)
    (['m', 'm'], 2)
    """
    if n < 1:
        raise ConfigError(f"n must be at least 1, got {n}")
    messages = validate_messages(messages)
    spec = model if isinstance(model, ModelSpec) else model.spec
    p = spec.params.merged(params)
    if temperature is not None:
        p = p.merged({"temperature": temperature})
    effective = 1.0 if p.temperature is None else p.temperature
    if effective <= 0:
        raise ConfigError(
            f"model {spec.name!r}: samples need temperature > 0 (got {effective}); "
            "PRISM raised it to 1.0 for such models"
        )
    per_call = [p if p.seed is None else p.merged({"seed": p.seed + i}) for i in range(n)]
    start = time.perf_counter()
    outcomes = await asyncio.gather(*(call_model(model, messages, params=q, timeout=timeout) for q in per_call))
    return ResponseSet(
        requested=[spec.name] * n,
        responses=[o for o in outcomes if isinstance(o, ChatResult)],
        failures=[o for o in outcomes if isinstance(o, Failure)],
        latency_s=time.perf_counter() - start,
    )
