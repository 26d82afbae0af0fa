"""Importers: ONNX models built with onnx.helper (no torch needed) and, when PyTorch is
installed, torch.export on the meta device. FLOPs are checked against hand counts."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from archsim.errors import UserError
from archsim.graph.training import training_graph

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from archsim.trace.importers import from_onnx, from_torch  # noqa: E402


def _init(name, shape, dtype=np.float32):
    return numpy_helper.from_array(np.zeros(shape, dtype), name)


def _model(nodes, inputs, outputs, inits):
    g = helper.make_graph(nodes, "t", inputs, outputs, inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def mlp_model():
    nodes = [helper.make_node("MatMul", ["x", "W1"], ["h0"]),
             helper.make_node("Add", ["h0", "b1"], ["h1"]),
             helper.make_node("Relu", ["h1"], ["h2"]),
             helper.make_node("Shape", ["h2"], ["s"]),          # shape arithmetic: folded
             helper.make_node("Reshape", ["h2", "shape"], ["h3"]),
             helper.make_node("Gemm", ["h3", "W2", "b2"], ["y"], transB=1),
             helper.make_node("Softmax", ["y"], ["p"], axis=-1)]
    return _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 64])],
                  [helper.make_tensor_value_info("p", TensorProto.FLOAT, ["batch", 10])],
                  [_init("W1", (64, 32)), _init("b1", (32,)), _init("W2", (10, 32)),
                   _init("b2", (10,)), numpy_helper.from_array(np.array([-1, 32], np.int64),
                                                               "shape")])


def test_onnx_mlp_flops_equal_a_hand_count():
    g = from_onnx(mlp_model(), dims={"batch": 8})
    assert [op.kind for op in g.ops] == ["gemm", "elementwise", "elementwise", "view", "gemm",
                                         "softmax"]
    hand = (2 * 8 * 64 * 32      # MatMul
            + 8 * 32 + 8 * 32    # Add, Relu
            + 2 * 8 * 32 * 10 + 8 * 10   # Gemm with its bias
            + 5 * 8 * 10)        # Softmax
    assert g.flops == hand
    gemm = g.ops[4]
    assert (gemm.attrs["M"], gemm.attrs["N"], gemm.attrs["K"]) == (8, 10, 32)
    assert {t.name for t in g.params()} == {"W1", "b1", "W2", "b2"}


def test_onnx_conv_net_flops_equal_a_hand_count(tmp_path):
    nodes = [helper.make_node("Conv", ["x", "Wc", "bc"], ["c"], pads=[1, 1, 1, 1],
                              strides=[1, 1], kernel_shape=[3, 3]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("MaxPool", ["r"], ["m"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Conv", ["m", "Wd"], ["d"], strides=[2, 2], kernel_shape=[1, 1]),
             helper.make_node("GlobalAveragePool", ["d"], ["gp"]),
             helper.make_node("Flatten", ["gp"], ["f"]),
             helper.make_node("Gemm", ["f", "Wf"], ["y"])]
    model = _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 32, 32])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 10])],
                   [_init("Wc", (16, 3, 3, 3)), _init("bc", (16,)), _init("Wd", (32, 16, 1, 1)),
                    _init("Wf", (32, 10))])
    path = tmp_path / "cnn.onnx"
    onnx.save(model, str(path))
    g = from_onnx(path)
    conv1, conv2 = [op for op in g.ops if op.kind == "conv2d"]
    assert conv1.flops == 2 * 2 * 16 * 32 * 32 * 3 * 3 * 3
    assert conv2.flops == 2 * 2 * 32 * 8 * 8 * 16            # 16x16 -> stride 2 -> 8x8
    hand = (conv1.flops + 2 * 16 * 32 * 32                    # relu
            + 2 * 16 * 16 * 16 * 4                            # 2x2 max pool windows
            + conv2.flops + 2 * 32 * 8 * 8                    # global average pool window
            + 2 * 2 * 32 * 10)                                # Gemm (no bias)
    assert g.flops == hand
    tg = training_graph(g)                                    # imported graphs train too
    assert any(op.kind == "conv2d_wgrad" for op in tg.ops)


def test_onnx_symbolic_dims_must_be_bound():
    with pytest.raises(UserError, match="batch"):
        from_onnx(mlp_model())


def test_onnx_unknown_operators_are_listed_or_labelled():
    nodes = [helper.make_node("MatMul", ["x", "W"], ["h"]),
             helper.make_node("Hardmax", ["h"], ["y"]),
             helper.make_node("LpNormalization", ["y"], ["z"])]
    model = _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 8])],
                   [helper.make_tensor_value_info("z", TensorProto.FLOAT, [4, 8])],
                   [_init("W", (8, 8))])
    with pytest.raises(UserError, match="Hardmax, LpNormalization"):
        from_onnx(model)
    g = from_onnx(model, unknown="elementwise")
    labelled = [op for op in g.ops if op.attrs.get("unmapped")]
    assert [op.attrs["fn"] for op in labelled] == ["onnx:Hardmax", "onnx:LpNormalization"]


def test_onnx_transformer_pieces_map_to_our_kinds():
    nodes = [helper.make_node("Gather", ["emb", "ids"], ["x"]),
             helper.make_node("LayerNormalization", ["x", "g", "b"], ["n"], axis=-1),
             helper.make_node("MatMul", ["n", "Wq"], ["q"]),
             helper.make_node("Transpose", ["q"], ["qt"], perm=[0, 2, 1]),
             helper.make_node("MatMul", ["q", "qt"], ["s"]),
             helper.make_node("Softmax", ["s"], ["p"], axis=-1),
             helper.make_node("Gelu", ["p"], ["y"], domain="")]
    model = _model(nodes, [helper.make_tensor_value_info("ids", TensorProto.INT64, [2, 16])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 16, 16])],
                   [_init("emb", (100, 32)), _init("g", (32,)), _init("b", (32,)),
                    _init("Wq", (32, 32))])
    model.opset_import[0].version = 20
    g = from_onnx(model)
    assert [op.kind for op in g.ops] == ["gather", "layernorm", "gemm", "transpose", "gemm",
                                         "softmax", "elementwise"]
    bmm = g.ops[4]
    assert (bmm.attrs["batch"], bmm.attrs["M"], bmm.attrs["N"], bmm.attrs["K"]) == (2, 16, 16, 32)
    assert g.ops[0].inputs[1].role == "index"


# ---- torch.export --------------------------------------------------------------------------

HAVE_TORCH = importlib.util.find_spec("torch") is not None


@pytest.mark.skipif(HAVE_TORCH, reason="checks the message shown when PyTorch is absent")
def test_from_torch_without_torch_is_a_clear_user_error():
    with pytest.raises(UserError, match=r"archsim\[torch\]"):
        from_torch(object(), [(1, 4)])


@pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch is not installed (optional extra)")
def test_from_torch_mlp_and_conv_flops_equal_a_hand_count():
    torch = pytest.importorskip("torch")

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 16, 3, padding=1)
            self.fc1 = torch.nn.Linear(16 * 8 * 8, 64)
            self.fc2 = torch.nn.Linear(64, 10)

        def forward(self, x):
            x = torch.relu(self.conv(x))
            x = torch.nn.functional.max_pool2d(x, 2)
            x = torch.flatten(x, 1)
            return self.fc2(torch.relu(self.fc1(x)))

    net = Net()                                   # real (CPU) weights: left untouched
    g = from_torch(net, [(4, 3, 16, 16)])
    assert net.conv.weight.device.type == "cpu" and net.training
    convs = [op for op in g.ops if op.kind == "conv2d"]
    gemms = [op for op in g.ops if op.kind == "gemm"]
    assert len(convs) == 1 and len(gemms) == 2
    assert convs[0].flops == 2 * 4 * 16 * 16 * 16 * 3 * 9
    hand = (2 * 4 * 1024 * 64 + 4 * 64) + (2 * 4 * 64 * 10 + 4 * 10)   # with bias epilogues
    assert sum(op.flops for op in gemms) == hand
    assert {p.name for p in g.params()} >= {"conv.weight", "fc1.weight", "fc2.weight"}


@pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch is not installed (optional extra)")
def test_from_torch_transformer_pieces():
    torch = pytest.importorskip("torch")

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(1000, 64)
            self.ln = torch.nn.LayerNorm(64)
            self.qkv = torch.nn.Linear(64, 192)

        def forward(self, ids):
            x = self.ln(self.emb(ids))
            q, k, v = self.qkv(x).view(2, 16, 3, 4, 16).permute(2, 0, 3, 1, 4)
            return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)

    with torch.device("meta"):                    # no weight is ever allocated
        block = Block()
    g = from_torch(block, [((2, 16), "int64")])
    kinds = g.count_by_kind()
    assert kinds.get("gather") == 1 and kinds.get("layernorm") == 1 and kinds.get("gemm") == 1
    (att,) = [op for op in g.ops if op.kind == "attention"]
    assert (att.attrs["B"], att.attrs["H"], att.attrs["S"], att.attrs["D"]) == (2, 4, 16, 16)
    assert att.attrs["causal"] is True


@pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch is not installed (optional extra)")
def test_onnx_exported_from_torch_matches_torchs_flop_counter(tmp_path):
    """Acceptance (issue 4): an ONNX model exported from torch gives torch's own FLOP count."""
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Conv2d(8, 8, 3, stride=2, padding=1), torch.nn.ReLU(),
                              torch.nn.Flatten(), torch.nn.Linear(8 * 8 * 8, 32),
                              torch.nn.ReLU(), torch.nn.Linear(32, 10)).eval()
    x = torch.zeros(2, 3, 16, 16)
    with FlopCounterMode(display=False) as counter:
        net(x)
    path = tmp_path / "net.onnx"
    try:
        torch.onnx.export(net, (x,), str(path), dynamo=False)
    except TypeError:  # older torch has no `dynamo` keyword
        torch.onnx.export(net, (x,), str(path))
    except Exception as exc:  # an exporter backend missing in this environment
        pytest.skip(f"torch.onnx.export unavailable: {exc}")
    g = from_onnx(path)
    ours = sum(2 * op.attrs.get("batch", 1) * op.attrs["M"] * op.attrs["N"] * op.attrs["K"]
               if op.kind == "gemm" else op.flops for op in g.ops
               if op.kind in ("gemm", "conv2d"))
    assert ours == counter.get_total_flops()


