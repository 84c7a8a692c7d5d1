"""Benchmark: the collection server under N concurrent simulated participants.

Run:  .venv/bin/python benchmarks/bench_server.py             (200 participants, closed loop)
      .venv/bin/python benchmarks/bench_server.py -n 200 --think 0.6
      (--server-cpus 0 --client-cpus 1 by default on 2+ CPUs; --generators K; --no-reference)

What runs: the real app — ``pluralis serve`` (``pluralis.web.app.create_app`` on a SQLite store, uvicorn, the
same settings as in production) in its own process — and 4 fast model doubles (``tests/web/latency_double.py``:
a plain-asyncio OpenAI-compatible endpoint answering at once). N simulated participants go through the PRISM
protocol as ``tests/web/test_load.py`` does (``HttpParticipant``): landing, consent, every survey page, an opening
turn rated over 4 models, a follow-up rated over 2, finish and the feedback page — 23 requests each. Each
participant is a :class:`RawClient` (one keep-alive connection and cookie jar, request head and body in one
write, minimal response parsing), far cheaper per request than httpx, in a separate load-generator process
under uvloop. The server is pinned to ``--server-cpus`` and the generator and model doubles to
``--client-cpus`` (every thread, ``sched_setaffinity``). ``--think S``: a pause of U(0.5 S, 1.5 S) before each
form post (not timed).

Reported: requests/s over the whole run, client-side latency p50/p95 (request sent → response read), per
request kind, the server's own time per request (``Server-Timing: app``, model time excluded), the models'
time of the posts that call them, the server process's CPU milliseconds per request (from ``/proc``: user +
system time divided by the requests; the system part in brackets), how busy the server was (CPU s / wall s, so
1000 / CPU ms is the ceiling in requests/s per core), the load generator's own CPU per request, and the load
average before and after.

Reference (run the same way): a bare Starlette app on the same uvicorn settings whose GET returns a fixed HTML
page of the median size the study pages had, and whose POST does one SQLite ``INSERT`` of the form body and a
commit (WAL, ``synchronous=NORMAL``, as the store) and answers ``303`` — replaying exactly the request sequence
the participants sent to Pluralis. That is the floor of "HTTP + one durable write per form": everything above it
is Pluralis's own work (sessions, CSRF, protocol state, templates, the collection tables, the model calls).
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


def cpu_seconds(pid: int, part: str = "both") -> float:
    """User + system (or ``part="user"`` / ``"system"``) CPU seconds of a process (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    user, system = int(fields[11]), int(fields[12])
    ticks = {"both": user + system, "user": user, "system": system}[part]
    return ticks / os.sysconf("SC_CLK_TCK")


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


# --- a cheap HTTP/1.1 client (asyncio streams; prebuilt requests, minimal parsing) ----------------------------


class RawResponse:
    """What :class:`tests.collect_helpers.HttpParticipant` reads of an ``httpx.Response``."""

    __slots__ = ("status_code", "headers", "content")

    def __init__(self, status_code: int, headers: dict[str, str], content: bytes):
        self.status_code, self.headers, self.content = status_code, headers, content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8")


class RawClient:
    """One participant's browser: ONE keep-alive connection, a cookie jar, the request head and body sent in
    one write, the response parsed just enough (status, headers, ``Content-Length`` or chunked body).

    Much cheaper per request than httpx (no URL/header models, no hooks), so the generator does not set the
    rate. Records what it sent (for the reference replay) and the sizes of the pages it got.
    """

    def __init__(self, url: str):
        hostport = url.split("://", 1)[1].split("/", 1)[0]
        self.host, port = hostport.rsplit(":", 1)
        self.port = int(port)
        self.hosthdr = hostport.encode()
        self.cookies: dict[str, str] = {}
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.sent: list[tuple[str, str, bytes]] = []
        self.sizes: list[int] = []
        self.record = True

    async def get(self, path: str) -> RawResponse:
        return await self.request("GET", path)

    async def post(self, path: str, content: str | bytes = b"", headers: dict | None = None) -> RawResponse:
        return await self.request("POST", path, content)

    async def request(self, method: str, path: str, content: str | bytes | None = None) -> RawResponse:
        body = content.encode() if isinstance(content, str) else (content or b"")
        head = [f"{method} {path} HTTP/1.1".encode(), b"Host: " + self.hosthdr]
        if self.cookies:
            head.append(("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items())).encode())
        if method == "POST":
            head.append(b"Content-Type: application/x-www-form-urlencoded")
            head.append(b"Content-Length: " + str(len(body)).encode())
        data = b"\r\n".join(head) + b"\r\n\r\n" + body
        if self.record:
            self.sent.append((method, path, body))
        for attempt in (0, 1):
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            try:
                self.writer.write(data)
                resp = await self._read()
                break
            except (ConnectionError, asyncio.IncompleteReadError):
                await self.aclose()
                if attempt:
                    raise
        if method == "GET" and self.record:
            self.sizes.append(len(resp.content))
        return resp

    async def _read(self) -> RawResponse:
        assert self.reader is not None
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw[:-4].decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name, value = name.lower(), value.strip()
            if name == "set-cookie":
                cookie = value.split(";", 1)[0]
                k, _, v = cookie.partition("=")
                if "max-age=0" in value.lower() or not v.strip('"'):
                    self.cookies.pop(k, None)
                else:
                    self.cookies[k] = v
            headers[name] = value
        if "content-length" in headers:
            content = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                parts.append(await self.reader.readexactly(size + 2))
                if size == 0:
                    break
            content = b"".join(p[:-2] for p in parts)
        else:
            content = b""
        if headers.get("connection", "").lower() == "close":
            await self.aclose()
        return RawResponse(status, headers, content)

    async def aclose(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None


# --- load generation (in its own process, pinned to its own CPUs) -------------------------------------------


def pin(pid: int, cpus: set[int] | None) -> None:
    """Pin every thread of process ``pid`` (threads started later inherit it) to ``cpus``."""
    if not cpus:
        return
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            os.sched_setaffinity(int(tid), cpus)
        except OSError:  # pragma: no cover - a thread that just ended
            pass


async def pluralis_participant(i: int, url: str, cfg, answers: dict, think: float):
    from tests.collect_helpers import HttpParticipant

    rng = random.Random(i)

    class Participant(HttpParticipant):
        async def post(self, *args, **kwargs):  # reading and filling in the page (not timed)
            if think:
                await asyncio.sleep(rng.uniform(0.5 * think, 1.5 * think))
            return await super().post(*args, **kwargs)

    client = RawClient(url)
    p = Participant(client, cfg, answers)  # type: ignore[arg-type]  # duck-typed: get/post/text/headers
    try:
        await p.join()
        await p.consent_and_survey()
        await p.opening("unguided", f"Reader {i}: what should I read next?")
        await p.rate({sid: rng.randint(1, 100) for sid in p.score_ids()})
        await p.follow_up("Why that one?")
        await p.rate({sid: rng.randint(1, 100) for sid in p.score_ids()})
        await p.finish()
        assert "completion code" in p.html
    finally:
        await client.aclose()
    return p.timings, client.sent, client.sizes


async def replay(i: int, url: str, requests: list[tuple[str, str, bytes]], think: float) -> list[float]:
    rng = random.Random(i)
    out = []
    client = RawClient(url)
    client.record = False
    try:
        for method, path, body in requests:
            if think and method == "POST":
                await asyncio.sleep(rng.uniform(0.5 * think, 1.5 * think))
            t = time.perf_counter()
            r = await client.request(method, path, body if method == "POST" else None)
            out.append((time.perf_counter() - t) * 1000)
            assert r.status_code in (200, 303), (path, r.status_code)
    finally:
        await client.aclose()
    return out


def generator(job: dict, conn) -> None:
    """One load-generator process: warm up, say ``ready``, wait for ``go``, run its participants, send results."""
    if job["cpus"]:
        os.sched_setaffinity(0, job["cpus"])
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    from pluralis.collect.config import StudyConfig

    url, think = job["url"], job["think"]
    cfg = StudyConfig.model_validate_json(job["config"]) if job["config"] else None

    def work(i, item):
        if job["kind"] == "pluralis":
            return pluralis_participant(i, url, cfg, job["answers"], think)
        return replay(i, url, item, think)

    asyncio.run(work(10_000 + job["ids"][0], job["items"][0]))  # warm-up: connection paths, first templates
    conn.send("ready")
    assert conn.recv() == "go"

    async def everyone():
        return await asyncio.gather(*(work(i, item) for i, item in zip(job["ids"], job["items"])))

    c0, t0 = time.process_time(), time.monotonic()
    out = asyncio.run(everyone())
    conn.send({"t0": t0, "t1": time.monotonic(), "cpu": time.process_time() - c0, "results": out})


def drive(kind: str, url: str, server_pid: int, items: list, args, cfg=None, answers=None) -> dict:
    """Run ``items`` (participant numbers or request sequences) over ``args.generators`` processes."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    k = max(1, args.generators)
    procs, pipes = [], []
    for g in range(k):
        ids = list(range(g, len(items), k))
        job = {
            "kind": kind,
            "url": url,
            "think": args.think,
            "cpus": args.client_cpus,
            "config": cfg.model_dump_json() if cfg is not None else None,
            "answers": answers,
            "ids": ids,
            "items": [items[i] for i in ids],
        }
        here, there = ctx.Pipe()
        p = ctx.Process(target=generator, args=(job, there), daemon=True)
        p.start()
        procs.append(p)
        pipes.append(here)
    for h in pipes:
        assert h.recv() == "ready"
    load0 = os.getloadavg()
    cpu0, sys0 = cpu_seconds(server_pid), cpu_seconds(server_pid, "system")
    for h in pipes:
        h.send("go")
    done = [h.recv() for h in pipes]
    cpu, system = cpu_seconds(server_pid) - cpu0, cpu_seconds(server_pid, "system") - sys0
    for p in procs:
        p.join(timeout=30)
    return {
        "elapsed": max(d["t1"] for d in done) - min(d["t0"] for d in done),
        "server_cpu": cpu,
        "server_system": system,
        "client_cpu": sum(d["cpu"] for d in done),
        "results": [r for d in done for r in d["results"]],
        "load": (load0, os.getloadavg()),
    }


def summary(name: str, run: dict, wall_ms: list[float], app_ms=None) -> dict:
    n, elapsed, cpu = len(wall_ms), run["elapsed"], run["server_cpu"]
    row = {
        "name": name,
        "requests": n,
        "rps": n / elapsed,
        "p50": statistics.median(wall_ms),
        "p95": pct(wall_ms, 0.95),
        "cpu_ms": 1000 * cpu / n,
        "busy": cpu / elapsed,
        "client_cpu_ms": 1000 * run["client_cpu"] / n,
        "app_p50": statistics.median(app_ms) if app_ms else float("nan"),
        "app_p95": pct(app_ms, 0.95) if app_ms else float("nan"),
    }
    (l0, _, _), (l1, _, _) = run["load"]
    print(
        f"{name:<38} {n:6,} requests in {elapsed:6.1f} s = {row['rps']:6.0f} req/s; "
        f"latency p50 {row['p50']:6.1f} ms p95 {row['p95']:6.1f} ms; server CPU {row['cpu_ms']:.3f} ms/request "
        f"({1000 * run['server_system'] / n:.3f} system) "
        f"(server busy {100 * row['busy']:.0f}% of a core: ceiling {1000 / row['cpu_ms']:.0f} req/s per core); "
        f"load generator CPU {row['client_cpu_ms']:.3f} ms/request"
        + (f"; app time p50 {row['app_p50']:.1f} ms p95 {row['app_p95']:.1f} ms" if app_ms else "")
        + f"; load average {l0:.2f} -> {l1:.2f}"
    )
    return row


def cpus(text: str) -> set[int] | None:
    return {int(c) for c in text.split(",") if c.strip()} or None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--participants", type=int, default=200)
    ap.add_argument(
        "--think", type=float, default=0.0, help="mean think time before each form post, seconds (0: no pauses)"
    )
    two = (os.cpu_count() or 1) >= 2
    ap.add_argument("--server-cpus", default="0" if two else "", help="CPUs the server is pinned to ('' = any)")
    ap.add_argument(
        "--client-cpus", default="1" if two else "", help="CPUs the load generator and model doubles are pinned to"
    )
    ap.add_argument("--generators", type=int, default=1, help="load-generator processes")
    ap.add_argument("--no-reference", action="store_true", help="skip the reference server")
    args, rest = ap.parse_known_args()
    if rest[:1] == ["--reference-server"]:
        reference_server(rest[1], int(rest[2]))
        return
    args.server_cpus, args.client_cpus = cpus(args.server_cpus), cpus(args.client_cpus)
    import httpx

    from pluralis.collect.protocol import example_survey_answers
    from tests.collect_helpers import Server, study_config, write_study
    from tests.model_servers import Proc

    print(
        f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs; "
        f"{args.participants} participants; server on CPUs {args.server_cpus or 'any'}, load generator "
        f"({args.generators} process(es)) and model doubles on CPUs {args.client_cpus or 'any'}; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    tmp = Path(tempfile.mkdtemp(prefix="bench-server-"))
    double = Proc([sys.executable, str(ROOT / "tests" / "web" / "latency_double.py")])
    servers: list = [double]
    try:
        port = double.wait_for_line("PORT", 30).split()[1]
        pin(double.proc.pid, args.client_cpus)
        endpoint = f"http://127.0.0.1:{port}/v1"
        models = [{"name": f"slow-{s}-{c}", "endpoint": endpoint, "max_retries": 0} for s, c in zip(SLEEPS, "abcd")]
        cfg = study_config(models, limits={"joins_per_minute_per_ip": 0, "llm_requests_per_minute": 0})
        study = write_study(tmp / "study.toml", cfg)
        server = Server(study, tmp / "study.sqlite")
        servers.append(server)
        pin(server.proc.pid, args.server_cpus)
        answers = example_survey_answers() | {"lm_direct_use": "No", "lm_indirect_use": "No"}
        run = drive("pluralis", server.url, server.proc.pid, list(range(args.participants)), args, cfg, answers)
        timings = [t for ts, _, _ in run["results"] for t in ts]
        assert all(t["status"] in (200, 303) for t in timings)
        ours = summary(
            "pluralis serve (SQLite store)",
            run,
            [t["wall_ms"] for t in timings],
            [t["app_ms"] for t in timings if t["app_ms"] == t["app_ms"]],
        )
        for what in ("app_ms", "wall_ms", "model_ms"):
            by_path: dict[str, list[float]] = {}
            for t in timings:
                if what != "model_ms" or t["path"] in ("/study/start", "/study/followup"):
                    by_path.setdefault(t["method"] + " " + t["path"], []).append(t[what])
            print(
                f"   {what.replace('_', ' ')} by request (p50 / p95): "
                + "; ".join(f"{k} {statistics.median(v):.1f} / {pct(v, 0.95):.1f}" for k, v in by_path.items())
            )
        stats = httpx.get(endpoint.removesuffix("/v1") + "/stats").json()
        print(f"   model double: {stats}, CPU {cpu_seconds(double.proc.pid):.1f} s so far")
        server.stop()
        servers.remove(server)
        if args.no_reference:
            return

        page = int(statistics.median([s for _, _, sizes in run["results"] for s in sizes]))
        ref = Proc([sys.executable, __file__, "--reference-server", str(tmp / "reference.sqlite"), str(page)])
        servers.append(ref)
        url = ref.wait_for_line("listening on", 60).split("listening on", 1)[1].strip()
        pin(ref.proc.pid, args.server_cpus)
        sequences = [sent for _, sent, _ in run["results"]]
        ref_run = drive("reference", url, ref.proc.pid, sequences, args)
        base = summary(
            f"reference: Starlette + 1 SQLite write/POST ({page:,} B pages)",
            ref_run,
            [w for ws in ref_run["results"] for w in ws],
        )
        print(
            f"ratio pluralis / reference: throughput {ours['rps'] / base['rps']:.2f}x, "
            f"p95 latency {ours['p95'] / base['p95']:.2f}x, CPU per request {ours['cpu_ms'] / base['cpu_ms']:.2f}x"
        )
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
