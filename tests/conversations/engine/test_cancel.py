"""until_cancelled: a reply's model stream or tool results, stopped when the customer asks."""

import asyncio

import pytest

from conversations.engine.cancel import Stop, until_cancelled


class Source:
    """Yields `items` with `pause` seconds before each; records whether it was closed."""

    def __init__(self, items, pause=0.0):
        self.items, self.pause = items, pause
        self.closed = False

    async def __call__(self):
        try:
            for item in self.items:
                await asyncio.sleep(self.pause)
                yield item
        finally:
            self.closed = True


async def test_items_pass_through_in_order():
    source = Source([1, 2, 3])
    assert [x async for x in until_cancelled(source(), asyncio.Event())] == [1, 2, 3]
    assert source.closed


async def test_stop_interrupts_a_wait_on_the_source():
    source, cancel = Source(["a", "b"], pause=5.0), asyncio.Event()
    got = []

    async def read():
        async for item in until_cancelled(source(), cancel):
            got.append(item)

    reader = asyncio.create_task(read())
    await asyncio.sleep(0.05)
    cancel.set()
    with pytest.raises(Stop) as stop:
        await asyncio.wait_for(reader, 1.0)
    assert stop.value.reason == "stopped" and got == [] and source.closed
    assert not reader.cancelled()


async def test_stop_while_the_caller_is_busy_ends_before_the_next_read():
    source, cancel = Source(["a", "b", "c"]), asyncio.Event()
    got = []
    with pytest.raises(Stop):
        async for item in until_cancelled(source(), cancel):
            got.append(item)
            cancel.set()
            await asyncio.sleep(0.01)  # busy with the item, e.g. publishing it
    assert got == ["a"] and source.closed


async def test_a_cancel_from_outside_stays_a_cancel():
    source, cancel = Source(["a"], pause=5.0), asyncio.Event()

    async def read():
        async for _ in until_cancelled(source(), cancel):
            pass

    reader = asyncio.create_task(read())
    await asyncio.sleep(0.05)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    assert source.closed
