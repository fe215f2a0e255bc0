"""Transcripts as they happened: for the admin's transcript page and for exports (JSON, CSV)."""

import csv
import io
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from django.db.models import QuerySet

from conversations.agents.access import agent_name
from conversations.models import Conversation, Message, MessageRole, ToolRun

EXPORT_BATCH = 200
CSV_COLUMNS = [
    "conversation_id",
    "bot",
    "customer_email",
    "customer_visitor_id",
    "conversation_status",
    "started_at",
    "seq",
    "created_at",
    "role",
    "author",
    "event",
    "text",
    "state",
    "model",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "ttft_ms",
]


def transcript_messages(*, conversation_id: Any) -> list[dict[str, Any]]:
    """The conversation's messages in order, each with its tool runs and images (3 queries)."""
    messages = list(
        Message.objects.filter(conversation_id=conversation_id)
        .select_related("author__agent_profile")
        .prefetch_related("attachments")
        .order_by("seq")
    )
    runs: dict[int, list[ToolRun]] = defaultdict(list)
    # The messages' runs; a copilot draft's (message empty) are no part of the transcript.
    bot_runs = ToolRun.objects.filter(conversation_id=conversation_id, message__isnull=False)
    for run in bot_runs.order_by("created_at", "pk"):
        runs[run.message_id].append(run)
    recorded_calls = {run.call_id for group in runs.values() for run in group}
    entries = []
    for message in messages:
        if message.role == MessageRole.TOOL and message.tool_call_id in recorded_calls:
            continue  # shown with the assistant turn's tool run instead
        entries.append(
            {
                "message": message,
                "author": agent_name(message.author),
                "tool_runs": [_tool_run_view(run) for run in runs.get(message.pk, [])],
                "tool_output": _pretty(message.text) if message.role == MessageRole.TOOL else "",
                "images": [
                    a for a in message.attachments.all() if a.content_type.startswith("image/")
                ],
                "tokens": message.prompt_tokens + message.completion_tokens,
                "event_label": message.event.replace("_", " ").capitalize(),
            }
        )
    return entries


def _tool_run_view(run: ToolRun) -> dict[str, Any]:
    return {
        "run": run,
        "arguments": json.dumps(run.arguments, indent=2, ensure_ascii=False),
        "result": json.dumps(run.result, indent=2, ensure_ascii=False)
        if run.result is not None
        else "",
    }


def _pretty(text: str) -> str:
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def _batches(conversations: QuerySet[Conversation]) -> Iterator[list[Conversation]]:
    """Conversations with their messages attached, a batch at a time (bounded memory)."""
    ids = conversations.order_by("created_at", "pk").values_list("pk", flat=True)
    batch: list[Any] = []
    for pk in ids.iterator(chunk_size=EXPORT_BATCH):
        batch.append(pk)
        if len(batch) == EXPORT_BATCH:
            yield _load(batch)
            batch = []
    if batch:
        yield _load(batch)


def _load(ids: list[Any]) -> list[Conversation]:
    rows = {
        c.pk: c for c in Conversation.objects.filter(pk__in=ids).select_related("bot", "customer")
    }
    by_conversation: dict[Any, list[Message]] = defaultdict(list)
    for message in (
        Message.objects.filter(conversation_id__in=ids)
        .select_related("author__agent_profile")
        .order_by("conversation_id", "seq")
    ):
        by_conversation[message.conversation_id].append(message)
    loaded = []
    for pk in ids:
        conversation = rows[pk]
        conversation.export_messages = by_conversation.get(pk, [])
        loaded.append(conversation)
    return loaded


def _message_export(message: Message) -> dict[str, Any]:
    return {
        "seq": message.seq,
        "created_at": message.created_at.isoformat(),
        "role": message.role,
        "author": agent_name(message.author),
        "event": message.event,
        "text": message.text,
        "state": message.state,
        "model": message.model,
        "prompt_tokens": message.prompt_tokens,
        "completion_tokens": message.completion_tokens,
        "cost_usd": f"{message.cost_usd:f}",
        "ttft_ms": message.ttft_ms,
        "tool_calls": message.tool_calls,
        "data": message.data,
    }


def conversation_export(conversation: Conversation) -> dict[str, Any]:
    return {
        "id": str(conversation.pk),
        "bot": conversation.bot.slug,
        "customer": {
            "email": conversation.customer.email,
            "visitor_id": conversation.customer.visitor_id,
            "name": conversation.customer.name,
        },
        "status": conversation.status,
        "started_at": conversation.created_at.isoformat(),
        "closed_at": conversation.closed_at.isoformat() if conversation.closed_at else None,
        "handoff_requested_at": conversation.handoff_requested_at.isoformat()
        if conversation.handoff_requested_at
        else None,
        "title": conversation.title,
        "summary": conversation.summary,
        "topic": conversation.topic,
        "sentiment": conversation.sentiment,
        "resolved_by_bot": conversation.resolved_by_bot,
        "csat_rating": conversation.csat_rating,
        "csat_comment": conversation.csat_comment,
        "flagged": conversation.flagged,
        "flag_note": conversation.flag_note,
        "prompt_tokens": conversation.prompt_tokens,
        "completion_tokens": conversation.completion_tokens,
        "cost_usd": f"{conversation.cost_usd:f}",
        "messages": [_message_export(m) for m in conversation.export_messages],
    }


def transcripts_json(conversations: QuerySet[Conversation]) -> Iterator[str]:
    """A JSON array of conversations with their messages, produced piece by piece."""
    yield "["
    first = True
    for batch in _batches(conversations):
        for conversation in batch:
            yield ("\n" if first else ",\n") + json.dumps(
                conversation_export(conversation), ensure_ascii=False
            )
            first = False
    yield "\n]\n"


def _cell(value: str) -> str:
    """Text that a spreadsheet would run as a formula is prefixed with a quote."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def transcripts_csv(conversations: QuerySet[Conversation]) -> Iterator[str]:
    """One CSV row per message, with the conversation's columns repeated, piece by piece."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush(rows: Iterable[list[Any]]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(rows)
        return buffer.getvalue()

    yield flush([CSV_COLUMNS])
    for batch in _batches(conversations):
        rows = []
        for conversation in batch:
            for m in conversation.export_messages:
                rows.append(
                    [
                        conversation.pk,
                        conversation.bot.slug,
                        _cell(conversation.customer.email),
                        conversation.customer.visitor_id,
                        conversation.status,
                        conversation.created_at.isoformat(),
                        m.seq,
                        m.created_at.isoformat(),
                        m.role,
                        agent_name(m.author),
                        m.event,
                        _cell(m.text),
                        m.state,
                        m.model,
                        m.prompt_tokens,
                        m.completion_tokens,
                        f"{m.cost_usd:f}",
                        m.ttft_ms,
                    ]
                )
        yield flush(rows)
