"""The one vocabulary of chat events, serialized once for every transport.

The engine yields these; the websocket sends them as frames, the API as Server-Sent Events
and `manage.py chat --json` as JSON lines, all through `Event.to_dict()`.
"""

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class Event:
    type: ClassVar[str] = "event"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, **asdict(self)}


@dataclass(frozen=True, slots=True)
class MessageAccepted(Event):
    """A customer's message is stored; `seq` orders it in the conversation."""

    type: ClassVar[str] = "message.accepted"
    seq: int
    message_id: int
    client_id: str | None = None
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class MessageCreated(Event):
    """A stored message in full: history replay, other tabs, agent and event messages."""

    type: ClassVar[str] = "message"
    message: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AssistantStarted(Event):
    type: ClassVar[str] = "assistant.started"
    seq: int
    message_id: int
    engine: str
    model: str


@dataclass(frozen=True, slots=True)
class AssistantDelta(Event):
    """More reply text; `offset` (set by the relay) is where it starts in the reply's text."""

    type: ClassVar[str] = "assistant.delta"
    seq: int
    text: str
    offset: int | None = None

    def to_dict(self) -> dict[str, Any]:
        # A frame every 40 ms per reply: dataclasses.asdict's deep copy costs more than the rest.
        return {"type": self.type, "seq": self.seq, "text": self.text, "offset": self.offset}


@dataclass(frozen=True, slots=True)
class ToolStarted(Event):
    type: ClassVar[str] = "tool.started"
    seq: int
    call_id: str
    tool: str
    arguments: dict[str, Any]
    label: str


@dataclass(frozen=True, slots=True)
class ToolFinished(Event):
    type: ClassVar[str] = "tool.finished"
    seq: int
    call_id: str
    tool: str
    status: str
    label: str
    duration_ms: int | None = None
    result: Any = None


@dataclass(frozen=True, slots=True)
class ActionProposed(Event):
    """The bot proposes an order action: the customer's client shows a confirm card.

    Only the customer's answer carrying `action_id` (the `action.decide` frame, or the API)
    carries it out, once; the model cannot.
    """

    type: ClassVar[str] = "action.proposed"
    seq: int
    action_id: str
    action: str  # cancel_order or start_return
    order_number: str
    details: dict[str, Any]
    order: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ActionDecided(Event):
    """The customer answered a confirm card; `status` is done, declined, refused, failed or
    expired, and `order` the order as it is now."""

    type: ClassVar[str] = "action.decided"
    action_id: str
    action: str
    order_number: str
    details: dict[str, Any]
    status: str
    order: dict[str, Any] | None = None
    message: str = ""


@dataclass(frozen=True, slots=True)
class AssistantDone(Event):
    type: ClassVar[str] = "assistant.done"
    seq: int
    message_id: int
    text: str
    state: str
    finish_reason: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: str = "0"
    ttft_ms: int | None = None
    duration_ms: int | None = None
    sources: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class AgentMessage(Event):
    type: ClassVar[str] = "agent.message"
    seq: int
    message_id: int
    text: str
    agent_name: str
    agent_avatar: str = ""


@dataclass(frozen=True, slots=True)
class StatusChanged(Event):
    type: ClassVar[str] = "status.changed"
    status: str
    agent_name: str = ""


@dataclass(frozen=True, slots=True)
class Error(Event):
    """Something went wrong; `message` is for people, `code` for programs."""

    type: ClassVar[str] = "error"
    code: str
    message: str
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class Typing(Event):
    """Someone in the conversation is typing ("customer" or "agent")."""

    type: ClassVar[str] = "typing"
    role: str
    active: bool = True
    agent_name: str = ""


@dataclass(frozen=True, slots=True)
class SessionReady(Event):
    """A socket is authenticated; the missed messages follow, then live events."""

    type: ClassVar[str] = "ready"
    conversation_id: str
    status: str
    last_seq: int
    bot_name: str = ""
    greeting: str = ""
    csat_rating: int | None = None


@dataclass(frozen=True, slots=True)
class AgentQueue(Event):
    """For agents: the conversations waiting for a human, oldest first (a full snapshot)."""

    type: ClassVar[str] = "agent.queue"
    conversations: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class DraftDelta(Event):
    """For the agent who asked: more of the copilot's draft reply (never sent to the customer)."""

    type: ClassVar[str] = "draft.delta"
    text: str


@dataclass(frozen=True, slots=True)
class DraftTool(Event):
    """For the agent who asked: the copilot is looking something up."""

    type: ClassVar[str] = "draft.tool"
    tool: str
    label: str


@dataclass(frozen=True, slots=True)
class DraftDone(Event):
    """For the agent who asked: the whole draft; the agent edits and sends it, or not."""

    type: ClassVar[str] = "draft.done"
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True, slots=True)
class TakeoverSummary(Event):
    """For the agent who just took a conversation over: what happened so far."""

    type: ClassVar[str] = "takeover.summary"
    summary: str
    topic: str = ""
