"""Helpers shared by the collection and web tests (tests/collect, tests/web): study files, a `pluralis serve`
subprocess, an app served in a thread, an HTTP participant."""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from pluralis.collect.config import StudyConfig, study_to_toml
from pluralis.collect.protocol import example_survey_answers
from tests.model_servers import Proc

ROOT = Path(__file__).resolve().parents[1]
CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')
SECTION_RE = re.compile(r'name="section" value="([^"]+)"')
SCORE_RE = re.compile(r'name="score_(\d+)"')
FORM_HEADERS = {"content-type": "application/x-www-form-urlencoded"}


def study_config(models: list[dict], *, quotas: dict[str, int] | None = None, **sections: Any) -> StudyConfig:
    """A study on the given models; ``quotas`` maps conversation type -> quota (default: 1 unguided)."""
    data = StudyConfig().model_dump(mode="json")
    data["models"] = models
    quotas = quotas or {"unguided": 1}
    data["conversations"]["types"] = [t for t in data["conversations"]["types"] if quotas.get(t["name"], 0) > 0]
    for t in data["conversations"]["types"]:
        t["quota"] = quotas[t["name"]]
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value}
    return StudyConfig.model_validate(data)


def write_study(path: Path, config: StudyConfig) -> Path:
    path.write_text(study_to_toml(config), "utf-8")
    return path


def serve_cmd() -> list[str]:
    exe = Path(sys.executable).parent / "pluralis"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "pluralis.cli"]


class Server(Proc):
    """`pluralis serve STUDY --db DB --port 0` in a subprocess (output read by a thread, see ``Proc``)."""

    #: The test studies keep the shipped consent text, and some of their models are latency doubles whose
    #: request counts the tests read: the start-up check's model calls are tested on their own.
    TEST_FLAGS = ("--allow-placeholders", "--skip-model-check")

    def __init__(
        self, study: Path, db: Path | str, *, env: dict | None = None, port: int = 0, flags: tuple = TEST_FLAGS
    ):
        self.study, self.db = study, db
        super().__init__(
            [*serve_cmd(), "serve", str(study), "--db", str(db), "--port", str(port), *flags],
            env={"PLURALIS_ADMIN_TOKEN": "admin-token-for-tests-123", **(env or {})},
        )
        self.url = self.wait_for_line("listening on", 60).split("listening on", 1)[1].strip()

    def kill9(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)


def csrf_of(html: str) -> str:
    m = CSRF_RE.search(html)
    assert m, html[:2000]
    return m.group(1)


def survey_form(config: StudyConfig, section_id: str, answers: dict[str, Any]) -> list[tuple[str, Any]]:
    """Form fields of one survey page, as a browser would send them."""
    section = next(s for s in config.survey.sections if s.id == section_id)
    body: list[tuple[str, Any]] = [("section", section_id)]
    for q in section.questions:
        v = answers.get(q.id)
        if v is None:
            continue
        if q.kind == "category":
            v = v if isinstance(v, dict) else {"category": v}
            body += [(q.id, v["category"]), (f"{q.id}__self", v.get("self_described") or "")]
        elif q.kind == "multi":
            body += [(q.id, k) for k in v["selected"]]
            body.append((f"{q.id}__other_text", v.get("other_text") or ""))
        elif q.kind == "vas":
            body += [(f"{q.id}__{k}", x) for k, x in v.items() if x is not None]
        else:
            body.append((q.id, v))
    return body


class HttpParticipant:
    """Drives one participant through the app over HTTP (async httpx), recording per-request timings."""

    def __init__(self, client: httpx.AsyncClient, config: StudyConfig, answers: dict | None = None):
        self.client = client
        self.config = config
        self.answers = answers or example_survey_answers()
        self.html = ""
        self.timings: list[dict[str, Any]] = []
        self.sent_scores: list[int] = []

    def _record(self, method: str, path: str, resp: httpx.Response, elapsed: float) -> None:
        st = resp.headers.get("server-timing", "")
        parts = dict(re.findall(r"(\w+);dur=([\d.]+)", st))
        self.timings.append(
            {
                "method": method,
                "path": path,
                "status": resp.status_code,
                "wall_ms": elapsed * 1000,
                "app_ms": float(parts.get("app", "nan")),
                "model_ms": float(parts.get("model", "nan")),
            }
        )

    async def get(self, path: str = "/study") -> httpx.Response:
        t = time.perf_counter()
        r = await self.client.get(path)
        self._record("GET", path, r, time.perf_counter() - t)
        assert r.status_code == 200, (path, r.status_code, r.text[:500])
        self.html = r.text
        return r

    async def post(
        self, path: str, fields: list[tuple[str, Any]] | dict, *, csrf: str | None = None, expect: int = 303
    ) -> httpx.Response:
        items = list(fields.items()) if isinstance(fields, dict) else list(fields)
        items.append(("csrf", csrf or csrf_of(self.html)))
        t = time.perf_counter()
        r = await self.client.post(path, content=urlencode(items), headers=FORM_HEADERS)
        self._record("POST", path, r, time.perf_counter() - t)
        assert r.status_code == expect, (path, r.status_code, r.text[:1500])
        return r

    async def join(self) -> None:
        await self.get("/")
        await self.post("/start", {})
        await self.get()

    async def consent_and_survey(self) -> None:
        await self.post("/study/consent", {"consent": "yes", "consent_age": "yes"})
        await self.get()
        while (m := SECTION_RE.search(self.html)) is not None:
            await self.post("/study/survey", survey_form(self.config, m.group(1), self.answers))
            await self.get()

    async def opening(self, ctype: str, prompt: str) -> float:
        t = time.perf_counter()
        await self.post("/study/start", {"conversation_type": ctype, "opening_prompt": prompt})
        elapsed = time.perf_counter() - t
        await self.get()
        return elapsed

    def score_ids(self) -> list[str]:
        return SCORE_RE.findall(self.html)

    async def rate(self, scores: dict[str, int] | None = None) -> dict[str, int]:
        ids = self.score_ids()
        assert ids, self.html[:2000]
        scores = scores or {i: 20 + 15 * k for k, i in enumerate(ids)}
        form = {f"score_{i}": s for i, s in scores.items()} | {f"score_{i}__touched": "1" for i in scores}
        await self.post("/study/rate", form)
        self.sent_scores.extend(int(s) for s in scores.values())
        await self.get()
        return scores

    async def follow_up(self, prompt: str) -> None:
        await self.post("/study/followup", {"prompt": prompt})
        await self.get()

    async def finish(self, feedback: str = "Clear answers, but a little short for my taste.") -> None:
        await self.post("/study/finish", {})
        await self.get()
        fields = {f"performance__{k}": 60 + i for i, k in enumerate(self.config.attributes.performance)}
        fields.update({f"choice__{k}": 40 + i for i, k in enumerate(self.config.attributes.choice)})
        fields["choice__safety__na"] = "on"
        fields["open_feedback"] = feedback
        await self.post("/study/feedback", fields)
        await self.get()


class ThreadServer:
    """Serve an ASGI app with uvicorn in a background thread on 127.0.0.1 (a real HTTP server)."""

    def __init__(self, app):
        import socket
        import threading

        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.server.started, "app did not start"

    def __enter__(self) -> ThreadServer:
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()


def participant_run(url: str, config: StudyConfig, script, *, answers: dict | None = None):
    """Run ``await script(participant)`` with a fresh cookie jar against ``url``; returns the participant."""
    import asyncio

    async def main():
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            p = HttpParticipant(client, config, answers)
            await script(p)
            return p

    return asyncio.run(main())
