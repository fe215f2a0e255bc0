import asyncio

import pytest

from supportbot.layers import (
    REMOTE_IF_WATCHED,
    FastInMemoryChannelLayer,
    direct_receiver_add,
    direct_receiver_remove,
)
from tests.conftest import requires_redis


def run(coro):
    return asyncio.run(coro)


def test_group_send_reaches_every_member_with_its_own_copy():
    async def scenario():
        layer = FastInMemoryChannelLayer()
        a, b = await layer.new_channel(), await layer.new_channel()
        await layer.group_add("g", a)
        await layer.group_add("g", b)
        message = {"type": "chat.event", "event": {"text": "hi"}}
        await layer.group_send("g", message)
        got_a, got_b = await layer.receive(a), await layer.receive(b)
        assert got_a == got_b == message
        assert got_a is not got_b and got_a["event"] is not message["event"]
        await layer.group_discard("g", a)
        await layer.group_send("g", {"type": "x"})
        assert (await layer.receive(b))["type"] == "x"
        assert a not in layer.channels

    run(scenario())


def test_full_channel_misses_group_messages_and_send_raises():
    async def scenario():
        layer = FastInMemoryChannelLayer(capacity=2)
        channel = await layer.new_channel()
        await layer.group_add("g", channel)
        for n in range(4):
            await layer.group_send("g", {"type": "m", "n": n})
        assert [(await layer.receive(channel))["n"] for _ in range(2)] == [0, 1]
        await layer.send(channel, {"type": "m"})
        await layer.send(channel, {"type": "m"})
        from channels.exceptions import ChannelFull

        with pytest.raises(ChannelFull):
            await layer.send(channel, {"type": "m"})

    run(scenario())


def test_expired_messages_are_swept(monkeypatch):
    async def scenario():
        layer = FastInMemoryChannelLayer(expiry=0)
        channel = await layer.new_channel()
        await layer.group_add("g", channel)
        await layer.group_send("g", {"type": "m"})
        layer._swept_at = 0.0
        layer._clean_expired()
        assert channel not in layer.channels
        assert channel not in layer.groups.get("g", {})

    run(scenario())


# --- The production layer: Redis pub/sub between processes, direct delivery inside one.


def _redis_layer(prefix):
    import os

    from supportbot.layers import LocalFirstRedisLayer

    return LocalFirstRedisLayer(hosts=[os.environ["REDIS_URL"]], prefix=prefix)


async def _nothing_more(layer, channel):
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(layer.receive(channel), 0.3)


def _in_other_loop(coro_fn):
    """Run coro_fn() on an event loop of its own in a thread: a process of its own, to the layer
    (each loop gets its own connections and its own origin)."""
    import concurrent.futures

    executor = concurrent.futures.ThreadPoolExecutor(1)
    return executor.submit(asyncio.run, coro_fn())


@requires_redis
def test_redis_layer_delivers_once_in_process_and_across_processes():
    import uuid

    layer = _redis_layer(f"t{uuid.uuid4().hex[:8]}")
    ready = None

    async def remote_member():
        channel = await layer.new_channel()
        await layer.group_add("g", channel)
        ready.set_result(True)
        first = await asyncio.wait_for(layer.receive(channel), 5)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(layer.receive(channel), 0.3)
        return first

    async def scenario():
        nonlocal ready
        import concurrent.futures

        ready = concurrent.futures.Future()
        a, b = await layer.new_channel(), await layer.new_channel()
        await layer.group_add("g", a)
        await layer.group_add("g", b)
        remote = _in_other_loop(remote_member)
        await asyncio.wrap_future(ready)
        await layer.group_send("g", {"type": "chat.event", "n": 1})
        assert (
            (await layer.receive(a)) == (await layer.receive(b)) == {"type": "chat.event", "n": 1}
        )
        await _nothing_more(layer, a)  # Redis echoes our own publication: dropped, not doubled
        assert (await asyncio.wrap_future(remote)) == {"type": "chat.event", "n": 1}

    run(scenario())


@requires_redis
def test_redis_layer_sends_to_a_channel_in_another_process():
    import uuid

    layer = _redis_layer(f"t{uuid.uuid4().hex[:8]}")

    async def scenario():
        mailbox = await layer.new_channel("tools.")

        async def worker():  # a Celery worker reporting a tool result
            await layer.send(mailbox, {"type": "tool.run.done", "run_id": 7})

        await asyncio.wrap_future(_in_other_loop(worker))
        assert (await asyncio.wait_for(layer.receive(mailbox), 5))["run_id"] == 7

    run(scenario())