ONNX_DATA = Path(__file__).resolve().parents[1] / "data" / "onnx"


def _matmul_flops(op) -> int:
    """The product's own flops (2 per MAC), without a fused epilogue: what torch counts."""
    a = op.attrs
    return 2 * a.get("batch", 1) * a["M"] * a["N"] * a["K"]


@pytest.mark.parametrize("name", ["cnn", "block"])
def test_onnx_exported_from_torch_gives_torchs_recorded_flop_count(name):
    """Acceptance (issue 4), without torch in CI: the ONNX files and torch's own FlopCounterMode
    counts were made together by benchmarks/device/export_onnx.py (PyTorch 2.11)."""
    record = json.loads((ONNX_DATA / "torch_flops.json").read_text())["models"][name]
    g = from_onnx(ONNX_DATA / record["file"])
    by_op = record["by_op"]
    conv = sum(op.flops for op in g.ops if op.kind == "conv2d")
    linear = sum(_matmul_flops(op) for op in g.ops
                 if op.kind == "gemm" and any(t.role == "param" for t in op.inputs))
    assert conv == by_op.get("aten.convolution", 0)
    assert linear == by_op.get("aten.addmm", 0) + by_op.get("aten.mm", 0)
    if name == "block":
        # torch's counter has no formula for CPU flash attention, so its total omits the two
        # attention products; they are 4 * B * heads * S^2 * head_dim
        B, S, D, heads = 2, 32, 64, 4
        attn = sum(_matmul_flops(op) for op in g.ops
                   if op.kind == "gemm" and not any(t.role == "param" for t in op.inputs))
        assert attn == 4 * B * heads * S * S * (D // heads)
        assert linear == record["torch_flops"]
    else:
        assert conv + linear == record["torch_flops"]
