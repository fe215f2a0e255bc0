"""The FAQ tool: the best answers for a question with their confidence, citable by id and title."""

from typing import Annotated

from pydantic import Field

from conversations.knowledge import faq_search
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
    matches = [] if result.no_good_match else [m.to_dict() for m in result.matches]
    return ToolResult(
        data={
            "matches": matches,
            "no_good_match": result.no_good_match,
            "ambiguous": result.ambiguous,
        },
        sources=[{"id": m["id"], "title": m["question"]} for m in matches],
    )


tool_register(
    Tool(
        name="search_faq",
        description=(
            "Search the store's help center (shipping, returns, refunds, payments, accounts, "
            "sizing, warranty, order changes). Returns the top matches, each with a confidence. "
            "Answer only from them and cite the one you used; if no_good_match is true, say you "
            "don't know and offer a human agent; if ambiguous is true, ask which one is meant."
        ),
        arguments=SearchArguments,
        function=search_faq,
        label="Searching the help center…",
        done_label="Searched the help center",
    )
)
