"""Training graphs: backward ops per kind with their own shapes and costs, accumulation, Adam."""
import pytest

import workloads  # noqa: F401  (registers the library)
from archsim.errors import WorkloadError
from archsim.graph import GraphBuilder, build_workload, register_kind
from archsim.graph.training import training_graph


def _phase_flops(g, phase):
    return sum(op.flops for op in g.ops if op.attrs.get("phase") == phase)


@pytest.mark.parametrize("spec", [
    "bert-base(layers=2)", "gpt2(layers=1, seq=256)", "llama3-8b(layers=1, seq=512)",
    "roberta-small(layers=1)", "resnet50(batch=2, stage_blocks=(1, 1, 1, 1))",
    "dlrm(batch=256)", "meshgraphnets(nodes=1000, edges=6000, layers=2)", "nerf(rays=256)",
])
def test_backward_is_about_twice_forward(spec):
    tg = training_graph(build_workload(spec))
    fwd, bwd = _phase_flops(tg, "forward"), _phase_flops(tg, "backward")
    assert bwd / fwd == pytest.approx(2.0, rel=0.10)


@pytest.mark.parametrize("spec", [
    "bert-base(layers=1)", "llama3-8b(layers=1, seq=128)",
    "resnet50(batch=1, stage_blocks=(1, 1, 1, 1))",
    "unet3d(size=32)", "rnnt(batch=2, frames=20, labels=5, layers=3)",
    "graphcast(grid_nodes=500, mesh_nodes=100, mesh_edges=600, g2m_edges=800, m2g_edges=1500,"
    " layers=1)",
    "dlrm(batch=16, fused_tables=False)", "gpt2(layers=1, seq=64)", "flow-cnn(batch=2)",
    "ssd-resnet34(image=300)",
])
def test_backward_shapes_match_forward_operands(spec):
    fwd = build_workload(spec)
    tg = training_graph(fwd)
    tensors = tg.tensors
    bwd = [op for op in tg.ops if op.attrs.get("phase") == "backward" and "grads" in op.attrs]
    assert bwd
    for op in bwd:
        if "grad_of" in op.attrs:  # (a sum of a parameter's contributions has none)
            assert tg.op(op.attrs["grad_of"]).attrs["phase"] == "forward"
        for g, t in op.attrs["grads"].items():
            assert tensors[g].shape == tensors[t].shape, (op.name, g, t)
    # every parameter with a gradient: dW shape == W shape, one optimizer op
    for p in fwd.params():
        (opt,) = [op for op in tg.ops if op.attrs.get("param") == p.name]
        assert opt.inputs[0].shape[1:] == p.shape[1:]
    tg.topo_ops()


def test_gemm_backward_is_dgrad_and_wgrad_with_transposed_shapes():
    b = GraphBuilder("mlp")
    x = b.input("x", (64, 256))
    h = b.linear(x, 512, name="fc1", epilogue="gelu")
    b.linear(h, 10, name="fc2")
    tg = training_graph(b.build())
    d = tg.op("fc2.dgrad")
    assert (d.attrs["M"], d.attrs["N"], d.attrs["K"]) == (64, 512, 10)
    assert d.outputs[0].shape == (64, 512)
    w = tg.op("fc2.wgrad")
    assert (w.attrs["M"], w.attrs["N"], w.attrs["K"]) == (512, 10, 64)
    assert [o.shape for o in w.outputs] == [(512, 10)]                # dW
    bg = tg.op("fc2.bgrad")                                           # bias grad: a row sum
    assert bg.kind == "reduction" and bg.outputs[0].shape == (10,) and bg.flops == 64 * 10
    assert x.name in {t.name for t in tg.op("fc1.wgrad").inputs}     # re-reads the activation
    assert tg.op("fc1.gelu_bwd").attrs["fn"] == "gelu_bwd"
    assert "fc1.dgrad" not in {op.name for op in tg.ops}             # no gradient for the input


def test_attention_backward_is_2_5x_and_conv_grads_cost_the_forward():
    tg = training_graph(build_workload("bert-base(layers=1)"))
    (fwd,) = [op for op in tg.ops if op.kind == "attention"]
    (bwd,) = [op for op in tg.ops if op.kind == "attention_bwd"]
    assert bwd.flops == int(2.5 * fwd.flops)
    assert [o.shape for o in bwd.outputs] == [t.shape for t in fwd.inputs[:3]]
    tg = training_graph(build_workload("resnet50(batch=1, stage_blocks=(1, 1, 1, 1))"))
    conv = tg.op("layer2.0.conv2")
    assert tg.op("layer2.0.conv2.dgrad").flops == conv.flops
    assert tg.op("layer2.0.conv2.wgrad").flops == conv.flops
    assert "conv1.dgrad" not in {op.name for op in tg.ops}           # the image needs no grad


def test_gqa_attention_grads_have_kv_head_shapes():
    tg = training_graph(build_workload("llama3-8b(layers=1, seq=64)"))
    (bwd,) = [op for op in tg.ops if op.kind == "attention_bwd"]
    assert [o.shape for o in bwd.outputs] == [(1, 32, 64, 128), (1, 8, 64, 128), (1, 8, 64, 128)]


def test_embedding_gradient_is_a_scatter_add_into_the_table():
    tg = training_graph(build_workload("bert-base(layers=1, batch=2, seq=16)"))
    sc = tg.op("embed.word.bwd")
    assert sc.kind == "scatter_add" and sc.outputs[0].shape == (30522, 768)
    assert list(sc.attrs["grads"].values()) == ["embed.word_embeddings"]
    assert sc.inputs[1].shape == (32, 768)


