"""Hybrid retrieval, measured in memory: every fusion and embedder on a FAQ and a case file.

    python bench/bench_retrieval.py conversations/demo/faq.json \
        tests/data/eval/demo_faq_tuning.jsonl

Prints top-1/top-3 routing, off-topic caught and good questions refused for each method, the
router's own held-out-phrasing report, and ms per question. (`manage.py evaluate` measures the
product end to end through the database and the engine; this is for comparing methods.)
"""

import argparse
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

import numpy as np  # noqa: E402

from conversations.knowledge.bm25 import Document  # noqa: E402
from conversations.knowledge.embedding import LocalEmbedder  # noqa: E402
from conversations.knowledge.hybrid import FUSIONS, HybridIndex, router_fit  # noqa: E402
from conversations.knowledge.minilm import minilm_embedder  # noqa: E402


def documents_read(path: Path) -> list[Document]:
    entries = json.loads(path.read_text())
    return [
        Document(
            i,
            e["question"],
            e["answer"],
            tuple(e.get("alternatives", ())),
            tuple(e.get("tags", ())),
        )
        for i, e in enumerate(entries)
    ]


def measure(index, cases, embedder, fusion):
    at1 = at3 = on = caught = off = refused = 0
    started = time.perf_counter()
    for case in cases:
        vector = embedder.embed([case["question"]])[0] if embedder else None
        ranked = index.rank(case["question"], vector, limit=3, fusion=fusion)
        names = [r.document.question for r in ranked]
        good = bool(ranked) and ranked[0].confidence >= index.params.threshold
        if case["expected"] == "no_match":
            off += 1
            caught += not good
        else:
            on += 1
            at1 += names[:1] == [case["expected"]]
            at3 += case["expected"] in names
            refused += not good
    ms = (time.perf_counter() - started) * 1000 / max(1, len(cases))
    return {
        "top1": at1 / max(1, on),
        "top3": at3 / max(1, on),
        "off_topic_caught": caught / max(1, off),
        "good_refused": refused / max(1, on),
        "ms": ms,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("faq", type=Path, nargs="?", default=ROOT / "conversations/demo/faq.json")
    parser.add_argument(
        "cases", type=Path, nargs="?", default=ROOT / "tests/data/eval/demo_faq_tuning.jsonl"
    )
    parser.add_argument("--embedder", default="minilm", choices=["local", "minilm", "none"])
    parser.add_argument("--good-refused", type=float, default=0.05)
    args = parser.parse_args()
    documents = documents_read(args.faq)
    cases = [json.loads(line) for line in args.cases.read_text().splitlines() if line.strip()]
    embedder = {"local": LocalEmbedder, "none": lambda: None}.get(args.embedder, minilm_embedder)()
    blocks = None
    if embedder:
        blocks = [embedder.embed([d.question, *d.alternatives]) for d in documents]
    for fusion in FUSIONS:
        if fusion == "dense" and blocks is None:
            continue
        index = HybridIndex(documents, blocks=blocks)
        started = time.perf_counter()
        index.params = router_fit(index, good_refused=args.good_refused, fusion=fusion)
        fit = time.perf_counter() - started
        result = measure(index, cases, embedder, fusion)
        print(
            f"{fusion:<8} top1 {result['top1']:.3f}  top3 {result['top3']:.3f}  "
            f"off-topic caught {result['off_topic_caught']:.3f}  "
            f"good refused {result['good_refused']:.3f}  {result['ms']:.2f} ms/q  "
            f"fit {fit:.1f}s  router {index.params.report}"
        )
        if fusion == "learned":
            print(
                "         mix",
                np.round(index.params.mix, 2).tolist(),
                "conf",
                np.round(index.params.confidence, 2).tolist(),
                round(index.params.confidence_bias, 2),
                "thr",
                round(index.params.threshold, 3),
            )


if __name__ == "__main__":
    main()
