"""Passage vectors: what a passage is embedded from, computed by the indexing task and read by
the search index. The embedder and the packing are the FAQ's (embedding.py, index.py).

A passage is embedded from its article title, heading path and first words, not its whole
text: that is what a question about it resembles, and a short text keeps indexing cheap
(5,297 passages with MiniLM: docs/knowledge.md, "Size and speed").
"""

import logging
from collections.abc import Sequence

import numpy as np
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from conversations.knowledge.embedding import Embedder, EmbeddingError, embedder_for
from conversations.knowledge.index import vectors_pack, vectors_unpack
from conversations.models import Article, Passage

log = logging.getLogger(__name__)

LEAD_WORDS = 32
# Passages embedded in-process when a search finds them without current vectors (a change of
# embedder, a failed embedding); more wait for passage_vectors_refresh on the background queue.
INLINE_MAX = 200


def passage_vector_text(*, title: str, heading: str, text: str) -> str:
    """The text a passage's vector is computed from: title, heading path, its first words."""
    lead = " ".join(text.split()[:LEAD_WORDS])
    return ". ".join(part for part in (title, heading.replace(" > ", ", "), lead) if part)


def passage_vectors_embed(
    *, title: str, passages: Sequence[tuple[str, str]], embedder: Embedder | None
) -> list[tuple[bytes, str]]:
    """(packed vector, embedder name) for each (heading, text); empty ones when it fails."""
    empty = [(b"", "")] * len(passages)
    if embedder is None or not passages:
        return empty
    texts = [passage_vector_text(title=title, heading=h, text=t) for h, t in passages]
    try:
        matrix = embedder.embed(texts)
    except EmbeddingError:
        # The passages are still searched by BM25; the next search or sweep embeds them.
        log.warning("Embedding the passages of %r failed; stored without vectors", title)
        return empty
    return [(vectors_pack(row[None, :]), embedder.name) for row in matrix]


def passage_vector(data: bytes, model: str, *, embedder: Embedder | None) -> np.ndarray | None:
    """A stored passage vector if it is the current embedder's, else None."""
    if embedder is None or not data or model != embedder.name:
        return None
    try:
        return vectors_unpack(data, rows=1)[0]
    except ValueError:
        return None


def passage_vectors_refresh(*, bot_id: int, limit: int | None = None) -> int:
    """Embed the bot's searched passages that lack current vectors; how many were written.

    The articles' indexed_at moves, so every process's search index sees the new vectors.
    """
    embedder = embedder_for()
    if embedder is None:
        return 0
    rows = list(
        Passage.objects.filter(article__bot_id=bot_id, version=F("article__indexed_version"))
        .exclude(embedding_model=embedder.name)
        .order_by("article_id", "position")
        .values_list("pk", "article_id", "article__title", "heading", "text")[:limit]
    )
    if not rows:
        return 0
    texts = [passage_vector_text(title=t, heading=h, text=x) for _, _, t, h, x in rows]
    matrix = embedder.embed(texts)
    with transaction.atomic():
        for (pk, *_), row in zip(rows, matrix, strict=True):
            Passage.objects.filter(pk=pk).update(
                embedding=vectors_pack(row[None, :]), embedding_model=embedder.name
            )
        Article.objects.filter(pk__in={article_id for _, article_id, *_ in rows}).update(
            indexed_at=timezone.now()
        )
    log.info("passage vectors: %d of bot %s embedded with %s", len(rows), bot_id, embedder.name)
    return len(rows)
