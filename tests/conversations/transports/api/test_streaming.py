"""A real SSE client reads a streamed reply from a live server; the reply survives a hang-up."""

import asyncio
import json
import time

import httpx
import pytest

from conversations.domain.events import AssistantDelta, MessageAccepted
from conversations.edge.apikeys import api_key_create
from conversations.models import Message, MessageRole, MessageState
from conversations.transports.api.streaming import sse_stream
from tests.conftest import requires_postgres


def sse_read(lines) -> list[tuple[str, dict]]:
    """Parse Server-Sent Events as a browser's EventSource would (comments skipped)."""
    events, name, data = [], None, []
    for line in lines:
        if line.startswith(":"):
            continue
        if line == "":
            if data:
                events.append((name or "message", json.loads("\n".join(data))))
            name, data = None, []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
    return events


async def test_sse_format_and_keepalive():
    async def reply():
        await asyncio.sleep(0.05)
        yield AssistantDelta(seq=2, text="Hi")

    chunks = [
        chunk
        async for chunk in sse_stream(
            first=[MessageAccepted(seq=1, message_id=7)], events=reply(), keepalive=0.01
        )
    ]
    text = "".join(chunks)
    assert ": keep-alive\n\n" in text
    events = sse_read(text.split("\n"))
    assert events == [
        (
            "message.accepted",
            {
                "type": "message.accepted",
                "seq": 1,
                "message_id": 7,
                "client_id": None,
                "duplicate": False,
            },
        ),
        ("assistant.delta", {"type": "assistant.delta", "seq": 2, "text": "Hi", "offset": None}),
    ]


@requires_postgres
@pytest.mark.slow
def test_an_sse_client_reads_a_streamed_reply(live_server_url, bot):
    _, secret = api_key_create(bot=bot, name="sse", scopes="chat,read")
    headers = {"Authorization": f"Bearer {secret}"}
    with httpx.Client(base_url=live_server_url, headers=headers, timeout=20) as http:
        conversation = http.post("/api/v1/conversations", json={}).json()
        path = f"/api/v1/conversations/{conversation['id']}/messages"
        with http.stream(
            "POST",
            path,
            json={"text": "Where is my order?", "client_id": "c-1"},
            headers={"Accept": "text/event-stream"},
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            events = sse_read(response.iter_lines())
        types = [name for name, _ in events]
        assert types[0] == "message.accepted" and events[0][1]["client_id"] == "c-1"
        assert "assistant.started" in types and "assistant.delta" in types
        assert types[-1] == "assistant.done"
        assert all(name == data["type"] for name, data in events)
        streamed = "".join(d["text"] for n, d in events if n == "assistant.delta")
        done = events[-1][1]
        assert done["state"] == "complete" and done["text"] == streamed.strip()

        transcript = http.get(path).json()["items"]
        assert [m["role"] for m in transcript] == ["customer", "assistant"]
        assert transcript[1]["text"] == done["text"]


@requires_postgres
@pytest.mark.slow
def test_a_reply_completes_when_the_client_hangs_up(live_server_url, bot):
    _, secret = api_key_create(bot=bot, name="sse", scopes="chat")
    headers = {"Authorization": f"Bearer {secret}"}
    with httpx.Client(base_url=live_server_url, headers=headers, timeout=20) as http:
        conversation = http.post("/api/v1/conversations", json={}).json()
        path = f"/api/v1/conversations/{conversation['id']}/messages"
        with http.stream("POST", path, json={"text": "hi", "stream": True}) as response:
            for line in response.iter_lines():
                if line.startswith("event: message.accepted"):
                    break  # hang up before the reply has streamed
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        reply = Message.objects.filter(
            conversation_id=conversation["id"], role=MessageRole.ASSISTANT
        ).first()
        if reply is not None and reply.state == MessageState.COMPLETE:
            break
        time.sleep(0.1)
    assert reply is not None and reply.state == MessageState.COMPLETE and reply.text


@requires_postgres
@pytest.mark.slow
def test_a_chunked_body_is_capped_like_any_other(live_server_url, bot):
    _, secret = api_key_create(bot=bot, name="big", scopes="chat")

    def chunks():
        yield b'{"text": "'
        for _ in range(100):
            yield b"x" * 1024
        yield b'"}'

    response = httpx.post(
        f"{live_server_url}/api/v1/conversations",
        content=chunks(),
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
        timeout=20,
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"
