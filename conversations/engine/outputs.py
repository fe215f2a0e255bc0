"""Where the one reply loop's work goes: to the customer, or into an agent's draft.

The loop (loop.py) is the same for both: context, model call, tools through the one tool
path, again, with the leak guard on the text. An output decides the rest:

- `CustomerReply`: the bot's reply. Assistant message rows (opened, checkpointed and closed
  under the owner check), tool messages, the reply cache, moderation, and the events the
  customer's socket is sent.
- `AgentDraft`: the copilot's draft for an agent. One ReplyDraft row and never a message, only
  the read-only tools it was offered (tools/runs.py refuses anything else), and only draft
  events (`draft.tool`, `draft.delta`, `draft.done`, `error`) for the console of the agent who
  asked: whatever the loop makes, nothing else passes `emit`.
"""

import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from conversations.database import database_call
from conversations.domain.events import (
    AssistantDelta,
    AssistantDone,
    DraftDelta,
    DraftDone,
    DraftTool,
    Error,
    Event,
    ToolStarted,
)
from conversations.domain.status import handoff_request
from conversations.engine import persistence
from conversations.engine.context import History, history_load
from conversations.engine.faults import customer_message
from conversations.engine.persistence import Row
from conversations.models import Message, MessageState, ReplyDraft
from conversations.tools import ToolOutcome
from conversations.tools.registry import tool_get


