"""The fault suite's stack: uvicorn and a Celery worker as subprocesses, a scripted model, and
(where a test kills it) a Redis server of the test's own. PostgreSQL and Redis only (CI)."""

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import websockets
from channels.db import database_sync_to_async
from django.db import connection

from conversations.models import Message, MessageRole, MessageState
from tests.asgi_server import free_port, uvicorn_running

TERMINAL = (MessageState.COMPLETE, MessageState.INTERRUPTED, MessageState.FAILED)
# Every assistant row is terminal within this long of a fault (the issue says 60 s).
SETTLE_SECONDS = 60.0
LEASE_SECONDS = "3"


@pytest.fixture(autouse=True)
def _committing_db(transactional_db):
    """The servers are other processes: the test's writes must be committed to be seen."""


def database_url() -> str:
    s = connection.settings_dict
    return f"postgres://{s['USER']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


def server_env(*, redis_url: str, openai_base_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis_url,
        "SECRET_KEY": "test-secret-key",
        "SECURE_SSL_REDIRECT": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DB_CONN_MAX_AGE": "0",
        "SUPPORTBOT_RATE_PER_KEY_PER_MINUTE": "100000",
        "SUPPORTBOT_RATE_PER_IP_PER_MINUTE": "100000",
        "SUPPORTBOT_REPLY_LEASE_SECONDS": LEASE_SECONDS,
        "SUPPORTBOT_ENGINE": "openai",
        "OPENAI_BASE_URL": openai_base_url,
        "OPENAI_API_KEY": "test",
        "OPENAI_MAX_RETRIES": "2",
        "OPENAI_RETRY_BACKOFF": "0.05",
        "OPENAI_TIMEOUT": "5",
        "LOG_LEVEL": "WARNING",
        **extra,
    }


class Server:
    """Uvicorn on a fixed port that a test can kill (SIGKILL) and start again."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env, self.port = env, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._stack = contextlib.ExitStack()
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = self._stack.enter_context(
            uvicorn_running(port=self.port, env=self.env, args=("--log-level", "warning"))
        )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self._stack.close()
        self._stack = contextlib.ExitStack()

    def stop(self) -> None:
        self._stack.close()


class RedisServer:
    """A redis-server of the test's own, on a free port: killing it troubles nobody else."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                *("--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--daemonize", "no"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                contextlib.closing(
                    __import__("socket").create_connection(("127.0.0.1", self.port), 0.2)
                ),
            ):
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.process = None


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server on PATH")
    server = RedisServer()
    server.start()
    yield server
    server.kill()


@dataclass
class Client:
    """A widget-like client: a session over HTTP, then the websocket; it keeps every frame."""

    url: str
    public_key: str
    frames: list[dict[str, Any]] = field(default_factory=list)
    closes: list[int | None] = field(default_factory=list)
    conversation_id: str = ""
    token: str = ""
    ws: Any = None
    reader: asyncio.Task | None = None

    async def open_session(self) -> None:
        async with httpx.AsyncClient(base_url=self.url, headers={"Origin": self.url}) as http:
            response = await http.post(
                f"/widget/{self.public_key}/session",
                content=json.dumps({"visitor_id": "fault_suite_visitor_0001"}),
                timeout=20,
            )
        assert response.status_code == 201, response.text
        session = response.json()
        self.conversation_id, self.token = session["conversation_id"], session["token"]

    def last_seq(self) -> int:
        done = [f["seq"] for f in self.frames if f["type"] == "assistant.done"]
        stored = [
            f["message"]["seq"]
            for f in self.frames
            if f["type"] == "message" and f["message"]["state"] != "streaming"
        ]
        return max([0, *done, *stored])

    async def connect(self, *, timeout: float = 20.0) -> None:
        ws_url = self.url.replace("http", "ws", 1) + f"/ws/chat/{self.conversation_id}/"
        self.ws = await websockets.connect(ws_url, origin=self.url, open_timeout=timeout)
        await self.ws.send(
            json.dumps({"type": "auth", "token": self.token, "last_seq": self.last_seq()})
        )
        self.reader = asyncio.create_task(self._read(self.ws))
        await self.wait_for(lambda f: f["type"] == "ready", timeout=timeout, after=len(self.frames))

    async def _read(self, ws: Any) -> None:
        try:
            async for raw in ws:
                self.frames.append(json.loads(raw))
        except websockets.ConnectionClosed:
            pass
        self.closes.append(ws.close_code)

    async def send_message(self, text: str, client_id: str) -> None:
        await self.ws.send(json.dumps({"type": "message", "text": text, "client_id": client_id}))

    async def wait_for(
        self, predicate: Callable[[dict], bool], *, timeout: float = 30.0, after: int = 0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for frame in self.frames[after:]:
                if predicate(frame):
                    return frame
            await asyncio.sleep(0.05)
        raise AssertionError(f"no such frame in {timeout} s; got {self.frames[after:][-10:]}")

    async def wait_closed(self, *, timeout: float = 30.0) -> int | None:
        deadline = time.monotonic() + timeout
        while not self.closes and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert self.closes, "the socket was not closed"
        return self.closes[-1]

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            await asyncio.wait_for(self.reader, 5)


def _assistant_states(conversation_id: str) -> list[str]:
    return list(
        Message.objects.filter(conversation_id=conversation_id, role=MessageRole.ASSISTANT)
        .order_by("seq")
        .values_list("state", flat=True)
    )


async def assistant_rows_settle(conversation_id: str, *, timeout: float = SETTLE_SECONDS) -> list:
    """Wait until every assistant row of the conversation is terminal; their states."""
    deadline = time.monotonic() + timeout
    while True:
        states = await database_sync_to_async(_assistant_states)(conversation_id)
        if all(state in TERMINAL for state in states):
            return states
        if time.monotonic() > deadline:
            raise AssertionError(f"assistant rows not terminal after {timeout} s: {states}")
        await asyncio.sleep(0.2)


def customer_texts(conversation_id: str) -> list[str]:
    return list(
        Message.objects.filter(conversation_id=conversation_id, role=MessageRole.CUSTOMER)
        .order_by("seq")
        .values_list("text", flat=True)
    )


def is_complete_answer(frame: dict) -> bool:
    """A finished, complete assistant reply: live (assistant.done) or replayed (message)."""
    if frame["type"] == "assistant.done":
        return frame["state"] == "complete" and bool(frame["text"])
    if frame["type"] == "message":
        message = frame["message"]
        return message["role"] == "assistant" and message["state"] == "complete"
    return False
