"""Import a PRISM-sized synthetic study (1,500 participants, ~68k utterances) from files into SQLite.

Target (foundation issue): < 10 s for files -> validated records -> store, on 2 cores.
Reference run in the same process: the same rows written with plain ``sqlite3.executemany``
into a bare table (no validation, no ORM) — the floor a Python importer can reach.

    .venv/bin/python benchmarks/bench_import.py [--participants 1500]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import time
from pathlib import Path

from pluralis.data import load_prism, write_prism
from pluralis.data.synthetic import generate_study
from pluralis.store import Store

TARGET_SECONDS = 10.0


def reference_import(folder: Path, db: Path) -> float:
    start = time.perf_counter()
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    for name in ("survey", "conversations", "utterances", "metadata"):
        rows = [(line,) for line in (folder / f"{name}.jsonl").read_text("utf-8").splitlines()]
        parsed = [(json.dumps(json.loads(r[0])),) for r in rows]
        con.execute(f"CREATE TABLE {name} (record TEXT)")
        con.executemany(f"INSERT INTO {name} VALUES (?)", parsed)
    con.commit()
    con.close()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--participants", type=int, default=1500)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    study = generate_study(args.participants, seed=0)
    write_prism(study, tmp / "prism")
    counts = study.counts()
    print(f"study: {counts}")

    start = time.perf_counter()
    loaded = load_prism(tmp / "prism")
    t_load = time.perf_counter() - start
    with Store.open(tmp / "study.sqlite") as store:
        start = time.perf_counter()
        store.import_study(loaded)
        t_import = time.perf_counter() - start
    total = t_load + t_import
    ref = reference_import(tmp / "prism", tmp / "reference.sqlite")
    print(f"pluralis: read+validate {t_load:.2f} s, store import {t_import:.2f} s, total {total:.2f} s")
    print(f"reference (raw sqlite3 executemany of JSON blobs): {ref:.2f} s")
    print(
        f"ratio pluralis/reference: {total / ref:.2f}x   target {TARGET_SECONDS:.0f} s -> {'OK' if total < TARGET_SECONDS else 'MISSED'} "
        f"({total / TARGET_SECONDS:.2f} of budget)"
    )


if __name__ == "__main__":
    main()
