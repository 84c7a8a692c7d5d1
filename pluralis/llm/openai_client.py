"""Async client for OpenAI-compatible ``/v1/chat/completions`` servers, over httpx.

Works against OpenAI, vLLM (``vllm serve``), Ollama (``http://localhost:11434/v1``),
llama.cpp's servers (``llama-server``, ``python -m llama_cpp.server``) and
``pluralis llm serve``.

Retries: 429, 5xx and connection failures are retried up to ``spec.max_retries`` times with
exponential backoff and jitter (honouring ``Retry-After``), but never past the per-call
deadline: ``timeout`` bounds the whole call, retries included, as PRISM's 30 s did.
Other 4xx answers are not retried.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from typing import Any

import httpx

from pluralis.llm.errors import BackendError, BackendHTTPError, BackendTimeout, MalformedResponse
from pluralis.llm.types import (
    ChatResult,
    DecodingParams,
    ModelSpec,
    TokenUsage,
    validate_messages,
    with_system_prompt,
)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def build_request_body(spec: ModelSpec, messages: list[dict[str, str]], params: DecodingParams) -> dict[str, Any]:
    """The JSON body of a chat-completions request (``None`` parameters are left out).

    Parameters
    ----------
    spec
        the model.
    messages
        the chat, system prompt included.
    params
        decoding parameters.

    Returns
    -------
    dict

    Example
    -------
    >>> spec = ModelSpec(name="m", base_url="http://127.0.0.1:8000/v1", params=DecodingParams(top_k=5))
    >>> body = build_request_body(spec, [{"role": "user", "content": "Hi"}], spec.params)
    >>> body["model"], body["max_tokens"], body["top_k"], "temperature" in body
    ('m', 256, 5, False)
    """
    body: dict[str, Any] = {"model": spec.model_id, "messages": messages, "stream": False}
    for key in ("max_tokens", "temperature", "top_p", "presence_penalty", "frequency_penalty", "seed", "stop"):
        value = getattr(params, key)
        if value is not None:
            body[key] = value
    if spec.sends_nonstandard_params():
        for key in ("top_k", "min_tokens"):
            value = getattr(params, key)
            if value is not None:
                body[key] = value
    body.update(spec.extra_body)
    return body


def _error_detail(resp: httpx.Response) -> str:
    try:
        data = resp.json()
    except ValueError:
        text = resp.text.strip()
        return text[:300] or resp.reason_phrase
    if isinstance(data, dict):
        err = data.get("error", data.get("detail", data))
        if isinstance(err, dict):
            err = err.get("message", err)
        return str(err)[:300]
    return str(data)[:300]


def parse_chat_completion(data: Any, *, model: str) -> tuple[str, str | None, str | None, TokenUsage]:
    """Pull (text, finish_reason, served model, usage) out of a decoded chat-completion body.

    Raises :class:`MalformedResponse` when the body is not shaped like one. A ``null``
    content (e.g. a refusal or tool call) gives ``""``; a list of content parts is joined.

    Parameters
    ----------
    data
        the decoded JSON body.
    model
        the model name, for error messages.

    Returns
    -------
    tuple of (str, str or None, str or None, TokenUsage)

    Raises
    ------
    MalformedResponse
        a body that is not a chat completion.

    Example
    -------
    >>> body = {"model": "x", "choices": [{"message": {"role": "assistant", "content": "Hi"},
    ...         "finish_reason": "stop"}], "usage": {"prompt_tokens": 3, "completion_tokens": 1}}
    >>> text, finish, served, usage = parse_chat_completion(body, model="m")
    >>> text, finish, served, usage.total
    ('Hi', 'stop', 'x', 4)
    """
    if not isinstance(data, dict):
        raise MalformedResponse(f"expected a JSON object, got {type(data).__name__}", model=model)
    if "error" in data and "choices" not in data:
        raise MalformedResponse(f"server returned an error object with a 2xx status: {data['error']}", model=model)
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise MalformedResponse(f"no 'choices' in response: {json.dumps(data)[:200]}", model=model)
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, dict):
        raise MalformedResponse(f"choices[0] has no 'message' object: {json.dumps(choice)[:200]}", model=model)
    content = message.get("content")
    if content is None:
        text = ""
    elif isinstance(content, str):
        text = content
    elif isinstance(content, list):
        text = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    else:
        raise MalformedResponse(f"message content is a {type(content).__name__}, not text", model=model)
    usage_field = data.get("usage")
    raw_usage = usage_field if isinstance(usage_field, dict) else {}
    usage = TokenUsage(
        **{
            k: raw_usage[k]
            for k in ("prompt_tokens", "completion_tokens", "total_tokens")
            if isinstance(raw_usage.get(k), int)
        }
    )
    served = data.get("model") if isinstance(data.get("model"), str) else None
    finish = choice.get("finish_reason") if isinstance(choice.get("finish_reason"), str) else None
    return text, finish, served, usage


class OpenAIBackend:
    """A :class:`~pluralis.llm.backend.ChatBackend` for an OpenAI-compatible HTTP server.

    One ``httpx.AsyncClient`` is kept per event loop (connections are pooled); call
    :meth:`aclose` when done, or use ``async with``.

    Example
    -------
    >>> import asyncio
    >>> b = OpenAIBackend(ModelSpec(name="m", base_url="http://127.0.0.1:9/v1", max_retries=0))
    >>> try:
    ...     asyncio.run(b.chat([{"role": "user", "content": "Hi"}], timeout=2))
    ... except BackendError as e:
    ...     print(e.kind)
    http_error
    """

    def __init__(
        self,
        spec: ModelSpec,
        *,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self.spec = spec
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self._jitter = random.Random()

    async def __aenter__(self) -> OpenAIBackend:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _get_client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop or self._client.is_closed:
            # A client is bound to the loop that opened its connections; a new loop needs a new client.
            self._client = httpx.AsyncClient(
                transport=self._transport,
                follow_redirects=True,
                limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
            )
            self._client_loop = loop
        return self._client

    async def aclose(self) -> None:
        """Close the HTTP client (if it belongs to the running loop).

        Example
        -------
        >>> import asyncio
        >>> asyncio.run(OpenAIBackend(ModelSpec(name="m", base_url="http://127.0.0.1:9/v1")).aclose())
        """
        client, self._client = self._client, None
        if client is not None and not client.is_closed:
            try:
                if self._client_loop is asyncio.get_running_loop():
                    await client.aclose()
            except RuntimeError:  # pragma: no cover - no running loop
                pass

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", **self.spec.extra_headers}
        key = self.spec.api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _delay(self, attempt: int, resp: httpx.Response | None) -> float:
        if resp is not None:
            retry_after = resp.headers.get("retry-after")
            if retry_after:
                try:
                    return min(self.backoff_max, max(0.0, float(retry_after)))
                except ValueError:
                    pass
        base = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return base * (0.5 + 0.5 * self._jitter.random())

    async def chat(
        self, messages: list[dict], *, params: DecodingParams | dict | None = None, timeout: float | None = None
    ) -> ChatResult:
        """Send one chat and return the response (see :class:`~pluralis.llm.backend.ChatBackend`).

        Parameters
        ----------
        messages
            the chat (the spec's system prompt is added unless it starts with one).
        params
            decoding parameters, over the spec's.
        timeout
            seconds allowed for the whole call, retries included (default: the spec's).

        Returns
        -------
        ChatResult

        Raises
        ------
        BackendTimeout
            no answer within ``timeout``.
        BackendHTTPError
            a non-2xx answer or no connection, after the retries.
        MalformedResponse
            a 2xx answer that is not a chat completion.

        Example
        -------
        >>> import asyncio
        >>> backend = OpenAIBackend(ModelSpec(name="m", base_url="http://127.0.0.1:9/v1", max_retries=0))
        >>> try:  # nothing listens on port 9
        ...     asyncio.run(backend.chat([{"role": "user", "content": "Hello"}], timeout=2))
        ... except BackendError as err:
        ...     err.kind
        'http_error'
        >>> # with a server: result.text, result.latency_s, result.usage.completion_tokens
        """
        spec = self.spec
        msgs = with_system_prompt(validate_messages(messages), spec.system_prompt)
        p = spec.params.merged(params)
        timeout = float(timeout if timeout is not None else spec.timeout)
        body = build_request_body(spec, msgs, p)
        headers = self._headers()
        url = spec.chat_completions_url()
        client = self._get_client()
        start = time.perf_counter()
        deadline = start + timeout
        attempt = 0
        try:
            async with asyncio.timeout(timeout):
                while True:
                    attempt += 1
                    resp: httpx.Response | None = None
                    remaining = max(0.001, deadline - time.perf_counter())
                    try:
                        resp = await client.post(url, json=body, headers=headers, timeout=httpx.Timeout(remaining))
                    except httpx.TimeoutException:
                        raise TimeoutError from None
                    except httpx.TransportError as e:
                        err = BackendHTTPError(f"connection to {url} failed: {e!r}", model=spec.name)
                    else:
                        if resp.status_code < 400:
                            return self._result(resp, start, attempt, p)
                        err = BackendHTTPError(
                            f"HTTP {resp.status_code} from {url}: {_error_detail(resp)}",
                            model=spec.name,
                            status_code=resp.status_code,
                        )
                    if not err.retryable or attempt > spec.max_retries:
                        raise err
                    delay = self._delay(attempt, resp)
                    if time.perf_counter() + delay >= deadline:
                        raise err
                    await asyncio.sleep(delay)
        except TimeoutError:
            raise BackendTimeout(f"no answer within {timeout:g} s ({attempt} attempt(s))", model=spec.name) from None

    def _result(self, resp: httpx.Response, start: float, attempt: int, params: DecodingParams) -> ChatResult:
        try:
            data = resp.json()
        except ValueError:
            snippet = resp.text[:200]
            raise MalformedResponse(
                f"HTTP {resp.status_code} body is not JSON: {snippet!r}", model=self.spec.name
            ) from None
        text, finish, served, usage = parse_chat_completion(data, model=self.spec.name)
        return ChatResult(
            text=text,
            model=self.spec.name,
            provider=self.spec.provider,
            served_model=served,
            latency_s=time.perf_counter() - start,
            usage=usage,
            finish_reason=finish,
            attempts=attempt,
            seed=params.seed,
        )


async def list_models(base_url: str, *, api_key: str | None = None, timeout: float = 10.0) -> list[str]:
    """Model ids served at ``base_url`` (``GET /v1/models``).

    Parameters
    ----------
    base_url
        the server's base URL (``http://HOST:PORT/v1``).
    api_key
        sent as ``Authorization: Bearer``.
    timeout
        seconds allowed.

    Returns
    -------
    list of str

    Raises
    ------
    BackendError
        no connection, or an answer that is not a model list.

    Example
    -------
    >>> import asyncio
    >>> try:  # nothing listens on port 9
    ...     asyncio.run(list_models("http://127.0.0.1:9/v1", timeout=2))
    ... except BackendError as err:
    ...     type(err).__name__
    'BackendHTTPError'
    >>> # asyncio.run(list_models("http://127.0.0.1:8000/v1")) with `pluralis llm serve` running -> ['tiny']
    """
    url = ModelSpec(name="_", base_url=base_url).chat_completions_url().rsplit("/chat/completions", 1)[0] + "/models"
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    async with httpx.AsyncClient() as client:
        try:
            resp = await client.get(url, headers=headers, timeout=timeout)
        except httpx.TimeoutException:
            raise BackendTimeout(f"{url}: no answer within {timeout:g} s") from None
        except httpx.TransportError as e:
            raise BackendHTTPError(f"connection to {url} failed: {e!r}") from None
    if resp.status_code >= 400:
        raise BackendHTTPError(
            f"HTTP {resp.status_code} from {url}: {_error_detail(resp)}", status_code=resp.status_code
        )
    try:
        return [m["id"] for m in resp.json()["data"]]
    except (ValueError, KeyError, TypeError):
        raise MalformedResponse(f"{url}: not a model list: {resp.text[:200]!r}") from None


__all__ = ["BackendError", "OpenAIBackend", "build_request_body", "list_models", "parse_chat_completion"]
