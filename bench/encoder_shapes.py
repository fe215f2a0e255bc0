"""What an int8 encoder of another shape would cost per question, in the shipped form.

    pip install onnx onnx_ir   # as for minilm_int8/build.py
    python bench/encoder_shapes.py

Builds minilm_int8/build.py's graph (8-bit MatMulNBits, blocks of 32, accuracy level 4) with
random weights for 6 x 384 (MiniLM-L6), 12 x 384 (bge-small, gte-small, e5-small-v2,
MiniLM-L12) and 12 x 768 (mpnet, BERT-base) layers x width, then times one question of 8 to 20
tokens at a time on one thread, the shapes alternated; compare the ratios. Not a bench_*.py:
`make bench` has no onnx (docs/knowledge.md, "Other encoders").
"""

import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime
from onnxruntime.quantization.matmul_nbits_quantizer import (
    DefaultWeightOnlyQuantConfig,
    MatMulNBitsQuantizer,
)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
_spec = importlib.util.spec_from_file_location(
    "build", ROOT / "conversations/knowledge/minilm_int8/build.py"
)
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)

SHAPES = [(384, 6), (384, 12), (768, 12)]  # width, layers; 12 heads each


def random_weights(width: int, layers: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    sizes = {
        "attention.self.query": (width, width),
        "attention.self.key": (width, width),
        "attention.self.value": (width, width),
        "attention.output.dense": (width, width),
        "intermediate.dense": (4 * width, width),
        "output.dense": (width, 4 * width),
    }
    weights = {}
    for n in range(layers):
        p = f"encoder.layer.{n}."
        for name, shape in sizes.items():
            weights[p + name + ".weight"] = (rng.standard_normal(shape) * 0.02).astype(np.float32)
            weights[p + name + ".bias"] = np.zeros(shape[0], np.float32)
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            weights[p + norm + ".weight"] = np.ones(width, np.float32)
            weights[p + norm + ".bias"] = np.zeros(width, np.float32)
    return weights


def session(width: int, layers: int, folder: Path) -> onnxruntime.InferenceSession:
    build.WIDTH, build.LAYERS = width, layers
    model = build.fp32_graph(random_weights(width, layers, np.random.default_rng(0)))
    settings = {"bits": 8, "block_size": 32, "is_symmetric": True, "accuracy_level": 4}
    quantizer = MatMulNBitsQuantizer(
        model, **settings, algo_config=DefaultWeightOnlyQuantConfig(**settings)
    )
    quantizer.process()
    path = folder / f"{width}x{layers}.onnx"
    quantizer.model.save_model_to_file(str(path), use_external_data_format=False)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        sessions = {shape: session(*shape, Path(folder)) for shape in SHAPES}
        rng = np.random.default_rng(1)
        times: dict[tuple[int, int], list[float]] = {shape: [] for shape in SHAPES}
        for _ in range(300):
            tokens = int(rng.integers(8, 21))
            for (width, layers), runner in sessions.items():
                feed = {
                    "hidden": rng.standard_normal((1, tokens, width)).astype(np.float32),
                    "mask": np.ones((1, tokens), np.float32),
                }
                started = time.process_time()
                runner.run(None, feed)
                times[(width, layers)].append((time.process_time() - started) * 1000)
    print(f"ms per question (CPU time, one thread, load average {os.getloadavg()[0]:.1f})")
    base = np.percentile(times[SHAPES[0]], 50)
    for (width, layers), values in times.items():
        p50, p95 = np.percentile(values, 50), np.percentile(values, 95)
        print(
            f"{layers:>2} layers x {width}: p50 {p50:6.2f}  p95 {p95:6.2f}  "
            f"p50 ratio {p50 / base:4.2f}"
        )


if __name__ == "__main__":
    main()
