"""Answering from articles: the knowledge tool's passages beside its FAQ entries, the sources a
reply cites, and the offline engine's answer (the best passage, trimmed to what was asked).
"""

import json
import re
from typing import Any

from conversations.knowledge.passage_search import PassageMatch, passage_search
from conversations.knowledge.search import FaqMatch, FaqSearchResult
from conversations.knowledge.text import terms

# The tool result stays well under SUPPORTBOT_TOOL_RESULT_MAX_BYTES with its FAQ entries.
PASSAGE_CHARS = 1500
PASSAGES_BYTES = 5000
REPLY_SENTENCES = 3
# A match holding more than this share of the question's words answers it.
GROUNDED = 0.5
CLOSE_SHARE = 0.75

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])|\n+")


def knowledge_result(
    *, bot_id: int, question: str, faq: FaqSearchResult
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The knowledge tool's data and sources: FAQ entries and article passages together.

    `best` says which the reply should rest on ("faq" or "passage"); the sources are in that
    order, so a reply that quotes one match cites the right one.
    """
    passages = passage_search(bot_id=bot_id, question=question, limit=3)
    found = [] if passages.no_good_match else passages.matches
    entries = [] if faq.no_good_match else faq.matches
    faq_covered = _covered(question, entries[0]) if entries else 0.0
    passage_covered = _covered(question, found[0]) if found else 0.0
    # The one that holds more of what was asked; on a tie the passage, which says more.
    best = "faq" if entries else "passage"
    if found and entries and passage_covered >= faq_covered:
        best = "passage"
    shown: list[dict[str, Any]] = []
    budget = PASSAGES_BYTES
    for match in found:
        item = match.to_dict()
        item["text"] = item["text"][:PASSAGE_CHARS]
        size = len(json.dumps(item, ensure_ascii=False).encode())
        if size > budget and shown:
            break
        shown.append(item)
        budget -= size
    faq_sources = [{"id": m.id, "title": m.question} for m in entries]
    passage_sources: list[dict[str, Any]] = []
    for match in found[: len(shown)]:
        source = match.source()
        if source not in passage_sources:
            passage_sources.append(source)
    sources = passage_sources + faq_sources if best == "passage" else faq_sources + passage_sources
    data = {
        "matches": [m.to_dict() for m in entries],
        "passages": shown,
        "best": best if (entries or found) else "",
        "no_good_match": not (entries or found),
        "ambiguous": faq.ambiguous and best == "faq",
    }
    return data, sources


def _covered(question: str, match: FaqMatch | PassageMatch) -> float:
    """The share of the question's words the match contains: which of two answers it better."""
    wanted = set(terms(question))
    if not wanted:
        return 0.0
    if isinstance(match, FaqMatch):
        text = f"{match.question} {match.answer}"
    else:
        text = f"{match.title} {match.heading} {match.text}"
    return len(wanted & set(terms(text))) / len(wanted)


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if s.strip()]


def passage_excerpt(*, question: str, text: str, limit: int = REPLY_SENTENCES) -> str:
    """The passage's sentences that share most words with the question, in their order."""
    sentences = _sentences(text)
    wanted = set(terms(question))
    scored = [(len(wanted & set(terms(s))), n) for n, s in enumerate(sentences)]
    top = max((score for score, _ in scored), default=0)
    # The sentences nearly as close to the question as the closest one, not every mention.
    close = [item for item in scored if item[0] and item[0] >= top * CLOSE_SHARE]
    best = sorted(close, key=lambda item: (-item[0], item[1]))
    keep = sorted(n for _, n in best[:limit]) or list(range(min(2, len(sentences))))
    lines: list[str] = []
    for n in keep:
        sentence = sentences[n]
        # A list item reads better after the line that introduces it.
        if sentence.startswith("- ") and n and n - 1 not in keep and sentences[n - 1].endswith(":"):
            lines.append(sentences[n - 1])
        lines.append(sentence)
    return "\n".join(lines)


def passage_reply(*, question: str, data: dict[str, Any]) -> str:
    """The offline engine's answer from the best passage, or "" when there is none."""
    passages = data.get("passages") or []
    if not passages:
        return ""
    best = passages[0]
    excerpt = passage_excerpt(question=question, text=str(best.get("text", "")))
    where = str(best.get("title", ""))
    if best.get("heading"):
        where += f", {best['heading']}"
    return f'{excerpt}\n\n(From "{where}".)' if where else excerpt


def knowledge_answers(*, bot_id: int, question: str) -> bool:
    """Whether the FAQ or the articles hold a good answer: a match that covers most of it."""
    from conversations.knowledge.search import faq_search

    faq = faq_search(bot_id=bot_id, question=question, limit=3)
    data, _ = knowledge_result(bot_id=bot_id, question=question, faq=faq)
    if data["no_good_match"]:
        return False
    best = (data["passages"] if data["best"] == "passage" else data["matches"])[0]
    text = " ".join(
        str(best.get(k, "")) for k in ("question", "answer", "title", "heading", "text")
    )
    wanted = set(terms(question))
    return bool(wanted) and len(wanted & set(terms(text))) / len(wanted) > GROUNDED
