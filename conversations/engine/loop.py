"""The reply loop: context, model call, tools, again, until a final answer; all of it stored.

One reply may span several assistant messages: each tool round is an assistant message with
its tool calls, followed by one tool message per result, then the next round's message. Each
assistant message opens with AssistantStarted; one AssistantDone closes the reply (for its
last message), preceded by an Error when a fault is what ended it.

It is the one loop for every model-written text: the bot's reply to the customer and the
copilot's draft for an agent run the same rounds, tools and leak guard; the output
(outputs.py: CustomerReply or AgentDraft) decides what is stored and which events leave.

Only the loop lives here: the assistant row's lifecycle (open, checkpoints, final write) is
persistence.py's, fitting the history to the budget and summarising is context.py's, and a
cached answer's replay is cache.py's.
"""

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings

from conversations import tools as tool_registry
from conversations.database import database_call
from conversations.domain.budget import bot_budget_exceeded
from conversations.domain.errors import DomainError
from conversations.domain.events import (
    ActionProposed,
    AssistantDelta,
    AssistantDone,
    AssistantStarted,
    Error,
    Event,
    ToolFinished,
    ToolStarted,
)
from conversations.domain.messages import message_text_check
from conversations.domain.text import text_storable
from conversations.engine import cache as reply_cache
from conversations.engine.backends import (
    Backend,
    Finish,
    ModelRequest,
    RefusalDelta,
    TextDelta,
    Usage,
    backend_for,
)
from conversations.engine.cancel import Stop, until_cancelled
from conversations.engine.context import History, context_budget, context_fit, context_tokens
from conversations.engine.faults import (
    ContextTooLong,
    ModelFault,
    customer_message,
    fault_classify,
    stream_with_retries,
)
from conversations.engine.outputs import CustomerReply, Output
from conversations.engine.persistence import Row
from conversations.engine.safety import LeakGuard, leak_guard_for
from conversations.models import MessageState, ToolRunStatus
from conversations.tools import ToolOutcome, call_arguments
from conversations.tools.actions import proposal_card

logger = logging.getLogger(__name__)

# A reply longer than max_output_tokens times this many characters did not come from a model
# keeping to its limit (no token is this long): it is cut there, and ends interrupted.
REPLY_CHARS_PER_TOKEN = 16


