"""The client drops at random points of a turn, reconnects with its last seq and resends what
was not acknowledged: it ends with exactly what the database holds, nothing lost or doubled."""

import os
import random

import pytest
from channels.db import database_sync_to_async

from conversations.models import Message, MessageRole
from tests.conftest import requires_postgres, requires_redis
from tests.faults.conftest import Client, Server, assistant_rows_settle, server_env
from tests.openai_server import Reply

pytestmark = [requires_postgres, requires_redis, pytest.mark.slow]

DROP_POINTS = ("before the ack", "after the ack", "mid-stream", "after done")


def client_view(frames: list[dict]) -> dict[int, tuple[str, str, str]]:
    """What the client shows, by seq: (role, text, state), as the widget builds it."""
    view: dict[int, tuple[str, str, str]] = {}
    for frame in frames:
        if frame["type"] == "message":
            m = frame["message"]
            if m["role"] in ("customer", "assistant") and (m["text"] or m["role"] == "customer"):
                view[m["seq"]] = (m["role"], m["text"], m["state"])
        elif frame["type"] == "assistant.done" and frame["text"]:
            view[frame["seq"]] = ("assistant", frame["text"], frame["state"])
    return view


def stored_view(conversation_id: str) -> dict[int, tuple[str, str, str]]:
    rows = Message.objects.filter(
        conversation_id=conversation_id, role__in=[MessageRole.CUSTOMER, MessageRole.ASSISTANT]
    ).exclude(role=MessageRole.ASSISTANT, text="")
    return {m.seq: (m.role, m.text, m.state) for m in rows}


def answered(text: str):
    """A frame showing the complete answer to `text`, live or replayed."""

    def check(frame: dict) -> bool:
        if frame["type"] == "assistant.done":
            return frame["state"] == "complete" and frame["text"].startswith(f"Answer to {text}")
        message = frame.get("message") or {}
        return (
            frame["type"] == "message"
            and message["role"] == "assistant"
            and message["state"] == "complete"
            and message["text"].startswith(f"Answer to {text}")
        )

    return check


async def test_the_client_dropping_at_random_points_loses_nothing(bot, openai_server):
    rng = random.Random(12)
    openai_server.rule = lambda request: Reply(
        text=f"Answer to {request.last_user_text}: " + " ".join(f"w{n}" for n in range(30)),
        tokens_per_second=60,
    )
    server = Server(
        server_env(redis_url=os.environ["REDIS_URL"], openai_base_url=openai_server.base_url)
    )
    server.start()
    client = Client(server.url, bot.public_key)
    sent = []
    try:
        await client.open_session()
        await client.connect()
        rounds = [*DROP_POINTS, *(rng.choice(DROP_POINTS) for _ in range(2))]
        for n, point in enumerate(rounds):
            text, client_id = f"question {n}", f"q-{n}"
            sent.append(text)
            seen = len(client.frames)
            await client.send_message(text, client_id)
            acked = lambda f, c=client_id: f["type"] == "message.accepted" and f["client_id"] == c  # noqa: E731
            if point == "after the ack":
                await client.wait_for(acked, after=seen)
            elif point == "mid-stream":
                deltas = rng.randint(1, 8)
                await client.wait_for(
                    lambda f, k=deltas: f["type"] == "assistant.delta" and f["offset"] >= k,
                    after=seen,
                )
            elif point == "after done":
                await client.wait_for(lambda f: f["type"] == "assistant.done", after=seen)
            await client.close()
            await client.connect()
            if not any(acked(f) for f in client.frames[seen:]):
                await client.send_message(text, client_id)  # the widget resends the unacked
                await client.wait_for(acked, after=seen)
            # The reply arrives live or as replayed history, and is complete.
            await client.wait_for(answered(text), after=seen, timeout=30)
        await assistant_rows_settle(client.conversation_id)
        stored = await database_sync_to_async(stored_view)(client.conversation_id)
        assert [v[1] for _, v in sorted(stored.items()) if v[0] == "customer"] == sent
        assert all(v[2] == "complete" for v in stored.values())
        assert client_view(client.frames) == stored
    finally:
        await client.close()
        server.stop()
