"""The product under uvicorn in a subprocess, for tests that need a real ASGI server."""

import contextlib
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_up(url: str, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"The server exited with {process.returncode}.")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers; health says what it thinks of its dependencies
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("The server did not come up in time.")


@contextlib.contextmanager
def uvicorn_running(
    *, port: int, env: dict[str, str], args: tuple[str, ...] = (), log: IO | None = None
) -> Iterator[subprocess.Popen]:
    """Serve supportbot.asgi on 127.0.0.1:`port`; yields once /healthz answers."""
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "uvicorn", "supportbot.asgi:application"),
            *("--host", "127.0.0.1", "--port", str(port), "--lifespan", "off", *args),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT if log is not None else None,
    )
    try:
        _wait_until_up(f"http://127.0.0.1:{port}", process)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
