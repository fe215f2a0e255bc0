"""The knowledge tool: the best FAQ entries and article passages for a question, citable."""

from conversations.knowledge import faq_search
from conversations.knowledge.passage_answers import knowledge_result
from conversations.tools.registry import Tool, ToolContext, ToolResult, object_schema, tool_register


def search_faq(*, context: ToolContext, question: str) -> ToolResult:
    """The top FAQ entries for a question; `no_good_match` when none answers it."""
    result = faq_search(bot_id=context.bot_id, question=question, limit=3)
    data, sources = knowledge_result(bot_id=context.bot_id, question=question, faq=result)
    return ToolResult(data=data, sources=sources)


tool_register(
    Tool(
        name="search_faq",
        description=(
            "Search the store's help center (shipping, returns, refunds, payments, accounts, "
            "sizing, warranty, order changes): FAQ entries (matches) and article passages "
            "(passages, with title, heading and url). Answer only from them and cite what you "
            "used: the FAQ question, or the article title and its section (heading). If "
            "no_good_match is true, say you don't know and offer a human agent."
        ),
        parameters=object_schema(
            {
                "question": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 500,
                    "description": "The customer's question in their own words.",
                }
            }
        ),
        function=search_faq,
        label="Searching the help center…",
        done_label="Searched the help center",
    )
)
