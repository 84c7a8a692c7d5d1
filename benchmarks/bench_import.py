"""Import a PRISM-sized synthetic study into SQLite and export it back, against the raw sqlite3 floor.

PRISM size: 1,500 participants, 9,000 conversations, 68,046 utterances, 105,605 metadata rows.
Timed in the same process, best of ``--repeat`` runs (wall and CPU seconds):

* pluralis: files -> validated records (``load_prism``) -> store (``Store.import_study``, one
  transaction), and the store -> records (``Store.export_study``);
* the raw floor: the same four files read, parsed and written as JSON blobs with plain
  ``sqlite3.executemany`` into bare one-column tables (no validation, no schema) — what a
  Python importer cannot beat;
* ``sqlite3.executemany`` of exactly the rows the store writes (the same tuples, straight into
  the store's tables with the driver) — the floor of the write step alone.

Targets (performance issue): import (read + validate + store) <= 1.3x the raw floor; export <= 2 s.

    .venv/bin/python benchmarks/bench_import.py [--participants 1500] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pluralis.data import load_prism, write_prism
from pluralis.data.synthetic import generate_study
from pluralis.store import Store
from pluralis.store import db as store_db

IMPORT_RATIO_TARGET = 1.3
EXPORT_TARGET_SECONDS = 2.0


def timed(fn):
    """``(wall, cpu, result)`` of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def reference_import(folder: Path, db: Path) -> None:
    """Raw floor: read + parse + dump each record, ``executemany`` into one-column tables."""
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    for name in ("survey", "conversations", "utterances", "metadata"):
        lines = (folder / f"{name}.jsonl").read_text("utf-8").splitlines()
        parsed = [(json.dumps(json.loads(line)),) for line in lines]
        con.execute(f"CREATE TABLE {name} (record TEXT)")
        con.executemany(f"INSERT INTO {name} VALUES (?)", parsed)
    con.commit()
    con.close()


class _DialectStub:
    """What ``_insert_params`` reads of a connection: its dialect."""

    def __init__(self, dialect):
        self.dialect = dialect


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--participants", type=int, default=1500)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each step (best is reported)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    study = generate_study(args.participants, seed=0)
    write_prism(study, tmp / "prism")
    print(f"study: {study.counts()}")

    best: dict[str, tuple[float, float]] = {}

    def keep(name: str, wall: float, cpu: float) -> None:
        old = best.get(name)
        best[name] = (min(wall, old[0]), min(cpu, old[1])) if old else (wall, cpu)

    for k in range(args.repeat):
        w, c, loaded = timed(lambda: load_prism(tmp / "prism"))
        keep("read + validate", w, c)
        with Store.open(tmp / f"study{k}.sqlite") as store:
            w, c, _ = timed(lambda store=store, loaded=loaded: store.import_study(loaded))
            keep("store import", w, c)
            w, c, back = timed(lambda store=store: store.export_study())
            keep("store export", w, c)
        assert back.counts() == loaded.counts()
        w, c, _ = timed(lambda k=k: reference_import(tmp / "prism", tmp / f"reference{k}.sqlite"))
        keep("raw floor (read + parse + executemany)", w, c)
        with Store.open(tmp / f"raw{k}.sqlite") as store:
            rows = store_db._rows_for(loaded, store._next_seq())
            con = store.engine.raw_connection()
            stub = _DialectStub(store.engine.dialect)
            wall, cpu = time.perf_counter(), time.process_time()
            cur = con.cursor()
            for table, name in (
                (store_db.s.participants, "participants"),
                (store_db.s.conversations, "conversations"),
                (store_db.s.interactions, "interactions"),
                (store_db.s.utterances, "utterances"),
                (store_db.s.text_metadata, "metadata"),
            ):
                sql, params = store_db._insert_params(stub, table, rows[name])
                cur.executemany(sql, params)
            con.commit()
            keep("raw executemany of the store's rows", time.perf_counter() - wall, time.process_time() - cpu)
            con.close()

    for name, (w, c) in best.items():
        print(f"{name:<42} {w:7.2f} s wall  {c:7.2f} s CPU")
    total_w = best["read + validate"][0] + best["store import"][0]
    total_c = best["read + validate"][1] + best["store import"][1]
    floor_w, floor_c = best["raw floor (read + parse + executemany)"]
    print(
        f"import total (read + validate + store): {total_w:.2f} s wall / {total_c:.2f} s CPU -> "
        f"{total_w / floor_w:.2f}x / {total_c / floor_c:.2f}x the raw floor (target <= {IMPORT_RATIO_TARGET}x)"
    )
    rows_floor = best["raw executemany of the store's rows"][0]
    print(f"store import alone vs raw executemany of its rows: {best['store import'][0] / rows_floor:.2f}x wall")
    print(
        f"export: {best['store export'][0]:.2f} s wall / {best['store export'][1]:.2f} s CPU "
        f"(target <= {EXPORT_TARGET_SECONDS:.0f} s)"
    )


if __name__ == "__main__":
    main()
