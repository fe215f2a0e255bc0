"""Passage retrieval quality on the demo help center: top-1, top-3 and section per split, and how
many off-topic questions (the demo FAQ sets' "no_match" cases) are taken for a good match.

    python bench/bench_passage_retrieval.py                       # the shipped settings
    python bench/bench_passage_retrieval.py --fusion bm25         # BM25 alone, the baseline
    python bench/bench_passage_retrieval.py --weight 0.6 --floor 0.2 --min-cosine 0.5

Tune on the "dev" split only; "held_out" and "paraphrase" are read after tuning is done.
The figures go to docs/knowledge.md ("Articles", "Evaluation").
"""

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.scratch import scratch_django  # noqa: E402

scratch_django("sb-bench-passages-")

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

from conversations.demo.loader import DEMO_HELP_DIR  # noqa: E402
from conversations.importing.articles import articles_read, articles_store  # noqa: E402
from conversations.knowledge.passage_search import (  # noqa: E402
    passage_index,
    passage_search_index,
)
from conversations.models import Bot  # noqa: E402

EVAL = ROOT / "tests" / "data" / "eval"


def cases(name: str) -> list[dict]:
    return [json.loads(line) for line in (EVAL / name).read_text().splitlines() if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fusion", default="hybrid", choices=["hybrid", "bm25", "dense"])
    parser.add_argument("--weight", type=float)
    parser.add_argument("--floor", type=float)
    parser.add_argument("--min-cosine", type=float)
    parser.add_argument("--lead-words", type=int, help="words of a passage its vector sees")
    parser.add_argument("--misses", action="store_true")
    args = parser.parse_args()
    if args.weight is not None:
        settings.SUPPORTBOT_PASSAGE_DENSE_WEIGHT = args.weight
    if args.floor is not None:
        settings.SUPPORTBOT_PASSAGE_COSINE_FLOOR = args.floor
    if args.min_cosine is not None:
        settings.SUPPORTBOT_PASSAGE_MIN_COSINE = args.min_cosine
    if args.lead_words is not None:
        from conversations.knowledge import passage_vectors

        passage_vectors.LEAD_WORDS = args.lead_words
    call_command("migrate", verbosity=0)
    bot = Bot.objects.create(name="Bench", slug="bench")
    articles_store(bot=bot, articles=articles_read(paths=[DEMO_HELP_DIR]))
    index = passage_index(bot_id=bot.pk)
    print(f"embedder: {index.embedder.name if index.embedder else 'none'}, fusion {args.fusion}")
    splits: dict[str, list[dict]] = {}
    for case in cases("demo_help_passages.jsonl") + cases("demo_help_paraphrases.jsonl"):
        splits.setdefault(case["split"], []).append(case)
    for split, group in splits.items():
        top1 = top3 = section = answered = 0
        for case in group:
            result = passage_search_index(
                index=index, question=case["question"], fusion=args.fusion
            )
            titles = [m.title for m in result.matches]
            top1 += titles[:1] == [case["article"]]
            top3 += case["article"] in titles[:3]
            section += bool(result.matches) and (
                result.matches[0].title,
                result.matches[0].heading,
            ) == (case["article"], case["section"])
            answered += not result.no_good_match
            if args.misses and titles[:1] != [case["article"]]:
                got = [(m.title, m.heading, round(m.similarity, 2)) for m in result.matches]
                print("  miss", case["question"], "->", got)
        n = len(group)
        print(
            f"{split:>10} ({n}): top1 {top1 / n:.3f}  top3 {top3 / n:.3f}  "
            f"section {section / n:.3f}  good match {answered / n:.3f}"
        )
    for name in ("demo_faq_tuning.jsonl", "demo_faq_held_out.jsonl"):
        off = [c for c in cases(name) if c.get("expected") == "no_match"]
        taken = sum(
            not passage_search_index(
                index=index, question=c["question"], fusion=args.fusion
            ).no_good_match
            for c in off
        )
        print(f"off-topic ({name}, {len(off)}): taken as a good passage {taken / len(off):.3f}")


if __name__ == "__main__":
    main()
