"""The aligner interface and what it produces: an aligned, servable model folder.

Every aligner (one file each in :mod:`pluralis.align.aligners`, registered in
:mod:`pluralis.align.registry`) is a small object whose constructor takes its options and whose
:meth:`Aligner.fit` takes training pairs (:mod:`pluralis.align.pairs`) and an output folder and
returns an :class:`AlignedModel`.

An aligned model is a folder with

* ``pluralis_aligned.json`` — the manifest: aligner, base model, options, training data settings,
  training metrics, and what to serve;
* ``pluralis_backend.json`` — the serving hook read by :mod:`pluralis.llm.backend`: ``pluralis llm
  serve --model NAME=FOLDER`` serves every aligned model, whatever its aligner
  (:func:`pluralis.align.serving.aligned_backend` builds the backend);
* the aligner's files (a LoRA ``adapter/`` and a ``merged/`` model for DPO and GRPO; a
  ``reward_model.json`` for best-of-n).

Example
-------
>>> import tempfile
>>> m = AlignedModel.create(tempfile.mkdtemp(), aligner="best_of_n", base_model="/models/base", options={"n": 4})
>>> AlignedModel.load(m.path).manifest["options"]
{'n': 4}
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import pandas as pd

from pluralis.errors import ConfigError

MANIFEST = "pluralis_aligned.json"
#: Same name as :data:`pluralis.llm.backend.BACKEND_FILE` (the serving hook).
BACKEND_FILE = "pluralis_backend.json"
BACKEND_FACTORY = "pluralis.align.serving:aligned_backend"


@dataclass
class AlignedModel:
    """An aligned model folder and its manifest (see the module docstring).

    Example
    -------
    >>> import tempfile
    >>> m = AlignedModel.create(tempfile.mkdtemp(), aligner="dpo", base_model="/b", model_dir="merged")
    >>> m.aligner, m.model_path.name
    ('dpo', 'merged')
    """

    path: Path
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def aligner(self) -> str:
        return str(self.manifest.get("aligner"))

    @property
    def base_model(self) -> Path:
        return Path(self.manifest["base_model"])

    @property
    def model_path(self) -> Path:
        """The servable Hugging Face folder (the merged model; the base model for best-of-n)."""
        sub = self.manifest.get("model_dir")
        return self.path / sub if sub else self.base_model

    @classmethod
    def create(
        cls,
        path: str | Path,
        *,
        aligner: str,
        base_model: str | Path,
        options: dict | None = None,
        model_dir: str | None = None,
        data: dict | None = None,
        metrics: dict | None = None,
        extra: dict | None = None,
    ) -> AlignedModel:
        """Write the manifest and the serving hook into ``path`` (created) and return the model."""
        from pluralis.data.jsonio import atomic_write

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        manifest = {
            "aligner": aligner,
            "base_model": str(Path(base_model)),
            "model_dir": model_dir,
            "options": options or {},
            "data": data or {},
            "metrics": metrics or {},
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            **(extra or {}),
        }
        with atomic_write(path / MANIFEST) as fh:
            fh.write(json.dumps(manifest, indent=2, default=str))
        with atomic_write(path / BACKEND_FILE) as fh:
            fh.write(json.dumps({"factory": BACKEND_FACTORY}, indent=2))
        return cls(path, manifest)

    @classmethod
    def load(cls, path: str | Path) -> AlignedModel:
        """Read an aligned model folder (``ConfigError`` when it has no manifest)."""
        path = Path(path)
        f = path / MANIFEST
        if not f.is_file():
            raise ConfigError(f"{path}: not an aligned model (no {MANIFEST}; train one with `pluralis align train`)")
        try:
            return cls(path, json.loads(f.read_text()))
        except json.JSONDecodeError as e:
            raise ConfigError(f"{f}: invalid JSON ({e})") from None

    def spec(self, name: str | None = None, **overrides: Any):
        """A :class:`pluralis.llm.ModelSpec` for this model (transformers backend; no system prompt added).

        Example
        -------
        >>> import tempfile
        >>> m = AlignedModel.create(tempfile.mkdtemp() + "/dpo-female", aligner="dpo", base_model="/b")
        >>> m.spec().name, m.spec().backend
        ('dpo-female', 'transformers')
        """
        from pluralis.llm.types import ModelSpec

        fields: dict[str, Any] = {
            "name": name or self.path.name,
            "backend": "transformers",
            "path": str(self.path),
            "system_prompt": None,
            "provider": "local",
        }
        fields.update(overrides)
        return ModelSpec(**fields)


@runtime_checkable
class Aligner(Protocol):
    """What every aligner implements: options in the constructor, ``fit(pairs, out) -> AlignedModel``.

    ``name`` is the registry key; ``fit`` trains (or, for inference-time aligners, prepares) on the
    chosen/rejected pairs of :mod:`pluralis.align.pairs` and writes a servable folder to ``out``.

    Example
    -------
    >>> from pluralis.align.registry import get_aligner
    >>> isinstance(get_aligner("best_of_n"), Aligner)
    True
    """

    name: ClassVar[str]

    def fit(self, pairs: pd.DataFrame, out: str | Path, *, data_settings: dict | None = None) -> AlignedModel: ...

    def options(self) -> dict[str, Any]: ...
