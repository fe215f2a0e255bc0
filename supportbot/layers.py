"""The in-memory channel layer (one process, no Redis), without its per-message full sweep.

Channels' InMemoryChannelLayer sweeps every channel and every group membership for expired
entries on each send to a group and on each receive: with a thousand sockets streaming, every
delta frame walked thousands of entries twice, so the cost of a frame grew with the number of
open sockets. Here the sweep runs at most once a second (what it removes is at least a minute
old anyway), and a group send puts the message on each member's queue directly instead of
starting a task per member. Messages, capacity, expiry and ChannelFull behave as before.

Both layers here hand a group message straight to a socket of this process that registered a
direct receiver (`direct_receiver_add`): no copy, no queue, no task switch and no dispatch per
frame. What the receiver declines goes on the channel's queue as before.
"""

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from copy import deepcopy

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer
from channels_redis.pubsub import (
    RedisPubSubChannelLayer,
    RedisPubSubLoopLayer,
    RedisSingleShardConnection,
)
from channels_redis.utils import _wrap_close

SWEEP_SECONDS = 1.0

# Channel name -> a callable taking a group message for that channel now, in this process. It
# returns whether it took the message; it must not change it (every member gets the same dict).
_direct_receivers: dict[str, Callable[[dict], bool]] = {}


def direct_receiver_add(channel: str, receive: Callable[[dict], bool]) -> None:
    """Deliver this process's group messages for `channel` by calling `receive` at once."""
    _direct_receivers[channel] = receive


def direct_receiver_remove(channel: str) -> None:
    _direct_receivers.pop(channel, None)


def _direct(channel: str, message: dict) -> bool:
    receive = _direct_receivers.get(channel)
    return receive is not None and receive(message)


class FastInMemoryChannelLayer(InMemoryChannelLayer):
    _swept_at = 0.0

    def _clean_expired(self) -> None:
        now = time.monotonic()
        if now - self._swept_at < SWEEP_SECONDS:
            return
        self._swept_at = now
        super()._clean_expired()

    async def group_send(self, group: str, message: dict) -> None:
        assert isinstance(message, dict), "Message is not a dict"
        self.require_valid_group_name(group)
        self._clean_expired()
        members = self.groups.get(group)
        if not members:
            return
        expires = time.time() + self.expiry
        for channel in list(members):
            if _direct(channel, message):
                continue
            queue = self.channels.get(channel)
            if queue is None:
                # Same as send(): the queue appears when the first message does.
                with contextlib.suppress(ChannelFull):
                    await self.send(channel, message)
                continue
            if queue.full():
                continue  # a full channel misses group messages, as with Channels' layer
            queue.put_nowait((expires, deepcopy(message)))


class _Local:
    """A message delivered inside this process: never serialized, never sent to Redis."""

    __slots__ = ("message",)

    def __init__(self, message: dict) -> None:
        self.message = message


class LocalFirstRedisLayer(RedisPubSubChannelLayer):
    """Redis pub/sub between processes, direct delivery to the sockets of this one.

    With channels_redis' pub/sub layer every frame to a socket in the same process (nearly all
    of them: a reply runs where its customer's socket is) went to Redis and back: a serialize,
    a PUBLISH awaited one at a time behind a lock, a read and a deserialize. Here a group send
    puts the message straight on the queues of this process's members, and publishes for the
    other processes; this process drops its own publications when Redis echoes them back.
    Concurrent publications share one round trip (a pipeline) instead of queueing for the lock.
    """

    def _get_layer(self):
        loop = asyncio.get_running_loop()
        layer = self._layers.get(loop)
        if layer is None:
            layer = _LocalFirstLoopLayer(*self._args, **self._kwargs, channel_layer=self)
            self._layers[loop] = layer
            _wrap_close(self, loop)
        return layer

    def deserialize(self, message):
        if isinstance(message, _Local):
            return message.message
        return super().deserialize(message)


class _LocalFirstLoopLayer(RedisPubSubLoopLayer):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.origin = os.urandom(8)
        self._shards = [_Shard(shard.host, self) for shard in self._shards]

    async def _publish(self, name: str, message: dict) -> None:
        data = self.origin + self.channel_layer.serialize(message)
        await self._get_shard(name).publish_pipelined(name, data)

    async def send(self, channel, message):
        queue = self.channels.get(channel)
        if queue is not None:
            queue.put_nowait(_Local(dict(message)))
            return
        await self._publish(channel, message)

    async def group_send(self, group, message):
        group_channel = self._get_group_channel_name(group)
        for name in list(self.groups.get(group_channel, ())):
            if _direct(name, message):
                continue
            queue = self.channels.get(name)
            if queue is not None:
                queue.put_nowait(_Local(dict(message)))
        await self._publish(group_channel, message)


class _Shard(RedisSingleShardConnection):
    def __init__(self, host, channel_layer) -> None:
        super().__init__(host, channel_layer)
        self._pending: list[tuple[str, bytes, asyncio.Future]] = []
        self._sending: asyncio.Task | None = None

    async def publish_pipelined(self, channel: str, data: bytes) -> None:
        """PUBLISH, sharing a pipeline with whatever else is waiting to go out."""
        done = asyncio.get_running_loop().create_future()
        self._pending.append((channel, data, done))
        if self._sending is None or self._sending.done():
            self._sending = asyncio.ensure_future(self._send_pending())
        await done

    async def _send_pending(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                async with self._lock:
                    self._ensure_redis()
                    async with self._redis.pipeline(transaction=False) as pipe:
                        for channel, data, _ in batch:
                            pipe.publish(channel, data)
                        await pipe.execute()
            except Exception as error:
                for _, _, done in batch:
                    if not done.done():
                        done.set_exception(error)
                continue
            for _, _, done in batch:
                if not done.done():
                    done.set_result(None)

    def _receive_message(self, message):
        if message is None:
            return
        data = message["data"]
        if isinstance(data, bytes):
            if data[:8] == self.channel_layer.origin:
                return  # ours, already delivered in this process
            message = {**message, "data": data[8:]}
        super()._receive_message(message)
