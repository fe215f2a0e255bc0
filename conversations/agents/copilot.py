"""The agent's copilot: a reply draft from the bot's own engine, for the agent to edit and send.

The draft runs the engine's one reply loop (conversations.engine.reply_stream) with the
AgentDraft output: the bot's backend, prompt, history and leak guard, and the one tool path,
each call a ToolRun row of the draft with the tools' context built from the conversation's
customer, so it sees exactly what the bot could. It is never stored as a message and never
reaches the customer: the events go to the agent's socket only, and the agent sends the text
as their own reply. What is the copilot's own is here: its instruction, and which tools it is
offered. Only read-only ones are, and tools/runs.py refuses any other for a draft whatever
the model asks: a draft must not prove orders, hand off or change anything in the store.
"""

from collections.abc import AsyncIterator
from typing import Any

from conversations.domain.events import Event
from conversations.engine import reply_stream
from conversations.engine.outputs import AgentDraft
from conversations.models import MessageState, ReplyDraft
from conversations.tools.registry import tools_all

DRAFT_INSTRUCTION = (
    "A human support agent, {agent}, has taken over this conversation. Draft the next reply "
    "for {agent} to review and send as their own message: write only the message to the "
    "customer, in the customer's language, with the facts the tools give you."
)


def draft_stream(
    *, conversation_id: Any, agent_name: str, agent_id: int | None = None
) -> AsyncIterator[Event]:
    """The draft's events: DraftTool while looking up, DraftDelta as it is written, DraftDone."""
    output = AgentDraft(
        instruction=DRAFT_INSTRUCTION.format(agent=agent_name or "the agent"),
        # Looking things up is all a draft may do: the tools that declare themselves read-only.
        tools=frozenset(tool.name for tool in tools_all() if tool.read_only),
        agent_id=agent_id,
    )
    return reply_stream(conversation_id=conversation_id, output=output)


def drafts_abandon(*, conversation_id: Any, agent_id: int | None) -> int:
    """End the agent's drafts still being written when their console goes (nobody reads on)."""
    return ReplyDraft.objects.filter(
        conversation_id=conversation_id, agent_id=agent_id, state=MessageState.STREAMING
    ).update(state=MessageState.INTERRUPTED, finish_reason="disconnected")
