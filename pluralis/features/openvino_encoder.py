"""Sentence embeddings on OpenVINO's CPU runtime: the default encoder on a CPU where ``openvino`` is installed.

:class:`OpenVinoSentenceEncoder` runs the transformer of a loaded sentence-transformers model (its first
module) as an OpenVINO model, converted in this process from the torch weights already in memory, and the
model's own remaining modules (pooling, normalisation) in torch on the token embeddings it returns. Inputs
come from the model's own ``preprocess`` batch by batch, so tokenisation, truncation and everything after
the transformer stay the model's; only the transformer's arithmetic changes hands.
:func:`pluralis.features.embeddings.load_sentence_model` builds it (``backend="auto"`` on a CPU).

Why OpenVINO rather than torch (measured, ``benchmarks/bench_embed.py``, PRISM-shaped responses of
~57 tokens, 2-core AVX-512 BF16 CPU): its bf16 kernels encode 1.3-1.4x as many texts per second as
torch's bf16 path (torch's CPU flash-attention kernel runs the model's 32-wide heads at ~25 GFLOP/s,
a quarter of its time), with vectors closer to float32's (cosine >= 0.9999 against 0.9998); in float32
about 2x torch's float32. Two inference streams (OpenVINO's ``THROUGHPUT`` hint: one per core here)
each take a batch while the caller pools the previous one.

Why not sentence-transformers' own ``backend="openvino"``: it goes through optimum-intel (optimum and an
export to a folder on disk); ``openvino.convert_model`` on the loaded module needs neither and keeps
the model's torch modules after the transformer.

Telemetry. OpenVINO's converter (ovc) sends usage events to Google Analytics unless a consent file opts
out (it is opt-out, and off only when ``CI=true``). Pluralis converts with ovc's own no-op telemetry
stub in place (:func:`_without_ovc_telemetry`), so nothing is ever sent; a test holds it to that.

Example
-------
>>> from pluralis.features.embeddings import load_sentence_model
>>> encoder = OpenVinoSentenceEncoder(load_sentence_model(precision="fp32", backend="torch"), precision="fp32")
>>> X = encoder.encode(["A cat sat on the mat.", "A kitten was sitting on a rug.", "Stock prices fell."])
>>> X.shape, bool(X[0] @ X[1] > X[0] @ X[2])
((3, 384), True)
"""

from __future__ import annotations

import warnings
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from pluralis.errors import ConfigError

#: OpenVINO's ``INFERENCE_PRECISION_HINT`` for each of :data:`pluralis.features.embeddings.PRECISIONS`' resolved values.
OPENVINO_PRECISION = {"bf16": "bf16", "fp32": "f32"}
#: Each batch is padded to a multiple of this many tokens (as the torch bf16 path; fewer distinct shapes).
PAD_TO = 8
#: OpenVINO's performance hint: ``THROUGHPUT`` runs one stream per core, each on its own batch.
PERFORMANCE_HINT = "THROUGHPUT"
#: The transformer inputs a sentence-transformers text model may take, in the converted model's order.
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


def openvino_available() -> bool:
    """Whether the ``openvino`` runtime is installed (the ``[embed]`` extra installs it).

    Returns
    -------
    bool

    Example
    -------
    >>> isinstance(openvino_available(), bool)
    True
    """
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def _without_ovc_telemetry() -> None:
    """Swap ovc's telemetry for its own no-op stub (the class ovc itself uses when ``openvino_telemetry``
    is not installed): the converter would otherwise send usage events unless the user opted out."""
    from openvino.tools.ovc import convert_impl, telemetry_stub, telemetry_utils

    convert_impl.tm = telemetry_stub
    telemetry_utils.tm = telemetry_stub


