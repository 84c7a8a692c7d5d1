"""Benchmark: the collection server under N concurrent simulated participants.

Run:  .venv/bin/python benchmarks/bench_server.py             (200 participants, no think time)
      .venv/bin/python benchmarks/bench_server.py -n 50 --think 1.0

What runs: the real app — ``pluralis serve`` (``pluralis.web.app.create_app`` on a SQLite store, uvicorn, the
same settings as in production) in its own process — and 4 fast model doubles (``tests/web/latency_double.py``:
a plain-asyncio OpenAI-compatible endpoint answering at once). N simulated participants (httpx, one cookie jar
each, as ``tests/web/test_load.py``) go through the PRISM protocol: landing, consent, every survey page, an
opening turn rated over 4 models, a follow-up rated over 2, finish and the feedback page — ~30 requests each.
The load generator runs in this process at lower CPU priority (nice 10), so on a small machine it yields the
CPU to the server.

Reported: requests/s over the whole run, client-side latency p50/p95 (request sent → response read), the
server's own time per request (``Server-Timing: app``, model time excluded) and the server process's CPU
milliseconds per request (from ``/proc``: user + system time of the server process divided by the requests).

Reference (run the same way in this process): a bare Starlette app on the same uvicorn settings whose GET
returns a fixed HTML page of the median size the study pages had, and whose POST does one SQLite ``INSERT`` of
the form body and a commit (WAL, ``synchronous=NORMAL``, as the store) and answers ``303`` — replaying exactly
the request sequence the participants sent to Pluralis. That is the floor of "HTTP + one durable write per form":
everything above it is Pluralis's own work (sessions, CSRF, protocol state, templates, the collection tables).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SLEEPS = (0.0, 0.0, 0.0, 0.0)  # fast model doubles: no model latency, only the app's own work


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))] if v else float("nan")


# --- the reference server ----------------------------------------------------------------------------------


def reference_server(db: str, page_bytes: int) -> None:
    """Serve the reference app (see the module docstring) and print ``listening on URL``."""
    import sqlite3

    import uvicorn
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import HTMLResponse, RedirectResponse
    from starlette.routing import Route

    from pluralis.llm.server import listen

    con = sqlite3.connect(db, check_same_thread=False, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("CREATE TABLE IF NOT EXISTS posts (id INTEGER PRIMARY KEY, path TEXT, body BLOB, at REAL)")
    page = ("<!doctype html><html><body>" + "x" * max(0, page_bytes - 40) + "</body></html>").encode()

    def write(path: str, body: bytes) -> None:
        con.execute("INSERT INTO posts (path, body, at) VALUES (?, ?, ?)", (path, body, time.time()))

    async def get(request):
        return HTMLResponse(page)

    async def post(request):
        body = await request.body()
        await run_in_threadpool(write, request.url.path, body)
        return RedirectResponse("/study", status_code=303)

    app = Starlette(routes=[Route("/{path:path}", get, methods=["GET"]), Route("/{path:path}", post, methods=["POST"])])
    sock, url = listen("127.0.0.1", 0, backlog=2048)
    print(f"listening on {url}", flush=True)
    cfg = uvicorn.Config(app, log_level="warning", access_log=False, timeout_keep_alive=30, backlog=2048)
    uvicorn.Server(cfg).run(sockets=[sock])


# --- load generation --------------------------------------------------------------------------------------


async def pluralis_participant(i: int, url: str, cfg, answers: dict, think: float, log: list):
    import httpx

    from tests.collect_helpers import HttpParticipant

    rng = random.Random(i)

    async def pause():
        if think:
            await asyncio.sleep(rng.uniform(0.5 * think, 1.5 * think))

    limits = httpx.Limits(max_connections=2, max_keepalive_connections=2)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        p = HttpParticipant(client, cfg, answers)
        sent: list[tuple[str, str, bytes]] = []
        sizes: list[int] = []

        async def trace(request):
            sent.append((request.method, request.url.path, request.content))

        async def size(response):
            await response.aread()
            if response.request.method == "GET":
                sizes.append(len(response.content))

        client.event_hooks = {"request": [trace], "response": [size]}
        await p.join()
        await pause()
        await p.consent_and_survey()
        await pause()
        await p.opening("unguided", f"Reader {i}: what should I read next?")
        await pause()
        await p.rate({sid: rng.randint(1, 100) for sid in p.score_ids()})
        await pause()
        await p.follow_up("Why that one?")
        await pause()
        await p.rate({sid: rng.randint(1, 100) for sid in p.score_ids()})
        await pause()
        await p.finish()
        assert "completion code" in p.html
        log.append((sent, sizes))
        return p


async def replay(i: int, url: str, requests: list[tuple[str, str, bytes]], think: float) -> list[float]:
    import httpx

    rng = random.Random(i)
    out = []
    limits = httpx.Limits(max_connections=2, max_keepalive_connections=2)
    headers = {"content-type": "application/x-www-form-urlencoded"}
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        for k, (method, path, body) in enumerate(requests):
            if think and method == "POST" and k:
                await asyncio.sleep(rng.uniform(0.5 * think, 1.5 * think))
            t = time.perf_counter()
            r = await client.request(method, path, content=body or None, headers=headers if method == "POST" else None)
            out.append((time.perf_counter() - t) * 1000)
            assert r.status_code in (200, 303), (path, r.status_code)
    return out


def niced(coro_factory):
    """Run the load generator's event loop in a thread of lower CPU priority (nice is per thread on Linux)."""
    import threading

    out: dict = {}

    def target():
        try:
            os.nice(10)
        except OSError:  # pragma: no cover
            pass
        try:
            out["value"] = asyncio.run(coro_factory())
        except BaseException as e:
            out["error"] = e

    t = threading.Thread(target=target)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