class CustomerReply:
    """The bot's reply to the customer: today's behaviour, stored as assistant messages."""

    uses_cache: ClassVar[bool] = True
    moderates: ClassVar[bool] = True

    def history_setup(self, conversation_id: Any) -> History | None:
        """The history, or None when the bot does not own the conversation (sync)."""
        return persistence.reply_setup(conversation_id)

    def tools_offered(self, definitions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return definitions

    def row_create(
        self, *, conversation_id: Any, engine: str, model: str, tools: list[dict[str, Any]]
    ) -> Row | None:
        """The reply's first assistant row (sync); None when someone else took over."""
        message = persistence.assistant_row_create(
            conversation_id=conversation_id, engine=engine, model=model, allow_waiting=False
        )
        return Row.of(message) if message is not None else None

    async def row_next(
        self, row: Row, *, conversation_id: Any, engine: str, model: str, allow_waiting: bool
    ) -> Row | None:
        return await persistence.row_open(
            conversation_id=conversation_id, engine=engine, model=model, allow_waiting=allow_waiting
        )

    def checkpoint(self, row: Row, *, conversation_id: Any, allow_waiting: bool) -> None:
        """Called at every delta; saves now and then, never waits (persistence.row_checkpoint)."""
        persistence.row_checkpoint(
            row, conversation_id=conversation_id, allow_waiting=allow_waiting
        )

    async def row_close(self, row: Row, **fields: Any) -> tuple[str, str, Decimal]:
        return await persistence.row_close(row, **fields)

    async def row_interrupt(self, row: Row, *, reason: str) -> None:
        await database_call(Message.objects.filter(pk=row.id).update)(
            state=MessageState.INTERRUPTED, finish_reason=reason
        )

    def tool_result_store(self, *, conversation_id: Any, outcome: ToolOutcome) -> None:
        """Each result is a `tool` message after the calls' assistant message (sync)."""
        persistence.tool_message_store(conversation_id=conversation_id, outcome=outcome)

    def tool_runs_owner(self, row: Row) -> dict[str, int]:
        return {"message_id": row.id}

    def empty_text(self) -> str:
        """What the customer reads when the model had nothing to say."""
        return customer_message("model_unavailable")

    async def over_budget(self, *, conversation_id: Any) -> Error:
        # Past the bot's daily token budget a person answers instead of the model.
        await database_call(handoff_request)(
            conversation_id=conversation_id,
            summary="The bot's daily token budget is used up.",
            requested_by="bot",
        )
        return Error(code="budget_exhausted", message=customer_message("budget_exhausted"))

    def emit(self, event: Event) -> tuple[Event, ...]:
        return (event,)


DRAFT_FAILED = "The draft could not be written; try again."


@dataclass(slots=True)
class AgentDraft:
    """The copilot's draft for one agent: never a message, never on the customer's socket.

    `instruction` is a system message after the history; `tools` names the tools it may be
    offered, of which only read-only ones are (tools/runs.py enforces both again).
    """

    instruction: str
    tools: frozenset[str]
    agent_id: int | None = None
    failed: bool = False

    uses_cache: ClassVar[bool] = False
    moderates: ClassVar[bool] = False

    def history_setup(self, conversation_id: Any) -> History:
        """The history whoever owns the conversation (an agent, usually), plus the instruction."""
        history = history_load(conversation_id=conversation_id)
        history.extra.append({"role": "system", "content": self.instruction})
        return history

    def tools_offered(self, definitions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        offered = []
        for definition in definitions:
            name = definition["function"]["name"]
            tool = tool_get(name)
            if name in self.tools and tool is not None and tool.read_only:
                offered.append(definition)
        return offered

    def row_create(
        self, *, conversation_id: Any, engine: str, model: str, tools: list[dict[str, Any]]
    ) -> Row:
        draft_id = persistence.draft_row_create(
            conversation_id=conversation_id,
            agent_id=self.agent_id,
            tools=[t["function"]["name"] for t in tools],
        )
        return Row(id=draft_id, seq=0, checkpoint_at=time.monotonic())

    async def row_next(self, row: Row, **_: Any) -> Row:
        """Every round of a draft writes the same row."""
        return Row(id=row.id, seq=row.seq, checkpoint_at=time.monotonic())

    def checkpoint(self, row: Row, **_: Any) -> None:
        """Nothing to save mid-stream: the agent's socket has the text, the row gets it last."""

    async def row_close(
        self,
        row: Row,
        *,
        conversation_id: Any,
        model: str,
        state: str,
        finish_reason: str,
        **_: Any,
    ) -> tuple[str, str, Decimal]:
        cost = persistence.usage_cost(model=model, usage=row.usage)
        await database_call(persistence.draft_row_finish)(
            conversation_id=conversation_id,
            draft_id=row.id,
            usage=row.usage,
            cost=cost,
            text=row.text,
            state=state,
            finish_reason=finish_reason,
        )
        return state, finish_reason, cost

    async def row_interrupt(self, row: Row, *, reason: str) -> None:
        await database_call(ReplyDraft.objects.filter(pk=row.id).update)(
            state=MessageState.INTERRUPTED, finish_reason=reason
        )

    def tool_result_store(self, *, conversation_id: Any, outcome: ToolOutcome) -> None:
        """The draft's ToolRun rows hold the results; nothing joins the conversation."""

    def tool_runs_owner(self, row: Row) -> dict[str, int]:
        return {"draft_id": row.id}

    def empty_text(self) -> str:
        return ""

    async def over_budget(self, *, conversation_id: Any) -> Error:
        return Error(code="budget_exhausted", message="The bot's daily token budget is used up.")

    def emit(self, event: Event) -> tuple[Event, ...]:
        """The loop's events as the agent's console gets them; anything else is dropped."""
        if isinstance(event, AssistantDelta):
            return (DraftDelta(text=event.text),)
        if isinstance(event, ToolStarted):
            return (DraftTool(tool=event.tool, label=event.label),)
        if isinstance(event, Error):
            self.failed = True
            if event.code == "budget_exhausted":
                return (Error(code=event.code, message=event.message),)
            return (Error(code="draft_failed", message=DRAFT_FAILED),)
        if isinstance(event, AssistantDone) and not self.failed:
            return (
                DraftDone(
                    text=event.text,
                    prompt_tokens=event.prompt_tokens,
                    completion_tokens=event.completion_tokens,
                ),
            )
        return ()


Output = CustomerReply | AgentDraft
