"""Vertical fusion (GPU mode "fused"): which ops share a kernel, and what the machine then moves."""
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archsim.cli import main
from archsim.config import load_config
from archsim.graph import GraphBuilder, build_workload
from archsim.graph.training import training_graph
from archsim.lower import lower
from archsim.lower.fused import fusion_groups, lower_fused
from archsim.hw.gpu import run_program
from archsim.simulate import simulate

REPO = Path(__file__).resolve().parents[2]
A100 = load_config(REPO / "hwconfigs" / "a100.yaml")


def _dram(r) -> int:
    return r.dram_read_bytes + r.dram_write_bytes


def _narrow_mlp():
    b = GraphBuilder("mlp")
    x = b.input("x", (16384, 128))
    h = b.linear(x, 128, name="fc0", epilogue="relu")
    h = b.linear(h, 128, name="fc1", epilogue="relu")
    h = b.layernorm(h, name="norm")
    b.add(h, x, name="residual")
    return b.build()


def test_epilogue_only_fusion_leaves_gemm_chains():
    g = _narrow_mlp()
    assert fusion_groups(g, A100, gemm_chains=False) == [("fc1", "norm", "residual")]


def test_narrow_mlp_fuses_into_one_kernel_that_skips_its_intermediates():
    g = _narrow_mlp()
    assert fusion_groups(g, A100) == [("fc0", "fc1", "norm", "residual")]
    prog = lower(g, A100, mode="fused")
    assert prog.mode == "fused"
    launched = [o for o in prog.ops if o.kernels]
    assert [o.op for o in launched] == ["fc0"] and len(launched[0].kernels) == 1
    k = launched[0].kernels[0]
    assert k.tile.c_esize == 0                 # fc0's C tile never leaves the SM
    alone = lower(g, A100, mode="bsp").ops[0].kernels[0]
    assert k.steps > alone.steps and k.simt_ops > alone.simt_ops   # fc1, norm, add charged
    touched = {a.buffer for a in k.accesses} | {k.tile.a, k.tile.b}
    assert "residual:out" in touched and "x" in touched
    assert not touched & {"fc1:out", "norm:out"}
    assert sum(o.flops for o in prog.ops) == g.flops


def test_wide_gemm_chain_is_not_fused_but_its_epilogue_is():
    b = GraphBuilder("wide")
    h = b.linear(b.input("x", (4096, 4096)), 4096, name="fc1", bias=False)
    h = b.gelu(h, name="gelu")
    b.linear(h, 4096, name="fc2", bias=False)
    # fc2's 4096 x 4096 weights (32 MiB) do not fit in 164 KiB of SMEM
    assert fusion_groups(b.build(), A100) == [("fc1", "gelu")]


def test_gemm_chains_fuse_while_weights_and_row_block_fit_in_smem():
    def chain(width):
        b = GraphBuilder("chain")
        h = b.linear(b.input("x", (8192, width)), width, name="fc0", epilogue="relu")
        b.linear(h, width, name="fc1")
        return b.build()
    # 2 x 128 rows x 128 + 128 x 128 bf16 = 96 KiB fit; at 256 wide 256 KiB do not (A100:
    # 164 KiB), nor on the paper's 192 KB SM (exactly 192 KiB without the second row block)
    assert fusion_groups(chain(128), A100) == [("fc0", "fc1")]
    assert fusion_groups(chain(256), A100) == []
    big = load_config(REPO / "hwconfigs" / "a100.yaml", overrides=["sm.shared_memory=192KiB"])
    assert fusion_groups(chain(256), big) == []
    assert fusion_groups(chain(128), big) == [("fc0", "fc1")]


def test_backward_ops_are_not_fused():
    g = training_graph(_narrow_mlp())
    fused = {n for grp in fusion_groups(g, A100) for n in grp}
    assert fused and all(g.op(n).attrs.get("phase") == "forward" for n in fused)


@pytest.mark.parametrize("spec", ["dlrm(batch=256)", "meshgraphnets(layers=2, nodes=300, "
                                  "edges=1800)", "llama3-8b(layers=1, seq=128, blocks_only=True)"])
def test_fused_program_runs_ops_in_a_topological_order(spec):
    # training interleaves weight casts between fused GEMMs: the group waits for them
    for g in (build_workload(spec), training_graph(build_workload(spec))):
        for chains in (False, True):
            prog = lower_fused(g, A100, gemm_chains=chains)
            pos = {o.op: i for i, o in enumerate(prog.ops)}
            assert sorted(pos) == sorted(o.name for o in g.ops)
            assert all(pos[a] < pos[b] for a, b in g.nx.edges)
    assert fusion_groups(training_graph(build_workload(spec)), A100, gemm_chains=True)


