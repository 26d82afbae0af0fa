"""The workload library: every model builds, and FLOP counts agree with independent references.

The references are computed here from the published dimensions (weights touched per token,
the attention term, He et al.'s GMACs), never read back from the graphs under test.
"""
import inspect
import math

import pytest

import workloads  # noqa: F401  (registers the library)
from archsim.errors import WorkloadError
from archsim.graph import build_workload, workloads as registry

LIBRARY = {n: w for n, w in registry().items() if w.module.startswith("workloads.")}
EXPECTED = {"bert-base", "bert-large", "roberta-small", "gpt2", "llama3-8b", "resnet50",
            "ssd-resnet34", "unet3d", "rnnt", "dlrm", "meshgraphnets", "nerf", "graphcast",
            "flow-cnn"}


def test_every_model_of_the_issue_is_registered():
    assert EXPECTED <= set(LIBRARY)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_builds_with_defaults(name):
    g = build_workload(name)
    assert len(g) > 0 and g.flops > 0
    assert len({op.name for op in g.ops}) == len(g)
    assert all(op.flops >= 0 and op.bytes >= 0 for op in g.ops)
    g.topo_ops()  # a DAG
    assert g.attrs["workload"] == name


@pytest.mark.parametrize("name", sorted(n for n in EXPECTED if "layers" in LIBRARY[n].params))
def test_one_block_runs_alone(name):
    full, one = build_workload(name), build_workload(f"{name}(layers=1)")
    assert 0 < len(one) < len(full)
    assert 0 < one.flops < full.flops


def test_common_parameter_names():
    for name in EXPECTED:
        params = LIBRARY[name].params
        assert params.get("dtype") == "bf16", name
    for name in ("bert-base", "bert-large", "roberta-small", "gpt2", "llama3-8b"):
        assert {"batch", "seq", "layers"} <= set(LIBRARY[name].params)
    assert {"phase", "context"} <= set(LIBRARY["llama3-8b"].params)


def test_list_workloads_lines_come_from_the_registry():
    """What `archsim list workloads` prints: name, parameters, one-line description."""
    lines = [f"{w.name:16s} {w.signature()}  {w.description}" for w in LIBRARY.values()]
    assert len(lines) == len(LIBRARY)
    for w in LIBRARY.values():
        assert w.description and "\n" not in w.description
        assert w.signature().startswith(w.name + "(")
        assert all(d is not inspect.Parameter.empty for d in w.params.values()), w.name


def test_dtype_parameter_reaches_the_tensors():
    g = build_workload("bert-base(layers=1, dtype='fp16')")
    assert {op.outputs[0].dtype for op in g.ops if op.kind == "gemm"} == {"fp16"}


# ---- FLOP references ----------------------------------------------------------------------

def test_resnet50_is_4_1_gmac_per_image():
    # He et al. 2016 Table 1 (3.8 GFLOPs = multiply-adds for v1); v1.5 (stride on the 3x3):
    # 4.1 GMAC per 224x224 image, convolutions and the FC layer
    g = build_workload("resnet50(batch=2)")
    macs = sum(op.flops for op in g.ops if op.kind in ("conv2d", "gemm")) / 2 / 2
    assert macs == pytest.approx(4.1e9, rel=0.02)


def _transformer_reference(L, h, heads, ffn, seq, causal):
    weights = 4 * h * h + 2 * h * ffn                      # QKV, output, FFN up and down
    attn = 4 * seq * h * (0.5 if causal else 1.0)          # QK^T and PV per token per layer
    return L * (2 * weights + attn)


@pytest.mark.parametrize("spec,L,h,heads,ffn,seq", [
    ("bert-base(batch=2, seq=128)", 12, 768, 12, 3072, 128),
    ("bert-base(batch=1, seq=512)", 12, 768, 12, 3072, 512),
    ("bert-large(batch=1, seq=384)", 24, 1024, 16, 4096, 384),
    ("roberta-small(batch=1, seq=512)", 4, 512, 8, 2048, 512),
])
def test_encoder_flops_per_token(spec, L, h, heads, ffn, seq):
    g = build_workload(spec)
    tokens = g.attrs["batch"] * g.attrs["seq"]
    assert g.flops / tokens == pytest.approx(_transformer_reference(L, h, heads, ffn, seq, False),
                                             rel=0.02)


def test_gpt2_flops_per_token_with_tied_head():
    g = build_workload("gpt2(batch=1, seq=1024)")
    per_token = _transformer_reference(12, 768, 12, 3072, 1024, True) + 2 * 768 * 50257
    assert g.flops / 1024 == pytest.approx(per_token, rel=0.02)


