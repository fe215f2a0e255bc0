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

A group message marked `REMOTE_IF_WATCHED` (a reply's deltas: the done frame carries the whole
text) is published to Redis only while another process has a member in the group; see
LocalFirstRedisLayer.
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
# Groups whose other-process watchers the Redis layer remembers, at most (a dict entry each).
MAX_GROUPS_REMEMBERED = 100_000
# A message key: publish this group message for other processes only while one of them watches
# the group. Nothing is lost to a socket that joins meanwhile beyond what a late joiner already
# misses: it replays the reply's last checkpoint, and the done frame carries the whole text.
REMOTE_IF_WATCHED = "remote_if_watched"

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

    Most groups have members in one process only (a reply runs where its customer's socket is),
    so a reply's deltas (`REMOTE_IF_WATCHED`) are published only to groups another process
    watches: each PUBLISH of any other message returns how many processes listen, and a process
    whose first member joins a group says so on a control channel that every process hears, so
    a process that believed itself alone learns at once. Without that, every delta frame cost a
    serialize, a PUBLISH and the read of its own echo: a fifth of the product's CPU per reply.
    """

    def _get_layer(self):
        loop = asyncio.get_running_loop()
        layer = self._layers.get(loop)
        if layer is None:
            layer = _LocalFirstLoopLayer(*self._args, **self._kwargs, channel_layer=self)
            self._layers[loop] = layer
            _wrap_close(self, loop)
        return layer

    async def group_send(self, group, message):
        # Channels_redis reaches the loop's layer through __getattr__, a partial and a proxy
        # coroutine on every call; a reply sends a frame every 40 ms.
        await self._get_layer().group_send(group, message)

    def deserialize(self, message):
        if isinstance(message, _Local):
            return message.message
        return super().deserialize(message)


class _LocalFirstLoopLayer(RedisPubSubLoopLayer):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.origin = os.urandom(8)
        self._shards = [_Shard(shard.host, self) for shard in self._shards]
        self.watch_channel = f"{self.prefix}__watch__"
        # Group channel -> whether another process had a member at the last look. Unknown
        # groups are published to; a notice from a joining process sets True.
        self._remote: dict[str, bool] = {}
        # Group channel -> notices heard: a PUBLISH's count older than a notice is stale.
        self._notices: dict[str, int] = {}

    async def _publish(self, name: str, message: dict) -> int:
        data = self.origin + self.channel_layer.serialize(message)
        return await self._get_shard(name).publish_pipelined(name, data)

    async def _watching_start(self) -> None:
        """Hear other processes' notices before trusting that nobody else watches a group."""
        shard = self._get_shard(self.watch_channel)
        if self.watch_channel not in shard._subscribed_to:
            await shard.subscribe(self.watch_channel)

    def watch_notice(self, group_channel: str) -> None:
        """Another process has a member in `group_channel` now."""
        self._remote[group_channel] = True
        self._notices[group_channel] = self._notices.get(group_channel, 0) + 1

    async def send(self, channel, message):
        queue = self.channels.get(channel)
        if queue is not None:
            queue.put_nowait(_Local(dict(message)))
            return
        await self._publish(channel, message)

    async def group_add(self, group, channel):
        await self._watching_start()
        group_channel = self._get_group_channel_name(group)
        first = not self.groups.get(group_channel)
        await super().group_add(group, channel)
        if first:  # subscribed: tell the processes publishing to this group
            shard = self._get_shard(self.watch_channel)
            await shard.publish_pipelined(self.watch_channel, self.origin + group_channel.encode())

    async def group_send(self, group, message):
        group_channel = self._get_group_channel_name(group)
        for name in list(self.groups.get(group_channel, ())):
            if _direct(name, message):
                continue
            queue = self.channels.get(name)
            if queue is not None:
                queue.put_nowait(_Local(dict(message)))
        if message.get(REMOTE_IF_WATCHED) and self._remote.get(group_channel) is False:
            return
        await self._watching_start()
        notices = self._notices.get(group_channel, 0)
        listeners = await self._publish(group_channel, message)
        if self._notices.get(group_channel, 0) == notices:
            # Our own subscription (a member here) hears it too; a process's subscribe is
            # sent before its notice, so one that joined meanwhile is counted or notified.
            shard = self._get_shard(group_channel)
            own = 1 if group_channel in shard._subscribed_to else 0
            self._remote[group_channel] = listeners > own
            if len(self._remote) > MAX_GROUPS_REMEMBERED:
                self._remote.clear()  # forgotten groups are published to until looked at again
                self._notices.clear()


class _Shard(RedisSingleShardConnection):
    def __init__(self, host, channel_layer) -> None:
        super().__init__(host, channel_layer)
        self._pending: list[tuple[str, bytes, asyncio.Future]] = []
        self._sending: asyncio.Task | None = None

    async def publish_pipelined(self, channel: str, data: bytes) -> int:
        """PUBLISH, sharing a pipeline with whatever else is waiting to go out: the receivers."""
        done = asyncio.get_running_loop().create_future()
        self._pending.append((channel, data, done))
        if self._sending is None or self._sending.done():
            self._sending = asyncio.ensure_future(self._send_pending())
        return await done

    async def _send_pending(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                async with self._lock:
                    self._ensure_redis()
                    async with self._redis.pipeline(transaction=False) as pipe:
                        for channel, data, _ in batch:
                            pipe.publish(channel, data)
                        receivers = await pipe.execute()
            except Exception as error:
                for _, _, done in batch:
                    if not done.done():
                        done.set_exception(error)
                continue
            for (_, _, done), count in zip(batch, receivers, strict=True):
                if not done.done():
                    done.set_result(count)

    def _receive_message(self, message):
        if message is None:
            return
        data = message["data"]
        if isinstance(data, bytes):
            if data[:8] == self.channel_layer.origin:
                return  # ours, already delivered in this process
            name = message["channel"]
            if (name.decode() if isinstance(name, bytes) else name) == (
                self.channel_layer.watch_channel
            ):
                self.channel_layer.watch_notice(data[8:].decode())
                return
            message = {**message, "data": data[8:]}
        super()._receive_message(message)
