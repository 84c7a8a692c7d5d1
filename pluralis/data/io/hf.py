"""A PRISM copy in a Hugging Face hub cache (``hf://HannahRoseKirk/prism-alignment``), read offline.

Nothing is downloaded: the files of a snapshot the user already has are read with
:func:`pluralis.data.io.prism.load_prism`, so the same validation applies.
"""

from __future__ import annotations

import os
from pathlib import Path

from pluralis.data.io.prism import load_prism
from pluralis.data.io.registry import DataFormat
from pluralis.data.study import Study
from pluralis.errors import DataValidationError, Problem

HF_DATASET = "HannahRoseKirk/prism-alignment"


def hf_hub_cache_dir() -> Path:
    """The Hugging Face hub cache folder, resolved as ``huggingface_hub`` does (no import needed).

    ``$HF_HUB_CACHE``, else ``$HUGGINGFACE_HUB_CACHE``, else ``$HF_HOME/hub``, else
    ``$XDG_CACHE_HOME/huggingface/hub``, else ``~/.cache/huggingface/hub``.

    Returns
    -------
    pathlib.Path

    Example
    -------
    >>> hf_hub_cache_dir().name   # e.g. ~/.cache/huggingface/hub
    'hub'
    """
    env = os.environ
    default_home = os.path.join(os.path.expanduser("~"), ".cache")
    hf_home = env.get("HF_HOME") or os.path.join(env.get("XDG_CACHE_HOME") or default_home, "huggingface")
    legacy = env.get("HUGGINGFACE_HUB_CACHE") or os.path.join(hf_home, "hub")
    return Path(os.path.expandvars(os.path.expanduser(env.get("HF_HUB_CACHE") or legacy)))


def hf_cache_snapshot(
    cache_dir: str | Path | None = None, dataset: str = HF_DATASET, revision: str = "main"
) -> Path | None:
    """Locate a local snapshot of a Hugging Face *dataset* repo in a hub cache; never goes online.

    The hub cache layout is ``datasets--{owner}--{name}/refs/{revision}`` (a file holding a
    commit hash) and ``snapshots/{commit}/`` (files, usually symlinks into ``blobs/``).
    ``revision`` is a ref name (``main``) or a commit hash (or its prefix). Without a matching
    ref, the most recently written snapshot is used. ``cache_dir`` defaults to
    :func:`hf_hub_cache_dir`. Returns ``None`` when nothing is cached.

    Parameters
    ----------
    cache_dir
        the hub cache folder.
    dataset
        the dataset id (``OWNER/NAME``).
    revision
        a ref name or a commit hash (or prefix).

    Returns
    -------
    pathlib.Path or None

    Example
    -------
    >>> hf_cache_snapshot("/nonexistent") is None
    True
    """
    cache = Path(cache_dir) if cache_dir is not None else hf_hub_cache_dir()
    repo = cache / ("datasets--" + dataset.replace("/", "--"))
    snapshots = repo / "snapshots"
    if not snapshots.is_dir():
        return None
    ref = repo / "refs" / revision
    if ref.is_file():
        pinned = snapshots / ref.read_text().strip()
        if pinned.is_dir():
            return pinned
    exact = snapshots / revision
    if exact.is_dir():
        return exact
    dirs = [p for p in snapshots.iterdir() if p.is_dir()]
    if revision != "main":
        matches = [p for p in dirs if p.name.startswith(revision)]
        return matches[0] if len(matches) == 1 else None
    dirs.sort(key=lambda p: p.stat().st_mtime)
    return dirs[-1] if dirs else None


def parse_hf_source(source: str) -> tuple[str, str]:
    """Split ``hf://owner/name[@revision]`` into the dataset id and revision (default ``main``).

    Parameters
    ----------
    source
        an ``hf://`` address.

    Returns
    -------
    tuple of (str, str)

    Raises
    ------
    DataValidationError
        an address that is not ``hf://OWNER/NAME[@REVISION]``.

    Example
    -------
    >>> parse_hf_source("hf://HannahRoseKirk/prism-alignment@abc123")
    ('HannahRoseKirk/prism-alignment', 'abc123')
    >>> parse_hf_source("hf://HannahRoseKirk/prism-alignment")
    ('HannahRoseKirk/prism-alignment', 'main')
    """
    rest = str(source).removeprefix("hf://").removeprefix("datasets/").strip("/")
    name, _, revision = rest.partition("@")
    if name.count("/") != 1 or not all(name.split("/")):
        raise DataValidationError(
            Problem(
                str(source), None, None, "expected hf://OWNER/NAME[@REVISION], e.g. hf://HannahRoseKirk/prism-alignment"
            )
        )
    return name, revision or "main"


