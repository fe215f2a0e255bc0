"""The reply engine: turns a conversation into a streamed assistant reply (contract).

`reply_stream` knows nothing of sockets or HTTP. It yields events from conversations.events:
AssistantStarted, then AssistantDelta / ToolStarted / ToolFinished, then AssistantDone (or
Error). It persists everything itself: the assistant message (state streaming, then complete,
interrupted or failed), tool runs, usage, cost and the conversation's totals. It checks that the
bot owns the conversation before it starts and again before its final write: a human who took
over meanwhile wins (the reply ends interrupted with finish_reason "superseded"). Setting
`cancel` stops generation and keeps the partial text (interrupted, finish_reason "stopped").

This first version is a placeholder that streams a fixed answer; the engine issue replaces it.
"""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from channels.db import database_sync_to_async

from conversations.events import AssistantDelta, AssistantDone, AssistantStarted, Event
from conversations.messages import message_append
from conversations.models import (
    Conversation,
    ConversationStatus,
    Message,
    MessageRole,
    MessageState,
)


async def reply_stream(
    *, conversation_id: Any, cancel: asyncio.Event | None = None
) -> AsyncIterator[Event]:
    conversation = await Conversation.objects.aget(pk=conversation_id)
    if conversation.status != ConversationStatus.BOT:
        return
    message, _ = await database_sync_to_async(message_append)(
        conversation_id=conversation_id,
        role=MessageRole.ASSISTANT,
        state=MessageState.STREAMING,
        engine="offline",
    )
    yield AssistantStarted(
        seq=message.seq, message_id=message.pk, engine="offline", model="offline"
    )
    text = ""
    for word in [
        "Thanks",
        "for",
        "your",
        "message.",
        "A",
        "real",
        "answer",
        "is",
        "on",
        "its",
        "way",
        "soon.",
    ]:
        if cancel is not None and cancel.is_set():
            break
        piece = word + " "
        text += piece
        yield AssistantDelta(seq=message.seq, text=piece)
        await asyncio.sleep(0)
    await Message.objects.filter(pk=message.pk).aupdate(
        text=text.strip(), state=MessageState.COMPLETE, finish_reason="stop"
    )
    yield AssistantDone(
        seq=message.seq,
        message_id=message.pk,
        text=text.strip(),
        state=MessageState.COMPLETE,
        finish_reason="stop",
    )