@dataclass(slots=True)
class _Reply:
    conversation_id: Any
    history: History
    backend: Backend
    engine: str
    model: str
    tools: list[dict[str, Any]]
    cancel: asyncio.Event | None
    cache_key: reply_cache.CacheQuestion | None
    output: Output
    started: float = field(default_factory=time.monotonic)
    allow_waiting: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cost: Decimal = Decimal(0)
    ttft_ms: int | None = None
    sources: list[dict[str, Any]] = field(default_factory=list)
    tools_used: list[str] = field(default_factory=list)
    outcomes_ok: bool = True
    budget: int = 0
    guard: LeakGuard | None = None

    def _ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)

    async def _row_close(
        self, row: Row, *, state: str, finish_reason: str, data: dict[str, Any] | None = None
    ) -> tuple[str, str]:
        fields: dict[str, Any] = {"duration_ms": self._ms()}
        if data:
            fields["data"] = data
        if finish_reason != "tool_calls":
            fields["sources"] = self.sources
        state, finish_reason, cost = await self.output.row_close(
            row,
            conversation_id=self.conversation_id,
            model=self.model,
            allow_waiting=self.allow_waiting,
            state=state,
            finish_reason=finish_reason,
            **fields,
        )
        self.prompt_tokens += row.usage.prompt_tokens
        self.completion_tokens += row.usage.completion_tokens
        self.cached_tokens += row.usage.cached_tokens
        self.cost += cost
        return state, finish_reason

    def _started(self, row: Row) -> list[Event]:
        """AssistantStarted for a message about to show something (once per message).

        A message that only carries tool calls is never announced, so no empty bubble shows
        while the tools run: the customer sees the tool status lines, then the answer.
        """
        if row.announced:
            return []
        row.announced = True
        return [
            AssistantStarted(seq=row.seq, message_id=row.id, engine=self.engine, model=self.model)
        ]

    def _finish(self, row: Row, state: str, finish_reason: str) -> list[Event]:
        return [*self._started(row), self._done(row, state, finish_reason)]

    def _done(self, row: Row, state: str, finish_reason: str) -> AssistantDone:
        return AssistantDone(
            seq=row.seq,
            message_id=row.id,
            text=row.text,
            state=state,
            finish_reason=finish_reason,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            cached_tokens=self.cached_tokens,
            cost_usd=f"{self.cost:f}",
            ttft_ms=self.ttft_ms,
            duration_ms=self._ms(),
            sources=self.sources,
        )

    async def _end(
        self, row: Row, *, state: str, finish_reason: str, fault: str | None = None
    ) -> AsyncIterator[Event]:
        data = {"error": fault, "notice": customer_message(fault)} if fault else None
        state, finish_reason = await self._row_close(
            row, state=state, finish_reason=finish_reason, data=data
        )
        for event in self._started(row):
            yield event
        if fault and finish_reason != "superseded":
            yield Error(code=fault, message=customer_message(fault), seq=row.seq)
        for event in self._finish(row, state, finish_reason):
            yield event

    # -- one model call ---------------------------------------------------------------------

    async def _call(self, row: Row, round_index: int):
        """Stream one model call into `row`, yielding deltas; sets row.calls/finish_reason."""
        allow_tools = bool(self.tools) and round_index < settings.SUPPORTBOT_MAX_TOOL_ROUNDS
        history = self.history
        request = ModelRequest(
            model=self.model,
            messages=await context_fit(
                history,
                backend=self.backend,
                model=self.model,
                tools=self.tools,
                budget=self.budget,
            ),
            tools=self.tools,
            # After the last allowed round the model must answer with what it has.
            tool_choice="none" if self.tools and not allow_tools else None,
            max_tokens=history.max_output_tokens,
            temperature=history.bot.temperature,
        )
        events = stream_with_retries(
            lambda: self.backend.stream(request),
            retries=settings.OPENAI_MAX_RETRIES,
            backoff=settings.OPENAI_RETRY_BACKOFF,
            first_token_timeout=settings.OPENAI_TIMEOUT,
        )
        try:
            async for event in until_cancelled(events, self.cancel):
                if isinstance(event, TextDelta | RefusalDelta):
                    if not event.text:
                        continue
                    if isinstance(event, RefusalDelta):
                        row.refusal = True
                    if row.ttft_ms is None:
                        row.ttft_ms = self._ms()
                        self.ttft_ms = self.ttft_ms if self.ttft_ms is not None else row.ttft_ms
                    row.text += text_storable(event.text)
                    overflow = len(row.text) > self._text_limit()
                    if overflow:
                        row.text = row.text[: self._text_limit()]
                    sendable, leaked = self._leak_check(row)
                    for started in self._started(row):
                        yield started
                    if sendable:
                        yield AssistantDelta(seq=row.seq, text=sendable)
                    if leaked:
                        raise ModelFault("prompt_leak", "the reply quoted the system prompt")
                    if overflow:
                        raise ModelFault("interrupted", "the reply ran past max_output_tokens")
                    self.output.checkpoint(
                        row, conversation_id=self.conversation_id, allow_waiting=self.allow_waiting
                    )
                elif isinstance(event, Usage):
                    row.usage = event
                elif isinstance(event, Finish):
                    row.finish_reason = event.reason
                    row.calls = tool_registry.calls_bounded(event.tool_calls) if allow_tools else []
                    if self._calls_leak(row.calls):
                        # tool.started shows the client each call's arguments, and they are
                        # stored: a quote there is a quote too. None of the calls runs.
                        row.calls = []
                        raise ModelFault("prompt_leak", "a tool call quoted the system prompt")
        except BaseException:
            # Stopped mid-way: what was held back might begin a quote of the prompt.
            row.text = row.text[: row.sent]
            raise
        if row.sent < len(row.text):  # the reply is complete and quotes nothing: send the rest
            rest, row.sent = row.text[row.sent :], len(row.text)
            yield AssistantDelta(seq=row.seq, text=rest)

    def _calls_leak(self, calls: list[Any]) -> bool:
        """Whether any call's name or arguments quote the system prompt."""
        guard = self.guard
        if guard is None or not guard.sentences:
            return False
        for call in calls:
            shown = json.dumps(call_arguments(call.arguments), ensure_ascii=False)
            if guard.watch().feed(f"{call.name} {shown}")[0] is not None:
                return True
        return False

    def _text_limit(self) -> int:
        return self.history.max_output_tokens * REPLY_CHARS_PER_TOKEN

    def _leak_check(self, row: Row) -> tuple[str, bool]:
        """The text that may be sent now, and whether the reply quoted the prompt (it is cut
        before the quote: the caller sends what is sendable, then ends the reply)."""
        guard = self.guard
        if guard is None or not guard.sentences:
            sendable, row.sent = row.text[row.sent :], len(row.text)
            return sendable, False
        if row.watch is None:
            row.watch = guard.watch()
        leak, safe = row.watch.feed(row.text)
        if leak is not None:
            row.text = row.text[:leak].rstrip()
            safe = min(safe, len(row.text))
        sendable = row.text[row.sent : safe] if safe > row.sent else ""
        row.sent = max(row.sent, safe)
        return sendable, leak is not None

    # -- tools ------------------------------------------------------------------------------

    async def _tools_run(self, row: Row) -> AsyncIterator[Event | ToolOutcome]:
        calls = row.calls
        for call in calls:
            arguments = call_arguments(call.arguments)
            yield ToolStarted(
                seq=row.seq,
                call_id=call.id,
                tool=call.name,
                arguments=arguments,
                label=tool_registry.tool_label(name=call.name, arguments=arguments),
            )
        pending = {call.id: call for call in calls}
        outcomes = tool_registry.tool_calls_execute(
            conversation_id=self.conversation_id, calls=calls, **self.output.tool_runs_owner(row)
        )
        async for outcome in until_cancelled(outcomes, self.cancel):
            if outcome.call_id not in pending:
                continue
            pending.pop(outcome.call_id)
            async for event in self._tool_finished(row, outcome):
                yield event
            proposal = _proposal_event(row, outcome)
            if proposal is not None:
                yield proposal
            yield outcome
        for call in pending.values():  # every call needs a result, or the API refuses
            outcome = ToolOutcome(
                call_id=call.id,
                name=call.name,
                status=ToolRunStatus.FAILED,
                content='{"error": "the tool returned no result"}',
                label="Couldn't finish that",
            )
            async for event in self._tool_finished(row, outcome):
                yield event
            yield outcome

    async def _tool_finished(self, row: Row, outcome: ToolOutcome) -> AsyncIterator[Event]:
        """`tool.finished`, sent while the tool result is stored, which it waits for.

        The frame only reports the ToolRun row, final before the outcome got here; the tool
        message is the next round's history, stored before that round (or anything else)
        starts. A crash in between leaves a final run and no tool message, as a crash just
        before the frame did: recovery ends the reply `lost` and answers the message again
        (domain/recovery.py takes tool rows after a lost reply with or without them).
        """
        stored = asyncio.ensure_future(
            database_call(self.output.tool_result_store)(
                conversation_id=self.conversation_id, outcome=outcome
            )
        )
        try:
            yield self._tool_finished_event(row, outcome)
        finally:
            await stored

    def _tool_finished_event(self, row: Row, outcome: ToolOutcome) -> ToolFinished:
        self.tools_used.append(outcome.name)
        if outcome.status != ToolRunStatus.SUCCEEDED or outcome.data.get("no_good_match"):
            self.outcomes_ok = False
        if outcome.name == "handoff_to_human" and outcome.status == ToolRunStatus.SUCCEEDED:
            self.allow_waiting = True  # the bot may confirm the handoff it just made
        cited = [] if outcome.data.get("no_good_match") else outcome.sources
        if self.engine == "offline":
            # The offline engine quotes the best match only, and none when it asks which one.
            cited = [] if outcome.data.get("ambiguous") else cited[:1]
        for source in cited:
            if source not in self.sources:
                self.sources.append(source)
        return ToolFinished(
            seq=row.seq,
            call_id=outcome.call_id,
            tool=outcome.name,
            status=outcome.status,
            label=outcome.label,
            duration_ms=outcome.duration_ms,
            result=outcome.data,
        )

    # -- the whole reply --------------------------------------------------------------------

    async def run(self, *, row: Row) -> AsyncIterator[Event]:
        """The reply, its first row (an assistant message, or the draft) created by _prepare."""
        self.budget = context_budget(
            model=self.history.model, max_output_tokens=self.history.max_output_tokens
        )
        self.guard = leak_guard_for(self.history.system_prompt) if self.engine == "openai" else None
        round_index, context_retried = 0, False
        while True:
            try:
                async for event in self._call(row, round_index):
                    yield event
            except Stop as stop:
                async for event in self._end(
                    row, state=MessageState.INTERRUPTED, finish_reason=stop.reason
                ):
                    yield event
                return
            except ContextTooLong:
                if not context_retried and not row.text:
                    context_retried = True
                    tokens = context_tokens(self.history, tools=self.tools)
                    self.budget = min(self.budget, int(tokens * 0.6))
                    logger.warning("Context too long for the model; trimming to %d", self.budget)
                    continue
                async for event in self._end(
                    row, state=MessageState.FAILED, finish_reason="error", fault="context_too_long"
                ):
                    yield event
                return
            except Exception as exc:
                fault = fault_classify(exc)
                if fault.code == "internal":
                    logger.exception("The reply to %s failed", self.conversation_id)
                state = MessageState.INTERRUPTED if row.text else MessageState.FAILED
                async for event in self._end(
                    row, state=state, finish_reason="error", fault=fault.code
                ):
                    yield event
                return

            if not row.calls:
                async for event in self._final(row):
                    yield event
                return

            # A tool round: store the calls, run them, feed the results back.
            state, finish_reason = await self._row_close(
                row, state=MessageState.COMPLETE, finish_reason="tool_calls"
            )
            if finish_reason == "superseded":
                for event in self._finish(row, state, finish_reason):
                    yield event
                return
            self.history.extra.append(
                {
                    "role": "assistant",
                    "content": row.text or None,
                    "tool_calls": [
                        {
                            "id": c.id,
                            "type": "function",
                            "function": {"name": c.name, "arguments": c.arguments},
                        }
                        for c in row.calls
                    ],
                }
            )
            try:
                async for item in self._tools_run(row):
                    if isinstance(item, ToolOutcome):
                        self.history.extra.append(
                            {"role": "tool", "tool_call_id": item.call_id, "content": item.content}
                        )
                    else:
                        yield item
            except Stop as stop:
                await self.output.row_interrupt(row, reason=stop.reason)
                for event in self._finish(row, MessageState.INTERRUPTED, stop.reason):
                    yield event
                return
            except Exception:
                # The tools promise outcomes, not exceptions; if one escapes anyway the
                # customer still gets a polite ending, never a stack trace.
                logger.exception("Running tools for %s failed", self.conversation_id)
                for event in self._started(row):
                    yield event
                yield Error(code="internal", message=customer_message("internal"), seq=row.seq)
                for event in self._finish(row, MessageState.COMPLETE, "tool_calls"):
                    yield event
                return
            round_index += 1
            next_row = await self.output.row_next(
                row,
                conversation_id=self.conversation_id,
                engine=self.engine,
                model=self.model,
                allow_waiting=self.allow_waiting,
            )
            if next_row is None:
                for event in self._finish(row, MessageState.INTERRUPTED, "superseded"):
                    yield event
                return
            row = next_row

    async def _final(self, row: Row) -> AsyncIterator[Event]:
        reason = row.finish_reason or "stop"
        if reason == "content_filter":
            async for event in self._end(
                row, state=MessageState.INTERRUPTED, finish_reason=reason, fault="content_filter"
            ):
                yield event
            return
        if row.refusal:
            reason = "refusal"
        if not row.text.strip():
            # Nothing to show (an empty answer, or calls after the last allowed round).
            row.text = self.output.empty_text()
            for started in self._started(row):
                yield started
            if row.text:
                yield AssistantDelta(seq=row.seq, text=row.text)
            reason = "empty"
        state, reason = await self._row_close(
            row, state=MessageState.COMPLETE, finish_reason=reason
        )
        if (
            self.cache_key
            and state == MessageState.COMPLETE
            and reply_cache.reply_cacheable(
                tools_used=self.tools_used, outcomes_ok=self.outcomes_ok, finish_reason=reason
            )
        ):
            await database_call(reply_cache.reply_cache_answer_store)(
                question=self.cache_key,
                customer=self.history.customer,
                text=row.text,
                sources=self.sources,
            )
        for event in self._finish(row, state, reason):
            yield event


