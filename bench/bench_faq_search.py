"""FAQ search, measured: recall@1, recall@3 and "no good match" on tests/data/faq_eval.json.

Compares the shipped ranking (BM25 with stemming and synonyms) with simpler variants and, when
DATABASE_URL points at PostgreSQL, with PostgreSQL full-text search. Run: `make bench`.
"""

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "supportbot.settings")
os.environ.setdefault("SECRET_KEY", "bench")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402

from conversations.knowledge import bm25, text  # noqa: E402
from conversations.knowledge.bm25 import Bm25Index, Document  # noqa: E402

FAQ = json.loads((ROOT / "conversations" / "demo" / "faq.json").read_text())
EVAL = json.loads((ROOT / "tests" / "data" / "faq_eval.json").read_text())
DOCS = [
    Document(i, e["question"], e["answer"], tuple(e["alternatives"]), tuple(e["tags"]))
    for i, e in enumerate(FAQ)
]


def report(name, rank, good):
    """rank(question) -> ranked entry questions; good(question) -> is the best a good match."""
    held_out = EVAL["held_out"]
    h1 = sum(rank(i["question"])[:1] == [i["expected"]] for i in held_out) / len(held_out)
    h3 = sum(i["expected"] in rank(i["question"])[:3] for i in held_out) / len(held_out)
    questions = EVAL["questions"]
    started = time.perf_counter()
    at1 = at3 = answered = 0
    for item in questions:
        found = rank(item["question"])
        at1 += found[:1] == [item["expected"]]
        at3 += item["expected"] in found[:3]
        answered += good(item["question"])
    rejected = sum(not good(q) for q in EVAL["off_topic"])
    per_query = (time.perf_counter() - started) / (2 * len(questions) + len(EVAL["off_topic"]))
    print(
        f"{name:<44} recall@1 {at1 / len(questions):.3f}  recall@3 {at3 / len(questions):.3f}  "
        f"answered {answered / len(questions):.3f}  "
        f"no-match {rejected / len(EVAL['off_topic']):.3f}"
        f"  held-out @1 {h1:.3f} @3 {h3:.3f}  {per_query * 1000:.2f} ms/query"
    )


# The fixed floors BM25 alone used before the calibrated router (bench/bench_retrieval.py).
BM25_MIN_SCORE = 4.0
BM25_MIN_COVERAGE = 0.2


def bm25_variant(name, **options):
    index = Bm25Index(DOCS, **options)

    def good(q):
        hits = index.search(q, limit=1)
        return bool(hits) and (
            hits[0].score >= BM25_MIN_SCORE and hits[0].coverage >= BM25_MIN_COVERAGE
        )

    report(name, lambda q: [s.document.question for s in index.search(q, limit=3)], good)


def postgres_fts():
    rows = ", ".join(["(%s, %s, %s)"] * len(FAQ))
    params = [v for e in FAQ for v in (e["question"], " ".join(e["alternatives"]), e["answer"])]
    sql = f"""
        WITH docs(question, alternatives, answer) AS (VALUES {rows}),
        query AS (
            SELECT to_tsquery('english', string_agg(lexeme, ' | ')) AS q
            FROM unnest(to_tsvector('english', %s))
        )
        SELECT question, ts_rank_cd(
            setweight(to_tsvector('english', question || ' ' || alternatives), 'A')
            || setweight(to_tsvector('english', answer), 'C'), query.q) AS rank
        FROM docs, query
        WHERE query.q IS NOT NULL
        ORDER BY rank DESC LIMIT 3
    """

    def rank_rows(q):
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, q])
            return [r for r in cursor.fetchall() if r[1] > 0]

    report(
        "PostgreSQL full-text search (ts_rank_cd, OR)",
        lambda q: [r[0] for r in rank_rows(q)],
        lambda q: bool(rank_rows(q)),
    )


if __name__ == "__main__":
    print(
        f"{len(FAQ)} entries, {len(EVAL['questions'])} questions, "
        f"{len(EVAL['off_topic'])} off-topic, {len(EVAL['held_out'])} held out"
    )
    bm25_variant("BM25 + stemming + synonyms (shipped)")
    bm25_variant("  same, phrasings only (no answer text)", answer_weight=0.0)
    bm25_variant("  same, answer weighted like phrasings", phrasing_weight=1.0)
    saved = (text.SYNONYMS, text.PHRASES)
    text.SYNONYMS, text.PHRASES = {}, {"\x00": ""}
    text._PHRASE = text.re.compile(r"\x00")
    text._stems.cache_clear()
    bm25_variant("  BM25 + stemming, no synonyms")
    text.SYNONYMS, text.PHRASES = saved
    if connection.vendor == "postgresql":
        postgres_fts()
    else:
        print("(set DATABASE_URL=postgres://... to compare with PostgreSQL full-text search)")
    _ = bm25