# Llama-3-8B, from Meta's config.json: not from the workload module
L3 = dict(L=32, h=4096, H=32, Hkv=8, D=128, ffn=14336, vocab=128256)


def _llama_weights_per_layer():
    h, H, Hkv, D, ffn = L3["h"], L3["H"], L3["Hkv"], L3["D"], L3["ffn"]
    return h * H * D + 2 * h * Hkv * D + H * D * h + 3 * h * ffn


def test_llama3_8b_has_8b_parameters():
    g = build_workload("llama3-8b(seq=16)")
    n = sum(t.numel for t in g.params())
    assert n == pytest.approx(8.03e9, rel=0.01)


def test_llama3_prefill_flops_per_token():
    seq, batch = 1024, 2
    g = build_workload(f"llama3-8b(batch={batch}, seq={seq}, all_logits=True)")
    per_token = 2 * (L3["L"] * _llama_weights_per_layer() + L3["h"] * L3["vocab"])
    attn = L3["L"] * 4 * L3["H"] * L3["D"] * seq / 2       # causal: half of QK^T and PV
    assert g.flops / (batch * seq) == pytest.approx(per_token + attn, rel=0.02)


def test_llama3_prefill_serving_head_reads_only_last_token():
    g = build_workload("llama3-8b(batch=2, seq=256, layers=1)")
    head = g.op("lm_head")
    assert head.attrs["M"] == 2 and head.attrs["N"] == L3["vocab"]


@pytest.mark.parametrize("context", [128, 2048])
def test_llama3_decode_flops_per_token(context):
    g = build_workload(f"llama3-8b(phase='decode', batch=16, context={context})")
    per_token = 2 * (L3["L"] * _llama_weights_per_layer() + L3["h"] * L3["vocab"])
    attn = L3["L"] * 4 * L3["H"] * L3["D"] * (context + 1)   # one query, the whole cache
    assert g.flops / 16 == pytest.approx(per_token + attn, rel=0.02)


def test_llama3_decode_layer_shapes():
    g = build_workload("llama3-8b(phase='decode', batch=16, context=2048, layers=1)")
    (att,) = [op for op in g.ops if op.kind == "attention"]
    assert (att.attrs["B"], att.attrs["H"], att.attrs["Hkv"], att.attrs["S"], att.attrs["Skv"],
            att.attrs["D"]) == (16, 32, 8, 1, 2049, 128)
    assert att.inputs[1].shape == (16, 8, 2049, 128)
    assert g.op("layer0.k_proj").outputs[0].shape == (16, 1024)
    assert sum(op.kind == "copy" for op in g.ops) == 2      # K and V cache writes


def test_llama_rejects_bad_phase_and_layers():
    with pytest.raises(WorkloadError, match="phase"):
        build_workload("llama3-8b(phase='train')")
    with pytest.raises(WorkloadError, match="layers"):
        build_workload("llama3-8b(layers=33)")
    with pytest.raises(WorkloadError, match="unknown parameter"):
        build_workload("llama3-8b(ctx=5)")


# ---- shapes of the other families -----------------------------------------------------------

def test_ssd_resnet34_feature_maps():
    g = build_workload("ssd-resnet34")
    maps = [op.outputs[0].shape[1] for op in g.ops if op.name.endswith(".loc")]
    assert maps == [50, 25, 13, 7, 3, 3]                      # MLPerf SSD-large at 1200²
    g300 = build_workload("ssd-resnet34(image=300)")
    maps = [op.outputs[0].shape[1] for op in g300.ops if op.name.endswith(".loc")]
    assert maps == [38, 19, 10, 5, 3, 1]
    boxes = sum(op.outputs[0].shape[1] for op in g300.ops if op.name == "locs")
    assert boxes == 8732


def test_unet3d_convs_are_3d_with_real_flops():
    g = build_workload("unet3d(size=64)")
    op = g.op("input_block.conv2.conv")
    assert op.kind == "conv3d"
    assert op.flops == 2 * 64 ** 3 * 32 * 32 * 27
    assert g.ops[-1].outputs[0].shape == (1, 64, 64, 64, 3)


