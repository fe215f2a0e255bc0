"""The model failing every documented way, and the tool worker killed mid-tool, on the real
stack: uvicorn, a Celery worker, the openai SDK against the scripted protocol server."""

import os

import pytest
from channels.db import database_sync_to_async

from tests.celery_worker import celery_worker_running
from tests.conftest import requires_postgres, requires_redis
from tests.conversations.tools import slow_tools
from tests.faults.conftest import (
    Client,
    Server,
    assistant_rows_settle,
    customer_texts,
    server_env,
)
from tests.openai_server import Reply, ToolCallSpec

pytestmark = [requires_postgres, requires_redis, pytest.mark.slow]

FINE = "All good here."
STORY = " ".join(f"word{n}" for n in range(60))
HUNG = Reply(text="too late", first_token_delay=4)
BAD_KEY = Reply(
    status=401,
    error={"message": "Incorrect API key provided.", "type": "invalid_request_error"},
)

# What the model does, in order, and the state the reply must end in.
MODEL_FAULTS = [
    ("429 then an answer", [Reply.rate_limited(), Reply(text=FINE)], "complete"),
    ("500 then an answer", [Reply.server_error(), Reply(text=FINE)], "complete"),
    ("500 every time", [Reply.server_error()] * 3, "failed"),
    ("no first token in time", [HUNG] * 3, "failed"),
    ("stream cut after text", [Reply(text=STORY, cut_after=5)], "interrupted"),
    ("context too long", [Reply.context_length_exceeded()], None),
    ("a bad key", [BAD_KEY], "failed"),
    ("a refusal", [Reply(refusal="I can't help with that.")], "complete"),
    ("the content filter", [Reply(text=STORY, finish_reason="content_filter")], "interrupted"),
]


def reply_ended(frame: dict) -> bool:
    return frame["type"] == "assistant.done" or (
        frame["type"] == "error" and frame.get("code") not in ("rate_limited",)
    )


def is_complete_answer(frame: dict) -> bool:
    return frame["type"] == "assistant.done" and frame["state"] == "complete" and frame["text"]


async def test_the_model_failing_every_documented_way(bot, openai_server):
    openai_server.rule = lambda request: Reply(text=FINE)
    env = server_env(
        redis_url=os.environ["REDIS_URL"],
        openai_base_url=openai_server.base_url,
        OPENAI_TIMEOUT="1",
        OPENAI_RETRY_BACKOFF="0.01",
    )
    server = Server(env)
    server.start()
    client = Client(server.url, bot.public_key)
    sent = []
    try:
        await client.open_session()
        await client.connect()
        for n, (name, script, state) in enumerate(MODEL_FAULTS):
            if n % 4 == 3:  # a fresh socket now and then: the per-socket message limit
                await client.close()
                await client.connect()
            openai_server.script(*script)
            seen = len(client.frames)
            sent.append(f"fault {n}: {name}")
            await client.send_message(sent[-1], f"f-{n}")
            # The connected client is told how it ended.
            ended = await client.wait_for(reply_ended, after=seen, timeout=30)
            states = await assistant_rows_settle(client.conversation_id, timeout=30)
            if state is not None:
                assert states[-1] == state, (name, states, ended)
            # And the next message is answered as usual.
            openai_server.script()
            seen = len(client.frames)
            sent.append(f"after fault {n}")
            await client.send_message(sent[-1], f"n-{n}")
            await client.wait_for(is_complete_answer, after=seen, timeout=30)
        assert await database_sync_to_async(customer_texts)(client.conversation_id) == sent
        await assistant_rows_settle(client.conversation_id)
    finally:
        await client.close()
        server.stop()


@pytest.fixture
def tools_worker(transactional_db):
    """A worker for the "tools" queue with the test tools, that a test may kill."""
    env = {"SUPPORTBOT_EXTRA_TOOLS": "tests.conversations.tools.slow_tools"}

    def start():
        return celery_worker_running(queue="tools", name="faults-tools", concurrency=2, env=env)

    slow_tools.register()
    try:
        yield start
    finally:
        slow_tools.unregister()


async def test_the_tool_worker_killed_mid_tool(bot, openai_server, tools_worker):
    wait = ToolCallSpec("wait_a_while", {"seconds": 1.5})
    openai_server.rule = lambda request: (
        Reply(text="Done waiting.")
        if request.messages[-1]["role"] == "tool"
        else Reply(tool_calls=[wait])
    )
    env = server_env(
        redis_url=os.environ["REDIS_URL"],
        openai_base_url=openai_server.base_url,
        SUPPORTBOT_EXTRA_TOOLS="tests.conversations.tools.slow_tools",
    )
    server = Server(env)
    server.start()
    client = Client(server.url, bot.public_key)
    try:
        await client.open_session()
        await client.connect()
        with tools_worker() as worker:
            await client.send_message("Please wait a while", "t-1")
            await client.wait_for(lambda f: f["type"] == "tool.started", timeout=30)
            worker.kill()
            worker.wait()
        # The tool times out; the reply goes on and completes.
        finished = await client.wait_for(lambda f: f["type"] == "tool.finished", timeout=30)
        assert finished["status"] != "succeeded"
        await client.wait_for(is_complete_answer, timeout=30)
        assert (await assistant_rows_settle(client.conversation_id))[-1] == "complete"
        # With a worker back, the next message's tool runs.
        with tools_worker():
            seen = len(client.frames)
            await client.send_message("And once more", "t-2")
            finished = await client.wait_for(
                lambda f: f["type"] == "tool.finished", after=seen, timeout=30
            )
            assert finished["status"] == "succeeded"
            await client.wait_for(is_complete_answer, after=seen, timeout=30)
        assert await database_sync_to_async(customer_texts)(client.conversation_id) == [
            "Please wait a while",
            "And once more",
        ]
        await assistant_rows_settle(client.conversation_id)
    finally:
        await client.close()
        server.stop()