def test_dlrm_tables_update_sparse_rows():
    tg = training_graph(build_workload("dlrm(batch=128)"))
    (opt,) = [op for op in tg.ops if op.attrs.get("param") == "embed.tables"]
    assert opt.attrs["sparse_rows"] == 128 * 26 and opt.outputs[0].shape == (128 * 26, 128)
    dense = training_graph(build_workload("dlrm(batch=128)"), sparse_embeddings=False)
    assert any(op.kind == "scatter_add" for op in dense.ops)


def test_adam_reads_param_grad_and_fp32_moments():
    fwd = build_workload("bert-base(layers=1)")
    tg = training_graph(fwd)
    opts = [op for op in tg.ops if op.attrs.get("phase") == "optimizer"]
    assert len(opts) == len(fwd.params())
    for op in opts:
        assert op.attrs["fn"] == "adam"
        p, g, m, v = op.inputs
        assert (p.role, g.role, m.role, v.role) == ("param", "grad", "state", "state")
        assert m.dtype == v.dtype == "fp32" and m.shape == p.shape
        assert [o.shape for o in op.outputs] == [p.shape] * 3
        assert set(op.attrs["inplace"].values()) == {p.name, m.name, v.name}
    sgd = training_graph(fwd, optimizer="sgd")
    assert {len(op.inputs) for op in sgd.ops if op.attrs.get("phase") == "optimizer"} == {2}


def test_gradient_accumulation_repeats_micro_batches():
    fwd = build_workload("gpt2(layers=1, seq=128)")
    one, four = training_graph(fwd), training_graph(fwd, grad_accum=4)
    for phase in ("forward", "backward"):
        base = _phase_flops(one, phase)
        acc = sum(op.flops for op in four.ops if op.attrs.get("phase") == phase
                  and op.attrs.get("fn") != "accumulate")
        assert acc == 4 * base
    accs = [op for op in four.ops if op.attrs.get("fn") == "accumulate"]
    assert len(accs) == len(fwd.params())
    assert all(op.repeat == 4 and op.outputs[0].dtype == "fp32" for op in accs)
    with pytest.raises(WorkloadError):
        training_graph(fwd, grad_accum=0)


def test_shared_tensors_sum_their_gradients():
    tg = training_graph(build_workload("bert-base(layers=1)"))
    sums = [op for op in tg.ops if op.attrs.get("fn") == "add" and
            op.attrs.get("phase") == "backward"]
    assert sums and all(len(op.inputs) >= 2 for op in sums)


def test_unknown_kind_is_a_clear_error():
    register_kind("test_mystery", lambda op: 1)
    b = GraphBuilder("t")
    x = b.linear(b.input("x", (4, 4)), 4)
    b._emit("test_mystery", (x,), x.shape)
    with pytest.raises(WorkloadError, match="test_mystery"):
        training_graph(b.build())


def test_whole_model_training_graphs_build_quickly():
    tg = training_graph(build_workload("llama3-8b(seq=256)"))
    assert len(tg) > 3 * 600


def test_amp_keeps_fp32_masters_and_casts_matmul_weights_every_step():
    b = GraphBuilder("mlp")
    h = b.linear(b.input("x", (8, 16)), 32, name="fc1")
    b.layernorm(h, name="ln")
    fwd = b.build()
    amp = training_graph(fwd, precision="amp")
    pure = training_graph(fwd, precision="pure")
    casts = [op for op in amp.ops if op.attrs.get("autocast")]
    assert sorted(op.inputs[0].name for op in casts) == ["fc1.bias", "fc1.weight"]
    assert all(op.inputs[0].dtype == "fp32" and op.outputs[0].dtype == "bf16" for op in casts)
    # the optimizer updates fp32 masters; norm weights are read in fp32 without a cast
    assert {op.inputs[0].dtype for op in amp.ops if op.attrs.get("phase") == "optimizer"} == {"fp32"}
    assert {op.inputs[0].dtype for op in pure.ops if op.attrs.get("phase") == "optimizer"} == {"bf16"}
    assert amp.flops == pure.flops  # casts are copies: no flops


@pytest.mark.parametrize("fn", ["relu", "sigmoid", "tanh"])
def test_relu_sigmoid_tanh_backward_read_the_saved_result_not_the_input(fn):
    # PyTorch saves these functions' result (threshold_backward(grad, result), ...): the
    # pre-activation is not a saved activation of the backward
    b = GraphBuilder("act")
    x = b.input("x", (64, 32))
    w = b.param("w", (32, 32))
    pre = b.matmul(x, w, name="fc")
    b._emit("elementwise", (pre,), (64, 32), "bf16", "act", fn=fn)
    tg = training_graph(b.build())
    bwd = next(op for op in tg.ops if op.attrs.get("fn") == f"{fn}_bwd")
    read = {t.name for t in bwd.inputs}
    assert "act:out" in read and pre.name not in read


def test_silu_backward_still_reads_its_input():
    b = GraphBuilder("act")
    x = b.input("x", (64, 32))
    pre = b.matmul(x, b.param("w", (32, 32)), name="fc")
    b._emit("elementwise", (pre,), (64, 32), "bf16", "act", fn="silu")
    tg = training_graph(b.build())
    bwd = next(op for op in tg.ops if op.attrs.get("fn") == "silu_bwd")
    assert pre.name in {t.name for t in bwd.inputs}
