"""The ASGI process is killed (SIGKILL) mid-reply and started again: nothing stays streaming."""

import os

import pytest
from channels.db import database_sync_to_async

from tests.conftest import requires_postgres, requires_redis
from tests.faults.conftest import (
    Client,
    Server,
    assistant_rows_settle,
    customer_texts,
    is_complete_answer,
    server_env,
)
from tests.openai_server import Reply

pytestmark = [requires_postgres, requires_redis, pytest.mark.slow]

STORY = " ".join(f"word{n}" for n in range(400))


async def test_a_reply_orphaned_by_a_killed_process_is_ended_and_answered_again(bot, openai_server):
    openai_server.rule = lambda request: Reply(text=STORY, tokens_per_second=20)
    server = Server(
        server_env(redis_url=os.environ["REDIS_URL"], openai_base_url=openai_server.base_url)
    )
    server.start()
    client = Client(server.url, bot.public_key)
    try:
        await client.open_session()
        await client.connect()
        await client.send_message("Tell me a long story", "m-1")
        await client.wait_for(lambda f: f["type"] == "message.accepted")
        deltas = lambda f: f["type"] == "assistant.delta" and f["offset"] > 40  # noqa: E731
        await client.wait_for(deltas, timeout=30)

        server.kill()
        assert await client.wait_closed() != 1000
        openai_server.rule = lambda request: Reply(text="Here is your answer again.")
        server.start()
        seen = len(client.frames)
        await client.connect()

        # The client is told the orphaned reply ended (live, or as the stored row it replays)...
        def lost(frame: dict) -> bool:
            if frame["type"] == "assistant.done":
                return frame["finish_reason"] == "lost"
            return frame["type"] == "message" and frame["message"]["state"] == "interrupted"

        await client.wait_for(lost, after=seen, timeout=30)
        # ...and its message is answered once more, by the new process.
        await client.wait_for(is_complete_answer, after=seen, timeout=30)
        states = await assistant_rows_settle(client.conversation_id)
        assert states == ["interrupted", "complete"]
        # No Stop button after a reload: the orphaned reply never shows as streaming again (the
        # new process's answer may, while it streams).
        orphan = next(f["seq"] for f in client.frames[:seen] if f["type"] == "assistant.delta")
        assert not any(
            f["type"] == "message"
            and f["message"]["seq"] == orphan
            and f["message"]["state"] == "streaming"
            for f in client.frames[seen:]
        )

        # The next message is answered as usual.
        seen = len(client.frames)
        await client.send_message("Thanks! And now?", "m-2")
        await client.wait_for(is_complete_answer, after=seen, timeout=30)
        assert await database_sync_to_async(customer_texts)(client.conversation_id) == [
            "Tell me a long story",
            "Thanks! And now?",
        ]
        assert await assistant_rows_settle(client.conversation_id) == [
            "interrupted",
            "complete",
            "complete",
        ]
    finally:
        await client.close()
        server.stop()
