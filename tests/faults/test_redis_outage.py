"""Redis (channel layer, cache, broker) is killed mid-reply and started again."""

import asyncio

import httpx
import pytest
import websockets
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

STORY = " ".join(f"word{n}" for n in range(120))


async def refused_code(client: Client) -> int | None:
    """The close code a connection attempt ends with (it must not get as far as `ready`)."""
    try:
        await client.connect(timeout=10)
    except websockets.ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None
    except AssertionError:
        return await client.wait_closed(timeout=10)
    raise AssertionError("the socket opened during the outage")


async def test_a_redis_outage_mid_reply_loses_nothing_and_tells_every_client(
    bot, openai_server, own_redis
):
    openai_server.rule = lambda request: Reply(text=STORY, tokens_per_second=30)
    server = Server(server_env(redis_url=own_redis.url, openai_base_url=openai_server.base_url))
    server.start()
    client, watcher = Client(server.url, bot.public_key), None
    try:
        await client.open_session()
        await client.connect()
        # A second tab on the same conversation: it must be told as well.
        watcher = Client(server.url, bot.public_key)
        watcher.conversation_id, watcher.token = client.conversation_id, client.token
        await watcher.connect()
        await client.send_message("Tell me a story", "m-1")
        await client.wait_for(lambda f: f["type"] == "assistant.delta" and f["offset"] > 20)

        own_redis.kill()
        # Every socket is told and closed with the code that means: reconnect and replay.
        for tab in (client, watcher):
            await tab.wait_for(lambda f: f.get("code") == "unavailable", timeout=15)
            assert await tab.wait_closed(timeout=15) == 4503
        # The reply goes on without Redis and is stored whole.
        assert await assistant_rows_settle(client.conversation_id, timeout=60) == ["complete"]

        # During the outage the endpoints answer (or say 503 with Retry-After), never 500.
        async with httpx.AsyncClient(base_url=server.url, headers={"Origin": server.url}) as http:
            response = await http.post(
                f"/widget/{bot.public_key}/session",
                content='{"visitor_id": "fault_suite_visitor_0002"}',
                timeout=30,
            )
        assert response.status_code in (201, 503), response.text
        if response.status_code == 503:
            assert (
                response.json()["error"]["code"] == "unavailable"
                and response.headers["Retry-After"]
            )
        # A reconnect during the outage is refused with the same code, not dropped (1006).
        assert await refused_code(client) == 4503

        own_redis.start()
        # The client reconnects and gets the whole reply from the database.
        seen = len(client.frames)
        for _ in range(40):
            try:
                await client.connect(timeout=5)
                break
            except (AssertionError, OSError, TimeoutError, websockets.ConnectionClosed):
                await asyncio.sleep(0.5)
        await client.wait_for(is_complete_answer, after=seen, timeout=10)
        replayed = [
            f for f in client.frames[seen:] if is_complete_answer(f) and f["type"] == "message"
        ]
        assert replayed and replayed[0]["message"]["text"] == STORY

        # And the next message is answered live.
        openai_server.rule = lambda request: Reply(text="Glad to help.")
        seen = len(client.frames)
        await client.send_message("Thanks!", "m-2")
        await client.wait_for(is_complete_answer, after=seen, timeout=30)
        assert await database_sync_to_async(customer_texts)(client.conversation_id) == [
            "Tell me a story",
            "Thanks!",
        ]
        assert await assistant_rows_settle(client.conversation_id) == ["complete", "complete"]
    finally:
        await client.close()
        if watcher is not None:
            await watcher.close()
        server.stop()
