import asyncio

import pytest

from supportbot.layers import FastInMemoryChannelLayer


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