class OpenVinoSentenceEncoder:
    """A sentence-transformers text model whose transformer runs on OpenVINO (CPU).

    Parameters
    ----------
    model
        a loaded float32 ``SentenceTransformer`` whose first module is a text transformer and which has
        no default prompt (:func:`pluralis.features.embeddings.load_sentence_model` with
        ``backend="torch", precision="fp32"``). It is not modified.
    precision
        ``"bf16"`` or ``"fp32"`` (OpenVINO's inference precision; resolve ``"auto"`` first with
        :func:`pluralis.features.embeddings.resolve_precision`).

    Raises
    ------
    ConfigError
        for a model this encoder cannot run as the model would (not a text transformer, a default prompt),
        or a precision other than ``"bf16"`` / ``"fp32"``.

    See Also
    --------
    pluralis.features.embeddings.embed_texts : what callers use; it picks this encoder by default.

    Example
    -------
    >>> from pluralis.features.embeddings import load_sentence_model
    >>> encoder = load_sentence_model(backend="openvino")
    >>> encoder.encode(["hello"]).shape, encoder.get_embedding_dimension()
    ((1, 384), 384)
    """

    def __init__(self, model: Any, precision: str = "bf16"):
        if precision not in OPENVINO_PRECISION:
            raise ConfigError(f"OpenVINO precision must be one of {', '.join(OPENVINO_PRECISION)}; got {precision!r}")
        first = model[0]
        if getattr(first, "auto_model", None) is None or getattr(model, "tokenizer", None) is None:
            raise ConfigError(f"{type(first).__name__}: the OpenVINO encoder runs text transformer models only")
        if getattr(model, "default_prompt_name", None):
            raise ConfigError("the OpenVINO encoder does not add prompts; use backend='torch' for this model")
        import openvino as ov
        import torch

        self.source = model
        self.precision = precision
        self._after_transformer = list(model)[1:]
        example = model.preprocess(["a short example", "a longer example sentence, so that two lengths pad"])
        self.input_names = [name for name in INPUT_NAMES if name in example]
        _without_ovc_telemetry()
        from transformers.utils import logging as transformers_logging

        verbosity = transformers_logging.get_verbosity()
        transformers_logging.set_verbosity_error()  # tracing reads config properties that log irrelevant notices
        try:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # tracing warnings about Python control flow in the model's code
                converted = ov.convert_model(
                    first.auto_model.eval(), example_input={name: example[name] for name in self.input_names}
                )
        finally:
            transformers_logging.set_verbosity(verbosity)
        self._compiled = ov.Core().compile_model(
            converted,
            "CPU",
            {"INFERENCE_PRECISION_HINT": OPENVINO_PRECISION[precision], "PERFORMANCE_HINT": PERFORMANCE_HINT},
        )
        #: requests kept in flight (OpenVINO's optimum for this CPU: one per stream)
        self.streams = max(1, int(self._compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))

    @property
    def tokenizer(self) -> Any:
        """The source model's tokenizer (what :func:`pluralis.features.embeddings.token_counts` reads).

        Example
        -------
        >>> from pluralis.features.embeddings import load_sentence_model
        >>> load_sentence_model(backend="openvino").tokenizer is load_sentence_model(precision="fp32", backend="torch").tokenizer
        True
        """
        return self.source.tokenizer

    @property
    def max_seq_length(self) -> int:
        """The source model's token limit (longer texts are truncated, as on torch).

        Example
        -------
        >>> from pluralis.features.embeddings import load_sentence_model
        >>> load_sentence_model(backend="openvino").max_seq_length
        256
        """
        return int(self.source.max_seq_length)

    def get_embedding_dimension(self) -> int:
        """The embedding size (the source model's).

        Returns
        -------
        int

        Example
        -------
        >>> from pluralis.features.embeddings import load_sentence_model
        >>> load_sentence_model(backend="openvino").get_embedding_dimension()
        384
        """
        # not embeddings.embedding_dimension: that module imports this one (no import cycle); sentence-transformers
        # renamed the method (the old name warns since 5.x)
        get = getattr(self.source, "get_embedding_dimension", None) or self.source.get_sentence_embedding_dimension
        return int(get())

    get_sentence_embedding_dimension = get_embedding_dimension

    def encoded_batches(self, texts: Sequence[str], batch_size: int = 64) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Embed ``texts`` batch by batch, in the order given: ``(positions, vectors)`` per batch.

        The caller chooses the batches' composition by the order of ``texts`` (e.g. by token count). While
        the caller handles one batch, the next ones are being computed on the other inference streams.

        Parameters
        ----------
        texts
            the texts.
        batch_size
            texts per batch.

        Returns
        -------
        iterator of (numpy.ndarray, numpy.ndarray)
            the batch's positions in ``texts`` (int64) and its vectors ``(len, dim)`` float32, as the
            model's modules after the transformer return them (normalised when the model normalises).

        Example
        -------
        >>> from pluralis.features.embeddings import load_sentence_model
        >>> [(rows.tolist(), v.shape) for rows, v in load_sentence_model(backend="openvino").encoded_batches(["a", "b", "c"], 2)]
        [([0, 1], (2, 384)), ([2], (1, 384))]
        """
        if int(batch_size) < 1:
            raise ConfigError(f"batch_size must be >= 1; got {batch_size!r}")
        requests = [self._compiled.create_infer_request() for _ in range(self.streams)]
        in_flight: deque[tuple[Any, np.ndarray, dict]] = deque()
        starts = range(0, len(texts), int(batch_size))
        for k, start in enumerate(starts):
            stop = min(start + int(batch_size), len(texts))
            rows = np.arange(start, stop, dtype=np.int64)
            features = self.source.preprocess(
                list(texts[start:stop]), processing_kwargs={"text": {"pad_to_multiple_of": PAD_TO}}
            )
            done = None
            if len(in_flight) == len(requests):  # the oldest holds the request this batch reuses
                done = self._pooled(*in_flight.popleft())
            request = requests[k % len(requests)]
            request.start_async({name: features[name].numpy() for name in self.input_names})
            in_flight.append((request, rows, features))
            if done is not None:  # handed over with every stream busy
                yield done
        while in_flight:
            yield self._pooled(*in_flight.popleft())

    def _pooled(self, request: Any, rows: np.ndarray, features: dict) -> tuple[np.ndarray, np.ndarray]:
        """Wait for ``request``; run the model's modules after the transformer on its token embeddings."""
        import torch

        request.wait()
        features = dict(features)
        # a copy: the request's output buffer is reused by a later batch
        hidden = np.array(request.get_output_tensor(0).data, dtype=np.float32)
        features["token_embeddings"] = torch.from_numpy(hidden)
        with torch.no_grad():
            for module in self._after_transformer:
                features = module(features)
        return rows, features["sentence_embedding"].float().numpy()

    def encode(
        self,
        sentences: Sequence[str],
        batch_size: int = 64,
        convert_to_numpy: bool = True,
        normalize_embeddings: bool = False,
        show_progress_bar: bool = False,
        **ignored: Any,
    ) -> np.ndarray:
        """Embeddings of ``sentences`` in input order, as ``SentenceTransformer.encode`` returns them.

        Parameters
        ----------
        sentences
            the texts (batched in the order given).
        batch_size
            texts per batch.
        convert_to_numpy, show_progress_bar, ignored
            accepted for ``SentenceTransformer.encode``'s signature; the result is always a numpy array.
        normalize_embeddings
            rescale each vector to unit length.

        Returns
        -------
        numpy.ndarray
            ``(len(sentences), dim)`` float32.

        Example
        -------
        >>> from pluralis.features.embeddings import load_sentence_model
        >>> v = load_sentence_model(backend="openvino").encode(["hello", "world"], normalize_embeddings=True)
        >>> v.shape, bool(np.allclose(np.linalg.norm(v, axis=1), 1))
        ((2, 384), True)
        """
        if isinstance(sentences, str):
            sentences = [sentences]
        out = np.empty((len(sentences), self.get_embedding_dimension()), dtype=np.float32)
        for rows, vectors in self.encoded_batches(list(sentences), batch_size):
            out[rows] = vectors
        if normalize_embeddings:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out