def _proposal_event(row: Row, outcome: ToolOutcome) -> ActionProposed | None:
    """The confirm card for an order action the tool recorded (see tools/actions.py)."""
    if outcome.status != ToolRunStatus.SUCCEEDED:
        return None
    return proposal_card(seq=row.seq, data=outcome.data)


@dataclass(slots=True)
class _Prepared:
    """What a reply needs from the database before the model call (see _prepare)."""

    history: History | None = None
    rejected: DomainError | None = None
    cache_key: reply_cache.CacheQuestion | None = None
    hit: dict[str, Any] | None = None
    over_budget: bool = False
    tools: list[dict[str, Any]] = field(default_factory=list)
    row: Row | None = None  # None: not created, or the bot no longer owns the conversation


def _prepare(
    *, conversation_id: Any, engine: str, ask_moderation: bool, output: Output | None = None
) -> _Prepared:
    """The history, input check, cache lookup, budget, tools and assistant row: one round trip.

    Each of these used to be a thread hop of its own; under load every hop waits its turn
    behind other replies' database work, and they all sit before the first token. With
    moderation on, the cache and the row wait until the moderation call has answered
    (_prepare_rest).
    """
    output = output or CustomerReply()
    history = output.history_setup(conversation_id)
    if history is None:
        return _Prepared()
    last = history.last_customer
    if last is not None:
        try:
            # The intake refuses these already; rows written any other way meet the same rule.
            message_text_check(text=last.text, attachments=history.last_customer_images)
        except DomainError as rejected:
            return _Prepared(history=history, rejected=rejected)
    prepared = _Prepared(history=history)
    if not ask_moderation:
        _prepare_rest(prepared, conversation_id=conversation_id, engine=engine, output=output)
    return prepared