def load_prism_from_hf_cache(
    cache_dir: str | Path | None = None, *, dataset: str = HF_DATASET, revision: str = "main", validate: bool = True
) -> Study:
    """Load PRISM from a Hugging Face hub cache the user already has (offline; nothing is downloaded).

    Reads the files of the cached snapshot (see :func:`hf_cache_snapshot`) with
    :func:`load_prism`, so the same validation applies.

    Parameters
    ----------
    cache_dir
        the hub cache folder (default: :func:`hf_hub_cache_dir`).
    dataset
        the dataset id.
    revision
        a ref name or commit (see :func:`hf_cache_snapshot`).
    validate
        run the cross-file checks.

    Returns
    -------
    Study

    Raises
    ------
    DataValidationError
        no cached copy, or bad files.

    Example
    -------
    >>> import tempfile, pathlib
    >>> from pluralis.data.synthetic import generate_study
    >>> from pluralis.data.io.prism import write_prism
    >>> hub = pathlib.Path(tempfile.mkdtemp())
    >>> snap = hub / "datasets--HannahRoseKirk--prism-alignment" / "snapshots" / "0123abc"
    >>> _ = write_prism(generate_study(n_participants=2, seed=0), snap)
    >>> load_prism_from_hf_cache(hub).counts()["survey"]
    2
    """
    snap = hf_cache_snapshot(cache_dir, dataset, revision)
    if snap is None:
        where = cache_dir if cache_dir is not None else hf_hub_cache_dir()
        raise DataValidationError(
            Problem(
                str(where),
                None,
                None,
                f"no cached copy of {dataset} (revision {revision!r}) found; "
                f"download it once with huggingface_hub, or pass the folder of the PRISM files",
            )
        )
    return load_prism(snap, validate=validate)


def read_hf(
    source: str | Path, *, hf_cache: str | Path | None = None, revision: str | None = None, validate: bool = True
) -> Study:
    """Read PRISM from a Hugging Face hub cache: ``hf://OWNER/NAME[@REVISION]``, or the cache folder itself.

    Parameters
    ----------
    source
        ``hf://OWNER/NAME[@REVISION]`` (looked up in ``hf_cache``, else ``$HF_HUB_CACHE`` /
        ``$HF_HOME/hub`` / ``~/.cache/huggingface/hub``), or a hub cache folder holding PRISM.
    hf_cache
        the hub cache folder for ``hf://`` sources.
    revision
        a ref or commit; overrides the ``@REVISION`` of the source (default ``main``).
    validate
        run the cross-file checks (see :func:`~pluralis.data.io.prism.load_prism`).

    Returns
    -------
    Study

    Example
    -------
    >>> import tempfile, pathlib
    >>> from pluralis.data.synthetic import generate_study
    >>> from pluralis.data.io.prism import write_prism
    >>> hub = pathlib.Path(tempfile.mkdtemp())
    >>> _ = write_prism(generate_study(n_participants=2, seed=0), hub / "datasets--a--b" / "snapshots" / "c0ffee")
    >>> read_hf("hf://a/b", hf_cache=hub).counts()["survey"]
    2
    """
    text = str(source)
    if text.startswith("hf://"):
        dataset, rev = parse_hf_source(text)
        return load_prism_from_hf_cache(hf_cache, dataset=dataset, revision=revision or rev, validate=validate)
    return load_prism_from_hf_cache(
        hf_cache if hf_cache is not None else source, revision=revision or "main", validate=validate
    )


def sniff_hf(source: str) -> float:
    """1 for an ``hf://`` address, 0.8 for a hub cache folder holding a dataset, else 0.

    Parameters
    ----------
    source
        a path or URL, as text.

    Returns
    -------
    float

    Example
    -------
    >>> sniff_hf("hf://HannahRoseKirk/prism-alignment"), sniff_hf("survey.jsonl")
    (1.0, 0.0)
    """
    if source.startswith("hf://"):
        return 1.0
    folder = Path(source)
    if folder.is_dir() and any(p.is_dir() for p in folder.glob("datasets--*--*/snapshots")):
        return 0.8
    return 0.0


FORMAT = DataFormat(
    name="hf",
    description="Hugging Face hub cache: hf://HannahRoseKirk/prism-alignment[@REVISION] or the cache folder",
    sniff=sniff_hf,
    read=read_hf,
)