def test_fused_moves_less_dram_than_bsp_and_bsp_is_unchanged():
    g = build_workload("meshgraphnets(layers=1, nodes=2000, edges=12000)")
    bsp = simulate(g, A100, exec_mode="bsp")
    again = simulate(g, A100)                  # the default mode is still bsp
    fused = simulate(g, A100, exec_mode="fused")
    key = lambda r: (r.time_s, r.cycles, r.dram_read_bytes, r.dram_write_bytes,  # noqa: E731
                     r.l2_hit_bytes, r.energy_by_component, [vars(o) for o in r.ops])
    assert key(again) == key(bsp)
    assert _dram(fused) < _dram(bsp)
    assert fused.time_s < bsp.time_s


def test_bsp_lowering_has_no_fused_kernels():
    g = _narrow_mlp()
    prog = lower(g, A100, mode="bsp")
    assert all(o.kernels for o in prog.ops) and prog.mode == "bsp"
    assert not any(k.name.startswith("fused_") for k in prog.kernels)


_KINDS = st.lists(st.sampled_from(["linear", "wide", "act", "norm", "residual", "softmax",
                                   "view", "embed", "colsum"]), min_size=1, max_size=8)


@settings(max_examples=15, deadline=None)
@given(_KINDS, st.booleans())
def test_fused_never_moves_more_dram_than_bsp(kinds, chains):
    b = GraphBuilder("rand")
    x0 = b.input("x", (2048, 128))
    x = x0
    for i, k in enumerate(kinds):
        if k == "linear":
            x = b.linear(x, 128, name=f"fc{i}", epilogue="relu")
        elif k == "wide":
            x = b.linear(b.linear(x, 1024, name=f"up{i}"), 128, name=f"down{i}")
        elif k == "act":
            x = b.gelu(x, name=f"act{i}")
        elif k == "norm":
            x = b.layernorm(x, name=f"ln{i}")
        elif k == "residual":
            x = b.add(x, x0, name=f"res{i}")
        elif k == "softmax":
            x = b.softmax(x, name=f"sm{i}")
        elif k == "view":
            x = b.view(b.view(x, (256, 8, 128), name=f"v{i}"), (2048, 128), name=f"w{i}")
        elif k == "embed":
            x = b.add(x, b.gather(b.param(f"t{i}", (50000, 128)), b.index(f"i{i}", (2048,)),
                                  name=f"emb{i}"), name=f"addemb{i}")
        else:
            x = b.add(x, b.reduce(x, axes=0, fn="sum", name=f"cs{i}"), name=f"cb{i}")
    g = b.build()
    groups = fusion_groups(g, A100, chains)
    flat = [n for grp in groups for n in grp]
    assert len(flat) == len(set(flat)) and all(len(grp) >= 2 for grp in groups)
    bsp = simulate(g, A100, exec_mode="bsp")
    fused = run_program(lower_fused(g, A100, gemm_chains=chains), A100)
    assert _dram(fused) <= _dram(bsp) * 1.01 + 4096    # sampling noise of the L2, if any
    assert fusion_groups(g, A100, chains) == groups   # deterministic


def test_cli_runs_fused_mode(tmp_path):
    code = main(["run", "--hw", "a100", "--workload",
                 "meshgraphnets(layers=1, nodes=500, edges=3000)", "--exec", "fused", "-q",
                 "--out", str(tmp_path)])
    assert code == 0
    rep = json.loads((tmp_path / "report.json").read_text())
    assert '"fused"' in json.dumps(rep)


def test_cli_unknown_exec_mode_exits_2(capsys):
    code = main(["run", "--hw", "a100", "--workload", "nerf(rays=16, samples=4)",
                 "--exec", "fuzed", "-q"])
    err = capsys.readouterr().err
    assert code == 2 and "fused" in err and "Traceback" not in err


def test_an_intermediate_read_only_through_a_view_inside_the_group_is_not_written():
    b = GraphBuilder("viewed")
    h = b.linear(b.input("x", (4096, 128)), 128, name="fc", bias=False)
    v = b.view(h, (64, 64, 128), name="v")
    b.gelu(v, name="act")
    g = b.build()
    assert fusion_groups(g, A100) == [("fc", "act")]
    (k,) = [k for o in lower(g, A100, mode="fused").ops for k in o.kernels]
    assert k.tile.c_esize == 0 and [a.buffer for a in k.accesses if a.write] == ["act:out"]
