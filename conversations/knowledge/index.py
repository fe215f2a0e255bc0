"""Stored vectors and the in-process dense index they are searched with (numpy).

A row owns several vectors (an FAQ entry: its question and each alternative phrasing); a
search scores every vector and keeps each owner's best. Vectors are packed as float32 bytes
in the row itself, beside the embedder's name and the hash of the text they came from, so a
stale or foreign vector is recomputed rather than trusted.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from django.db import transaction

from conversations.knowledge.embedding import Embedder, content_hash, embedder_for
from conversations.models import FaqEntry

log = logging.getLogger(__name__)


def vectors_pack(matrix: np.ndarray) -> bytes:
    return np.ascontiguousarray(matrix, dtype="<f4").tobytes()


def vectors_unpack(data: bytes, *, rows: int) -> np.ndarray:
    """The (rows, dim) matrix packed by vectors_pack."""
    flat = np.frombuffer(bytes(data), dtype="<f4")
    if rows <= 0 or flat.size % rows:
        raise ValueError(f"{flat.size} floats do not split into {rows} rows")
    return flat.reshape(rows, flat.size // rows).astype(np.float32)


def texts_hash(texts: Sequence[str]) -> str:
    return content_hash("\x1f".join(texts))


@dataclass(frozen=True, slots=True)
class DenseHit:
    owner: int
    score: float  # cosine of the owner's best vector
    row: int  # which of the owner's vectors it was


class VectorIndex:
    """Owners' vectors in one matrix; search is one matrix-vector product."""

    def __init__(self, owners: Sequence[int], blocks: Sequence[np.ndarray]) -> None:
        self.owners = list(owners)
        dims = {block.shape[1] for block in blocks if len(block)}
        if len(dims) > 1:
            raise ValueError(f"vectors of different sizes in one index: {sorted(dims)}")
        self.dim = dims.pop() if dims else 0
        self.matrix = (
            np.vstack([b for b in blocks if len(b)]).astype(np.float32)
            if self.dim
            else np.zeros((0, 0), dtype=np.float32)
        )
        owner_of_row: list[int] = []
        row_in_owner: list[int] = []
        for position, block in enumerate(blocks):
            owner_of_row += [position] * len(block)
            row_in_owner += list(range(len(block)))
        self._owner_of_row = np.array(owner_of_row, dtype=np.int64)
        self._row_counts = np.array([len(block) for block in blocks], dtype=np.int64)
        self._row_starts = np.concatenate([[0], np.cumsum(self._row_counts)[:-1]]).astype(np.int64)
        self._row_in_owner = np.array(row_in_owner, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.owners)

    def owner_scores(self, query: np.ndarray) -> np.ndarray:
        """Each owner's best cosine with the (normalised) query vector, by owner position."""
        best = np.full(len(self.owners), -1.0, dtype=np.float32)
        if not len(self.matrix):
            return best
        scores = self.matrix @ query.astype(np.float32)
        # Rows of an owner are contiguous: reduceat, far faster than maximum.at.
        filled = self._row_starts[self._row_counts > 0]
        best[self._row_counts > 0] = np.maximum.reduceat(scores, filled)
        return best

    def search(self, query: np.ndarray, *, limit: int = 10) -> list[DenseHit]:
        if not len(self.matrix):
            return []
        scores = self.matrix @ query.astype(np.float32)
        order = np.argsort(-scores)
        hits: list[DenseHit] = []
        seen: set[int] = set()
        for row in order:
            position = int(self._owner_of_row[row])
            if position in seen:
                continue
            seen.add(position)
            hits.append(
                DenseHit(self.owners[position], float(scores[row]), int(self._row_in_owner[row]))
            )
            if len(hits) >= limit:
                break
        return hits


def faq_phrasings(*, question: str, alternatives: Sequence[object]) -> list[str]:
    """The texts an FAQ entry's vectors are computed from: its question, then each phrasing."""
    return [question, *(str(a) for a in alternatives if str(a).strip())]


def faq_entry_vectors(entry: FaqEntry, *, embedder: Embedder) -> np.ndarray | None:
    """The entry's stored vectors if they are current for this embedder, else None."""
    texts = faq_phrasings(question=entry.question, alternatives=entry.alternatives or ())
    if (
        not entry.embedding
        or entry.embedding_model != embedder.name
        or entry.embedding_hash != texts_hash(texts)
    ):
        return None
    try:
        return vectors_unpack(entry.embedding, rows=len(texts))
    except ValueError:
        return None


def faq_vectors_refresh(*, bot_id: int, embedder: Embedder | None = None) -> int:
    """Compute and store the vectors of the bot's entries that lack current ones; how many."""
    embedder = embedder or embedder_for()
    if embedder is None:
        return 0
    entries = [
        entry
        for entry in FaqEntry.objects.filter(bot_id=bot_id).only(
            "id", "question", "alternatives", "embedding", "embedding_model", "embedding_hash"
        )
        if faq_entry_vectors(entry, embedder=embedder) is None
    ]
    if not entries:
        return 0
    texts_per_entry = [
        faq_phrasings(question=e.question, alternatives=e.alternatives or ()) for e in entries
    ]
    flat = [text for texts in texts_per_entry for text in texts]
    matrix = embedder.embed(flat)
    start = 0
    for entry, texts in zip(entries, texts_per_entry, strict=True):
        block = matrix[start : start + len(texts)]
        start += len(texts)
        # A queryset update: the vectors are derived data, so updated_at (the search index's
        # version) does not move; the hash says which phrasings they belong to.
        with transaction.atomic():
            FaqEntry.objects.filter(pk=entry.pk, question=entry.question).update(
                embedding=vectors_pack(block),
                embedding_model=embedder.name,
                embedding_hash=texts_hash(texts),
            )
    log.info(
        "faq vectors: %d entries of bot %s embedded with %s", len(entries), bot_id, embedder.name
    )
    return len(entries)


def faq_vectors_refresh_queue(*, bot_id: int) -> None:
    """Refresh the bot's vectors (and refit its router) on the background queue once the
    current transaction commits; many edits in one transaction queue one refresh."""
    from conversations.knowledge.tasks import faq_vectors_refresh_task

    connection = transaction.get_connection()
    # Django empties this list on rollback, so a rolled-back edit leaves nothing behind.
    if any(getattr(entry[1], "faq_bot_id", None) == bot_id for entry in connection.run_on_commit):
        return

    def queue() -> None:
        faq_vectors_refresh_task.delay(bot_id)

    queue.faq_bot_id = bot_id  # type: ignore[attr-defined]
    transaction.on_commit(queue)