def _prepare_rest(
    prepared: _Prepared, *, conversation_id: Any, engine: str, output: Output
) -> None:
    history = prepared.history
    model = _model_for(history, engine)
    if output.uses_cache:
        prepared.cache_key, prepared.hit = reply_cache.cache_lookup(
            history=history, engine=engine, model=model
        )
        if prepared.hit is not None:
            return
    if engine == "openai" and bot_budget_exceeded(bot=history.bot):
        prepared.over_budget = True
        return
    prepared.tools = output.tools_offered(tool_registry.tool_definitions(bot=history.bot))
    prepared.row = output.row_create(
        conversation_id=conversation_id, engine=engine, model=model, tools=prepared.tools
    )


def _model_for(history: History, engine: str) -> str:
    return history.model if engine == "openai" else "offline"


async def reply_stream(
    *, conversation_id: Any, cancel: asyncio.Event | None = None, output: Output | None = None
) -> AsyncIterator[Event]:
    """The events of the bot's reply to a conversation (see conversations/engine/__init__.py).

    `output` is CustomerReply() unless given: AgentDraft(...) writes a copilot draft instead,
    through the same loop, and yields only draft events.
    """
    output = output or CustomerReply()
    events = _reply_events(conversation_id=conversation_id, cancel=cancel, output=output)
    async with contextlib.aclosing(events):
        async for event in events:
            for emitted in output.emit(event):
                yield emitted


