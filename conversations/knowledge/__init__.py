"""What a bot knows besides orders: searching its FAQ (used by the tools, the API and the admin).

Ranking is BM25 over each entry's question, alternative phrasings, answer and tags, with
stemming and store synonyms; it runs in Python so it behaves the same on SQLite and
PostgreSQL. See README.md ("FAQ search") for how it was chosen and its measured recall.
"""

from conversations.knowledge.search import (
    FaqMatch,
    FaqSearchResult,
    faq_index,
    faq_index_forget,
    faq_search,
    faq_search_index,
)

__all__ = [
    "FaqMatch",
    "FaqSearchResult",
    "faq_index",
    "faq_index_forget",
    "faq_search",
    "faq_search_index",
]
