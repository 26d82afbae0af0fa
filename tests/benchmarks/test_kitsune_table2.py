"""benchmarks/kitsune_table2.py: the graphs Table 2 compares, its what-if and its bad input."""
import os
import sys

import workloads  # noqa: F401  (registers the library)
from archsim.graph import build_workload

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))


def test_nerf_mlp_only_is_nerf_pytorchs_module():
    # nerf-pytorch's NeRF.forward: 8 + 4 linears, 9 ReLUs (8 trunk + 1 view branch), 3 concats
    # (skip, view input, [rgb, sigma]); no encoding, no rendering, no head activations
    g = build_workload("nerf(rays=64, samples=8, mlp_only=True)")
    kinds = [op.kind for op in g.ops if op.kind != "view"]
    assert kinds.count("gemm") == 12 and kinds.count("concat") == 3
    assert kinds.count("elementwise") == 0          # ReLUs are GEMM epilogues in the workload
    assert sum(1 for op in g.ops if op.attrs.get("epilogue") == "relu") == 9


def test_paper_graphs_have_the_papers_op_counts_where_the_graph_is_the_papers():
    import kitsune_table2 as t2
    # NeRF: 24 ops inference; 69 training without the AMP weight casts (paper Table 2)
    g, real = t2.prepared(t2.spec_of("nerf", "paper"), "infer", "paper")
    assert len(real) == 24
    g, real = t2.prepared(t2.spec_of("nerf", "paper"), "train", "paper")
    assert sum(1 for n in real if not t2.amp_cast(g, g.op(n))) == 69
    # DLRM training: 59 without the AMP casts (paper: 59)
    g, real = t2.prepared(t2.spec_of("dlrm", "paper"), "train", "paper")
    assert sum(1 for n in real if not t2.amp_cast(g, g.op(n))) == 59


def test_weight_grad_what_if_keeps_only_weight_gradients_out():
    import kitsune_table2 as t2
    g, _ = t2.prepared(t2.spec_of("nerf", "paper"), "train", "paper")
    wg = [op.name for op in g.ops if t2.weight_grad(op)]
    assert len(wg) == 12 and all(n.endswith(".wgrad") for n in wg)
    assert not any(t2.weight_grad(op) for op in g.ops if op.attrs.get("phase") != "backward")


def test_bad_spec_is_a_clear_error(capsys):
    import kitsune_table2 as t2
    assert t2.main(["--spec", "nope", "--no-sim"]) == 2
    assert "--spec 'nope'" in capsys.readouterr().err
    assert t2.main(["--spec", "nerf=nerf(rays=-1)", "--no-sim"]) == 2
    assert "kitsune_table2:" in capsys.readouterr().err
    assert t2.main(["--keep-out", "nerf", "--no-sim"]) == 2
    assert "--keep-out 'nerf'" in capsys.readouterr().err


def test_keep_out_what_if_lowers_the_accounting_cut_and_coverage():
    import kitsune_table2 as t2
    from archsim.config import load_config
    cfg = load_config(os.path.join(ROOT, "hwconfigs", "a100.yaml"))
    base = t2.row("nerf", "infer", cfg, sim=False)
    cut = t2.row("nerf", "infer", cfg, sim=False, keep_out=("fc4",))
    assert cut["cov_k"] == base["cov_k"] - 1 and cut["acct_k"] < base["acct_k"]
    # the what-if touches the Kitsune columns only
    assert cut["acct_v"] == base["acct_v"] and cut["compulsory"] == base["compulsory"]
