"""Passage vectors: what a passage is embedded from, computed by the indexing task (or, after a
change of embedder, by passage_vectors_refresh on the background queue) and read by the search
index. The embedder and the packing are the FAQ's (embedding.py, index.py). A search never
embeds passages: only the question.

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
# Articles per transaction when vectors are recomputed (after a change of embedder): each
# article's passages change together, so a search never sees half an article re-embedded.
REFRESH_ARTICLES = 50


def passage_vector_text(*, title: str, heading: str, text: str) -> str:
    """The text a passage's vector is computed from: title, heading path, its first words."""
    lead = " ".join(text.split()[:LEAD_WORDS])
    return ". ".join(part for part in (title, heading.replace(" > ", ", "), lead) if part)


def passage_vectors_embed(
    *, passages: Sequence[tuple[str, str, str]], embedder: Embedder | None
) -> list[tuple[bytes, str]]:
    """(packed vector, embedder name) for each (article title, heading, text), embedded in
    one call (the embedder batches them); empty ones when it fails."""
    empty = [(b"", "")] * len(passages)
    if embedder is None or not passages:
        return empty
    texts = [passage_vector_text(title=t, heading=h, text=x) for t, h, x in passages]
    try:
        matrix = embedder.embed(texts)
    except EmbeddingError:
        # The passages are still searched by BM25; the sweep or a search queues them again.
        log.warning("Embedding %d passages failed; stored without vectors", len(passages))
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


def passage_vectors_refresh(*, bot_id: int) -> int:
    """Embed the bot's searched passages that lack current vectors; how many were written.

    A background task's work (never a search's): REFRESH_ARTICLES articles at a time, each
    group's vectors written and its articles' indexed_at moved in one transaction, so every
    process's search index sees whole articles re-embedded.
    """
    embedder = embedder_for()
    if embedder is None:
        return 0
    stale = Passage.objects.filter(
        article__bot_id=bot_id, version=F("article__indexed_version")
    ).exclude(embedding_model=embedder.name)
    article_ids = sorted(set(stale.values_list("article_id", flat=True)))
    written = 0
    for start in range(0, len(article_ids), REFRESH_ARTICLES):
        group = article_ids[start : start + REFRESH_ARTICLES]
        rows = list(
            stale.filter(article_id__in=group)
            .order_by("article_id", "position")
            .values_list("pk", "article__title", "heading", "text")
        )
        vectors = passage_vectors_embed(passages=[row[1:] for row in rows], embedder=embedder)
        if not any(model for _, model in vectors):
            raise EmbeddingError(f"embedding the passages of bot {bot_id} failed")
        with transaction.atomic():
            for (pk, *_), (data, model) in zip(rows, vectors, strict=True):
                Passage.objects.filter(pk=pk).update(embedding=data, embedding_model=model)
            Article.objects.filter(pk__in=group).update(indexed_at=timezone.now())
        written += len(rows)
    if written:
        log.info("passage vectors: %d of bot %s embedded with %s", written, bot_id, embedder.name)
    return written
