"""The handoff tool: a person takes over, and the bot stops answering."""

from typing import Annotated

from pydantic import Field

from conversations.domain.errors import DomainError
from conversations.domain.status import handoff_request
from conversations.tools.registry import (
    Length,
    Tool,
    ToolArguments,
    ToolContext,
    ToolResult,
    tool_register,
)


class HandoffArguments(ToolArguments):
    summary: Annotated[
        str,
        Length(1, 1000),
        Field(description="One or two sentences: who the customer is and what they need."),
    ]


def handoff_to_human(*, context: ToolContext, summary: str) -> ToolResult:
    """Put the conversation in the agents' queue with a short summary for them."""
    try:
        conversation = handoff_request(
            conversation_id=context.conversation_id, summary=summary, requested_by="bot"
        )
    except DomainError as exc:
        return ToolResult(data={"error": exc.code, "message": exc.message})
    return ToolResult(data={"status": conversation.status})


tool_register(
    Tool(
        name="handoff_to_human",
        description=(
            "Hand the conversation to a human agent when the customer asks for one, when you "
            "cannot help, or after repeated failed order checks. Write a short summary for the "
            "agent. After this the bot stops answering."
        ),
        arguments=HandoffArguments,
        function=handoff_to_human,
        label="Connecting you with a person…",
        done_label="Asked a person to join",
    )
)