def test_dlrm_mlperf_shapes():
    g = build_workload("dlrm(batch=64)")
    (lookup,) = [op for op in g.ops if op.kind == "gather" and "lookup" in op.name]
    assert lookup.outputs[0].shape == (64, 26, 128)
    assert g.op("interaction.dot").outputs[0].shape == (64, 27, 27)
    assert g.op("interaction.concat").outputs[0].shape == (64, 479)
    gemms = [op for op in g.ops if op.kind == "gemm" and "interaction" not in op.name]
    assert [(op.attrs["K"], op.attrs["N"]) for op in gemms] == [
        (13, 512), (512, 256), (256, 128), (479, 1024), (1024, 1024), (1024, 512), (512, 256),
        (256, 1)]
    per_table = build_workload("dlrm(batch=64, fused_tables=False)")
    assert sum(op.kind == "gather" and "lookup" in op.name for op in per_table.ops) == 26
    assert per_table.flops == g.flops


def test_meshgraphnets_message_passing():
    g = build_workload("meshgraphnets(nodes=100, edges=600)")
    kinds = g.count_by_kind()
    assert kinds["scatter_add"] == 15 and kinds["gather"] == 30
    agg = [op for op in g.ops if op.kind == "scatter_add"][0]
    assert agg.outputs[0].shape == (100, 128) and agg.inputs[1].shape == (600, 128)


def test_graphcast_latent_and_processor_depth():
    g = build_workload("graphcast(layers=16)")
    assert sum(op.kind == "scatter_add" for op in g.ops) == 16 + 2
    assert g.ops[-1].outputs[0].shape == (65160, 227)
    assert all(op.outputs[0].shape[-1] in (512, 227) for op in g.ops if op.kind == "gemm")


def test_nerf_mlp_and_rendering():
    g = build_workload("nerf(rays=128, samples=32)")
    gemms = [op for op in g.ops if op.kind == "gemm"]
    assert [op.attrs["K"] for op in gemms[:8]] == [63, 256, 256, 256, 319, 256, 256, 256]
    assert g.ops[-1].kind == "reduction" and g.ops[-1].outputs[0].shape == (128, 3)


def test_rnnt_recurrence_and_time_reduction():
    g = build_workload("rnnt(batch=4, frames=100, labels=20)")
    rec = [op for op in g.ops if op.attrs.get("recurrent")]
    steps = sorted(op.repeat for op in rec)
    assert steps == [20, 20, 50, 50, 50, 100, 100]          # 2 pred, 3 post, 2 pre
    assert g.op("encoder.post0.ih").attrs["K"] == 2048       # stacked pairs of frames


def test_flow_cnn_follows_the_solver_architecture():
    arch = pytest.importorskip("solvers.microfluidics.cnn").FLOW_CNN_ARCH
    g = build_workload("flow-cnn(batch=4)")
    convs = [op for op in g.ops if op.kind == "conv2d"]
    assert len(convs) == sum(layer["op"] == "conv2d" for layer in arch)
    dense = [layer for layer in arch if layer["op"] == "dense"]
    assert g.ops[-1].outputs[0].shape == (4, dense[-1]["out_features"])


def test_bad_sizes_are_user_errors():
    with pytest.raises(WorkloadError):
        build_workload("bert-base(batch=0)")
    with pytest.raises(WorkloadError):
        build_workload("meshgraphnets(nodes=-1)")


def test_importing_the_package_imports_every_module():
    import pkgutil
    import sys
    names = {m.name for m in pkgutil.iter_modules(workloads.__path__)}
    assert names - {n.rsplit(".", 1)[-1] for n in sys.modules if n.startswith("workloads.")} \
        == set()


def test_builds_are_deterministic():
    spec = "llama3-8b(layers=2, seq=64)"
    a, b = build_workload(spec), build_workload(spec)
    assert [(op.name, op.kind, op.inputs, op.outputs) for op in a.topo_ops()] == \
        [(op.name, op.kind, op.inputs, op.outputs) for op in b.topo_ops()]


def test_lazy_index_matches_what_the_modules_register():
    import importlib

    from archsim.graph import registry
    for mod in workloads.MODULES:
        importlib.import_module(f"workloads.{mod}")
    importlib.import_module("archsim.graph.op_workloads")
    by_module = {n: w.module for n, w in registry._REGISTRY.items()
                 if w.module.startswith(("workloads.", "archsim.graph.op_workloads"))}
    assert by_module == dict(registry._LAZY)


def test_finding_a_workload_imports_only_its_module():
    import subprocess
    import sys
    code = ("import sys; from archsim.graph import build_workload; "
            "build_workload('bert-base(batch=1,seq=8,layers=1)'); "
            "print('scipy' in sys.modules, 'workloads.science' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False"]
    code = ("import sys, archsim; from archsim.graph.registry import workload_names; "
            "n = workload_names(); print('networkx' in sys.modules, 'numpy' in sys.modules, "
            "'llama3-8b' in n and 'gemm' in n)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False", "True"]
