"""The knowledge tool: the best FAQ entries (with their confidence) and article passages."""

from typing import Annotated

from pydantic import Field

from conversations.knowledge import faq_search
from conversations.knowledge.passage_answers import knowledge_result
from conversations.tools.registry import (
    Length,
    Tool,
    ToolArguments,
    ToolContext,
    ToolResult,
    tool_register,
)


class SearchArguments(ToolArguments):
    question: Annotated[
        str, Length(1, 500), Field(description="The customer's question in their own words.")
    ]


def search_faq(*, context: ToolContext, question: str) -> ToolResult:
    """The top FAQ entries for a question; `no_good_match` when none answers it (then nothing
    is returned or cited, so an "I don't know" never points at a source)."""
    result = faq_search(bot_id=context.bot_id, question=question, limit=3)
    data, sources = knowledge_result(bot_id=context.bot_id, question=question, faq=result)
    return ToolResult(data=data, sources=sources)


tool_register(
    Tool(
        name="search_faq",
        description=(
            "Search the store's help center (shipping, returns, refunds, payments, accounts, "
            "sizing, warranty, order changes): FAQ entries (matches, each with a confidence) and "
            "article passages (passages, with title, heading and url). Answer only from them and "
            "cite what you used: the FAQ question, or the article title and its section "
            "(heading). If no_good_match is true, say you don't know and offer a human agent; if "
            "ambiguous is true, ask which one is meant."
        ),
        arguments=SearchArguments,
        function=search_faq,
        label="Searching the help center…",
        done_label="Searched the help center",
        read_only=True,
    )
)
