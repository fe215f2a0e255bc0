"""The in-memory channel layer (one process, no Redis), without its per-message full sweep.

Channels' InMemoryChannelLayer sweeps every channel and every group membership for expired
entries on each send to a group and on each receive: with a thousand sockets streaming, every
delta frame walked thousands of entries twice, so the cost of a frame grew with the number of
open sockets. Here the sweep runs at most once a second (what it removes is at least a minute
old anyway), and a group send puts the message on each member's queue directly instead of
starting a task per member. Messages, capacity, expiry and ChannelFull behave as before.
"""

import contextlib
import time
from copy import deepcopy

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer

SWEEP_SECONDS = 1.0


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
            queue = self.channels.get(channel)
            if queue is None:
                # Same as send(): the queue appears when the first message does.
                with contextlib.suppress(ChannelFull):
                    await self.send(channel, message)
                continue
            if queue.full():
                continue  # a full channel misses group messages, as with Channels' layer
            queue.put_nowait((expires, deepcopy(message)))
