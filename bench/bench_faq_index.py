"""FAQ search time at 1,000 and 50,000 entries: index build, query embedding, ranking.

    python bench/bench_faq_index.py [--entries 1000 50000] [--embedder local minilm]

Entries are synthetic (words drawn from the demo and banking FAQs, 5 phrasings each) with
their vectors computed by the embedder; every question is new (no cache hit). Reported per
question on one core: the query embedding, the ranking (BM25 + dense + router), the total;
and the build (what the first question after start-up pays unless the index was warmed).
"""

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "supportbot.settings")
os.environ.setdefault("SECRET_KEY", "bench")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402

from conversations.knowledge.bm25 import Document  # noqa: E402
from conversations.knowledge.embedding import LocalEmbedder  # noqa: E402
from conversations.knowledge.hybrid import HybridIndex  # noqa: E402


def vocabulary() -> list[str]:
    words: list[str] = []
    for path in [ROOT / "conversations/demo/faq.json", ROOT / "tests/data/eval/bank_faq.json"]:
        for entry in json.loads(path.read_text()):
            for text in [entry["question"], entry["answer"], *entry.get("alternatives", [])]:
                words += text.lower().replace("?", "").split()
    return words


def synthetic(n: int, words: list[str], rng: random.Random) -> list[Document]:
    def sentence() -> str:
        return " ".join(rng.choice(words) for _ in range(rng.randint(4, 9)))

    return [
        Document(
            i, sentence() + "?", sentence() + " " + sentence(), tuple(sentence() for _ in range(4))
        )
        for i in range(n)
    ]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, nargs="+", default=[1000, 50000])
    parser.add_argument("--embedder", nargs="+", default=["local", "minilm"])
    parser.add_argument("--questions", type=int, default=200)
    args = parser.parse_args()
    rng = random.Random(7)
    words = vocabulary()
    for name in args.embedder:
        if name == "minilm":
            from conversations.knowledge.minilm import minilm_embedder

            embedder = minilm_embedder()
        else:
            embedder = LocalEmbedder()
        for n in args.entries:
            documents = synthetic(n, words, rng)
            if name == "minilm" and n > 2000:
                # Embedding 250,000 phrasings with MiniLM takes an hour here; ranking time does
                # not depend on the values, so the vectors are random unit rows of its size.
                blocks = [
                    (lambda m: m / np.linalg.norm(m, axis=1, keepdims=True))(
                        np.random.default_rng(i).standard_normal((5, 384)).astype(np.float32)
                    )
                    for i in range(n)
                ]
            else:
                blocks = [embedder.embed([d.question, *d.alternatives]) for d in documents]
            started = time.process_time()
            index = HybridIndex(documents, blocks=blocks)
            build = time.process_time() - started
            # A fitted router has a distance ceiling: every question pays for its distance.
            index.params.distance_ceiling = 1e9
            questions = [
                " ".join(rng.choice(words) for _ in range(7)) for _ in range(args.questions)
            ]
            embed_t, rank_t, total_t = [], [], []
            for question in questions:
                a = time.process_time()
                vector = embedder.embed([question])[0]
                b = time.process_time()
                index.rank(question, vector, limit=3)
                c = time.process_time()
                embed_t.append(b - a)
                rank_t.append(c - b)
                total_t.append(c - a)
            print(
                f"{name:<7} {n:>6} entries: build {build * 1000:7.1f} ms | per question p50/p95: "
                f"embed {percentile(embed_t, 0.5):6.2f}/{percentile(embed_t, 0.95):6.2f} ms, "
                f"rank {percentile(rank_t, 0.5):6.2f}/{percentile(rank_t, 0.95):6.2f} ms, "
                f"total {percentile(total_t, 0.5):6.2f}/{percentile(total_t, 0.95):6.2f} ms (CPU); "
                f"the first question {total_t[0] * 1000:.2f} ms; classifier {index.classifier_kind}"
            )


if __name__ == "__main__":
    main()