async def _reply_events(
    *, conversation_id: Any, cancel: asyncio.Event | None, output: Output
) -> AsyncIterator[Event]:
    engine = settings.SUPPORTBOT_ENGINE
    ask_moderation = engine == "openai" and settings.SUPPORTBOT_MODERATION and output.moderates
    prepared = await database_call(_prepare)(
        conversation_id=conversation_id,
        engine=engine,
        ask_moderation=ask_moderation,
        output=output,
    )
    history = prepared.history
    if history is None:
        return
    last = history.last_customer
    if prepared.rejected is not None:
        rejected = prepared.rejected
        yield Error(code=rejected.code, message=rejected.message, seq=last.seq)
        return
    backend = backend_for(engine)
    model = _model_for(history, engine)
    if ask_moderation:
        flagged = False
        if last is not None:
            try:
                flagged = await backend.moderate(text=last.text)
            except Exception:
                logger.warning("Moderation failed; answering without it", exc_info=True)
        if flagged:
            yield Error(code="moderated", message=customer_message("moderated"), seq=last.seq)
            return
        await database_call(_prepare_rest)(
            prepared, conversation_id=conversation_id, engine=engine, output=output
        )
    if prepared.hit is not None:
        async for event in reply_cache.cached_reply_stream(
            conversation_id=conversation_id, history=history, engine=engine, hit=prepared.hit
        ):
            yield event
        return
    if prepared.over_budget:
        yield await output.over_budget(conversation_id=conversation_id)
        return
    if prepared.row is None:
        return  # someone else took the conversation meanwhile
    reply = _Reply(
        conversation_id=conversation_id,
        history=history,
        backend=backend,
        engine=engine,
        model=model,
        tools=prepared.tools,
        cancel=cancel,
        cache_key=prepared.cache_key,
        output=output,
    )
    async for event in reply.run(row=prepared.row):
        yield event