@requires_redis
def test_redis_layer_publishes_deltas_once_another_process_joins_the_group():
    import concurrent.futures
    import uuid

    layer = _redis_layer(f"t{uuid.uuid4().hex[:8]}")
    joined, got = concurrent.futures.Future(), concurrent.futures.Future()
    delta = {"type": "chat.event", "n": 2, REMOTE_IF_WATCHED: True}

    async def remote_member():  # joins after this process found itself alone in the group
        channel = await layer.new_channel()
        await layer.group_add("g", channel)
        joined.set_result(True)
        got.set_result(await asyncio.wait_for(layer.receive(channel), 5))

    async def scenario():
        local = await layer.new_channel()
        await layer.group_add("g", local)
        await layer.group_send("g", {"type": "chat.event", "n": 1})  # nobody else listens
        assert (await layer.receive(local))["n"] == 1
        remote = _in_other_loop(remote_member)
        await asyncio.wrap_future(joined)
        await asyncio.sleep(0.3)  # its notice on the control channel reaches this process
        await layer.group_send("g", delta)
        assert (await layer.receive(local)) == delta
        assert (await asyncio.wrap_future(got)) == delta
        await asyncio.wrap_future(remote)

    run(scenario())


@requires_redis
def test_redis_layer_keeps_deltas_in_process_while_no_other_process_watches():
    import os
    import uuid

    import redis.asyncio

    prefix = f"t{uuid.uuid4().hex[:8]}"
    layer = _redis_layer(prefix)

    async def scenario():
        local = await layer.new_channel()
        await layer.group_add("g", local)
        await layer.group_send("g", {"type": "chat.event", "n": 1})  # alone: counted
        # A bare Redis subscriber that never announces itself: it hears what is published.
        client = redis.asyncio.Redis.from_url(os.environ["REDIS_URL"])
        pubsub = client.pubsub()
        await pubsub.subscribe(f"{prefix}__group__g")
        await pubsub.get_message(timeout=1)  # the subscription's confirmation
        await layer.group_send("g", {"type": "chat.event", "n": 2, REMOTE_IF_WATCHED: True})
        await layer.group_send("g", {"type": "chat.event", "n": 3})
        heard = []
        while len(heard) < 1:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=2)
            assert message is not None
            heard.append(layer.deserialize(message["data"][8:]))
        assert heard == [{"type": "chat.event", "n": 3}]  # the delta stayed in this process
        assert [(await layer.receive(local))["n"] for _ in range(3)] == [1, 2, 3]
        await pubsub.aclose()
        await client.aclose()

    run(scenario())


# --- Direct receivers: a socket of this process takes its group messages at once.


async def _direct_scenario(layer):
    """A direct receiver takes chat events at once and declines the rest (they queue)."""
    taken = []
    a, b = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("g", a)
    await layer.group_add("g", b)
    direct_receiver_add(a, lambda m: m["type"] == "chat.event" and not taken.append(m))
    try:
        event = {"type": "chat.event", "frame": '{"type":"x"}'}
        await layer.group_send("g", event)
        assert taken == [event]  # delivered during group_send: no queue, no task switch
        assert (await layer.receive(b)) == event  # a plain member still reads its queue
        await layer.group_send("g", {"type": "chat.stop"})  # declined: it queues as before
        # The first thing on a's queue: the event never went there.
        assert (await asyncio.wait_for(layer.receive(a), 5)) == {"type": "chat.stop"}
        assert len(taken) == 1
    finally:
        direct_receiver_remove(a)
    await layer.group_send("g", {"type": "chat.event", "n": 2})
    assert (await asyncio.wait_for(layer.receive(a), 5))["n"] == 2 and len(taken) == 1


def test_in_memory_layer_hands_messages_to_direct_receivers():
    run(_direct_scenario(FastInMemoryChannelLayer()))


@requires_redis
def test_redis_layer_hands_messages_to_direct_receivers_and_publishes_for_other_processes():
    import concurrent.futures
    import uuid

    layer = _redis_layer(f"t{uuid.uuid4().hex[:8]}")
    ready = concurrent.futures.Future()

    async def remote_member():
        channel = await layer.new_channel()
        await layer.group_add("g", channel)
        ready.set_result(True)
        return await asyncio.wait_for(layer.receive(channel), 5)

    async def scenario():
        remote = _in_other_loop(remote_member)
        await asyncio.wrap_future(ready)
        await _direct_scenario(layer)
        # The other process got the first event through Redis, frame included.
        assert (await asyncio.wrap_future(remote)) == {
            "type": "chat.event",
            "frame": '{"type":"x"}',
        }

    run(scenario())