def summary(name: str, n_requests: int, elapsed: float, wall_ms: list[float], cpu_s: float, app_ms=None) -> dict:
    row = {
        "name": name,
        "requests": n_requests,
        "rps": n_requests / elapsed,
        "p50": statistics.median(wall_ms),
        "p95": pct(wall_ms, 0.95),
        "cpu_ms": 1000 * cpu_s / n_requests,
        "app_p50": statistics.median(app_ms) if app_ms else float("nan"),
        "app_p95": pct(app_ms, 0.95) if app_ms else float("nan"),
    }
    print(
        f"{name:<38} {n_requests:6,} requests in {elapsed:6.1f} s = {row['rps']:6.0f} req/s; "
        f"latency p50 {row['p50']:6.1f} ms p95 {row['p95']:6.1f} ms; server CPU {row['cpu_ms']:.2f} ms/request"
        + (f"; app time p50 {row['app_p50']:.1f} ms p95 {row['app_p95']:.1f} ms" if app_ms else "")
    )
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--participants", type=int, default=200)
    ap.add_argument("--think", type=float, default=0.0, help="mean think time between pages, seconds (0: closed loop)")
    args, rest = ap.parse_known_args()
    if rest[:1] == ["--reference-server"]:
        reference_server(rest[1], int(rest[2]))
        return
    import httpx

    from pluralis.collect.protocol import example_survey_answers
    from tests.collect_helpers import Server, study_config, write_study
    from tests.model_servers import Proc

    print(
        f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs; {args.participants} participants"
    )
    tmp = Path(tempfile.mkdtemp(prefix="bench-server-"))
    double = Proc([sys.executable, str(ROOT / "tests" / "web" / "latency_double.py")])
    servers: list = [double]
    try:
        port = double.wait_for_line("PORT", 30).split()[1]
        endpoint = f"http://127.0.0.1:{port}/v1"
        models = [{"name": f"slow-{s}-{c}", "endpoint": endpoint, "max_retries": 0} for s, c in zip(SLEEPS, "abcd")]
        cfg = study_config(models, limits={"joins_per_minute_per_ip": 0, "llm_requests_per_minute": 0})
        study = write_study(tmp / "study.toml", cfg)
        server = Server(study, tmp / "study.sqlite")
        servers.append(server)
        answers = example_survey_answers() | {"lm_direct_use": "No", "lm_indirect_use": "No"}
        log: list = []
        # warm-up: one participant (first template compilations, connection pools), not counted
        niced(lambda: pluralis_participant(10_000, server.url, cfg, answers, 0.0, []))
        cpu0, t0 = cpu_seconds(server.proc.pid), time.perf_counter()

        async def everyone():
            return await asyncio.gather(
                *(pluralis_participant(i, server.url, cfg, answers, args.think, log) for i in range(args.participants))
            )

        people = niced(everyone)
        elapsed, cpu = time.perf_counter() - t0, cpu_seconds(server.proc.pid) - cpu0
        timings = [t for p in people for t in p.timings]
        assert all(t["status"] in (200, 303) for t in timings)
        ours = summary(
            "pluralis serve (SQLite store)",
            len(timings),
            elapsed,
            [t["wall_ms"] for t in timings],
            cpu,
            [t["app_ms"] for t in timings if t["app_ms"] == t["app_ms"]],
        )
        by_path: dict[str, list[float]] = {}
        for t in timings:
            by_path.setdefault(t["method"] + " " + t["path"], []).append(t["app_ms"])
        print(
            "   app ms by request (p50 / p95): "
            + "; ".join(f"{k} {statistics.median(v):.1f} / {pct(v, 0.95):.1f}" for k, v in by_path.items())
        )
        stats = httpx.get(endpoint.removesuffix("/v1") + "/stats").json()
        server.stop()
        servers.remove(server)

        page = int(statistics.median([s for _, sizes in log for s in sizes]))
        ref = Proc([sys.executable, __file__, "--reference-server", str(tmp / "reference.sqlite"), str(page)])
        servers.append(ref)
        url = ref.wait_for_line("listening on", 60).split("listening on", 1)[1].strip()
        sequences = [sent for sent, _ in log]
        niced(lambda: replay(-1, url, sequences[0], 0.0))  # warm-up
        cpu0, t0 = cpu_seconds(ref.proc.pid), time.perf_counter()

        async def replay_all():
            return await asyncio.gather(*(replay(i, url, seq, args.think) for i, seq in enumerate(sequences)))

        walls = niced(replay_all)
        elapsed, cpu = time.perf_counter() - t0, cpu_seconds(ref.proc.pid) - cpu0
        base = summary(
            f"reference: Starlette + 1 SQLite write/POST ({page:,} B pages)",
            sum(map(len, walls)),
            elapsed,
            [w for ws in walls for w in ws],
            cpu,
        )
        print(
            f"ratio pluralis / reference: throughput {ours['rps'] / base['rps']:.2f}x, "
            f"p95 latency {ours['p95'] / base['p95']:.2f}x, CPU per request {ours['cpu_ms'] / base['cpu_ms']:.2f}x "
            f"(model double: {stats})"
        )
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
