"""Mode dataflow end to end: a hand-built plan through run_dataflow, and the CLI."""
import json

import pytest
from hypothesis import given, settings, strategies as st

from archsim.cli import main, resolve_hw
from archsim.config import load_config
from archsim.graph import GraphBuilder
from archsim.hw.dataflow.run import run_dataflow
from archsim.lower.dataflow.plan import DataflowPlan, Pipeline, Queue, Stage
from archsim.simulate import simulate


def mlp():
    b = GraphBuilder("mlp", dtype="bf16")
    x = b.input("x", (16384, 256))
    h = b.linear(x, 256, name="fc1", bias=False)
    h = b.relu(h, name="act1")
    b.linear(h, 256, name="fc2", bias=False)
    return b.build()


def test_hand_built_pipeline_keeps_intermediates_on_chip():
    cfg = load_config(resolve_hw("a100-kitsune"))
    g = mlp()
    df = run_dataflow(g, cfg, plan=_fixed_plan(), fallback=False)
    bsp = simulate(g, cfg)
    x = df.extra["dataflow"]
    assert x["bsp_time_s"] == bsp.time_s
    p = x["pipelines"][0]
    assert [s["name"] for s in p["stages"]] == ["s0", "s1", "s2"]
    assert x["allocation"][0]["ctas"] == [s["ctas"] for s in p["stages"]]
    assert sum(s["ctas"] for s in p["stages"] if s["kind"] == "tensor") <= cfg.sm.count
    # intermediates never reach the L2's tag state or DRAM (unless spilled: none here): the
    # pipeline reads x and the weights (cold: every byte misses) and leaves its output in the
    # L2 (write-back, as BSP kernels leave theirs)
    reads = sum(t.nbytes for t in (g.op("fc1").inputs + g.op("fc2").inputs[1:]))
    assert p["spill_fraction"] == 0.0
    assert p["l2_mem_bytes"] == pytest.approx(reads + g.op("fc2").outputs[0].nbytes, rel=1e-9)
    assert df.dram_read_bytes == pytest.approx(reads, rel=0.02)
    assert df.dram_write_bytes <= bsp.dram_write_bytes
    assert df.counters["l2_requested_bytes"] <= bsp.counters["l2_requested_bytes"]
    assert {o.name: o.bound for o in df.ops} == {"fc1": "dataflow", "act1": "dataflow",
                                                 "fc2": "dataflow"}
    assert df.energy_j > 0
    assert p["time_s"] <= df.time_s <= p["time_s"] + 2 * cfg.launch.overhead + 1e-12


def test_cli_runs_dataflow_and_writes_the_pipelines(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["run", "--hw", "a100-kitsune", "-w", "nerf(rays=256, samples=16)",
                 "--exec", "dataflow", "-q", "-o", str(out)]) == 0
    rep = json.loads((out / "report.json").read_text())
    assert rep["exec_mode"] == "dataflow"
    x = rep["extra"]["dataflow"]
    assert x["pipelines"] or x["fallback_to_bsp"]
    for p in x["pipelines"]:
        assert p["stages"] and all(s["ctas"] >= 1 for s in p["stages"])
        assert all(q["max_occupancy"] <= q["capacity"] for q in p["queues"])
    # BSP, fused and dataflow reports compare side by side (time, DRAM, L2, energy)
    assert main(["run", "--hw", "a100-kitsune", "-w", "nerf(rays=256, samples=16)", "-q",
                 "-o", str(tmp_path / "b")]) == 0
    capsys.readouterr()
    assert main(["compare", str(tmp_path / "b" / "report.json"), str(out / "report.json")]) == 0
    text = capsys.readouterr().out
    assert "time_s" in text and "dram_read_bytes" in text and "energy_j" in text


def test_repeat_reports_the_last_run_with_a_warm_l2(tmp_path):
    """--repeat N in mode dataflow: N runs back to back, the last reported (as in mode bsp):
    its BSP baseline is the last of N BSP runs, it lists each pipeline once, and with the
    L2 warm from the run before it reads no more from DRAM than a cold single run."""
    cfg = load_config(resolve_hw("a100-kitsune"))
    g = mlp()
    one = run_dataflow(g, cfg, fallback=False)
    two = run_dataflow(g, cfg, fallback=False, repeat=2)
    assert two.extra["dataflow"]["bsp_time_s"] == simulate(g, cfg, repeat=2).time_s
    assert len(two.extra["dataflow"]["pipelines"]) == len(one.extra["dataflow"]["pipelines"])
    assert two.dram_read_bytes <= one.dram_read_bytes
    assert all(o.start_s >= 0 for o in two.ops)
    assert main(["run", "--hw", "a100-kitsune", "-w", "nerf(rays=256, samples=16)",
                 "--exec", "dataflow", "--repeat", "2", "-q", "-o", str(tmp_path / "r")]) == 0
    rep = json.loads((tmp_path / "r" / "report.json").read_text())
    assert rep["exec_mode"] == "dataflow" and rep["time_s"] > 0


@pytest.mark.parametrize("l2", ["40MiB", "4MiB"])
def test_twice_the_sms_is_never_slower_and_rings_fit_the_l2_region(l2):
    """The balancer sees the rings' L2 footprint: on a small L2 (where 108 CTAs per stage
    would put 8.5 MB of rings in a 3 MB region) the plan's rings stay within the largest
    footprint budget the balancer tries (twice the region: spilling a share of the entries
    can beat fewer CTAs), and doubling the SMs (DRAM, L2 unchanged) never makes the
    dataflow run of the same plan slower. (Before stage compute was priced tile by tile, the
    4 MiB case was 5.7 % slower at 216 SMs: 72.0 vs 68.1 us.)"""
    from archsim.hw.dataflow.queue import params_for
    from archsim.lower.dataflow.select import plan_dataflow
    g = mlp()
    times = []
    plan = None
    for sms in (108, 216):
        cfg = load_config(resolve_hw("a100-kitsune"), overrides=(f"sm.count={sms}",
                                                                 f"l2.size={l2}"))
        # the pass's plan on 108 SMs, run on both (the pass sizes a GEMM's queue tiles from
        # the vendor plan for the machine's SM count: on 216 SMs its plan differs)
        plan = plan or plan_dataflow(g, cfg)
        df = run_dataflow(g, cfg, plan=plan, fallback=False)
        region = params_for(cfg).capacity_bytes(cfg)
        pipes = df.extra["dataflow"]["pipelines"]
        assert pipes
        for p in pipes:
            assert p["queue_footprint_bytes"] <= 2 * region
            if l2 == "40MiB":
                assert p["spill_fraction"] == 0.0
        times.append(df.time_s)
    assert times[1] <= times[0]


def _fixed_plan():
    T, tb = 128, 128 * 256 * 2
    stages = (Stage("s0", ("fc1",), "tensor", T), Stage("s1", ("act1",), "simt", T),
              Stage("s2", ("fc2",), "tensor", T))
    qs = (Queue("q0", "fc1:out", 0, (1,), "1-1", tb, T),
          Queue("q1", "act1:out", 1, (2,), "1-1", tb, T))
    pl = Pipeline("p0", stages, qs, ("x", "fc1.weight", "fc2.weight"), ("fc2:out",))
    return DataflowPlan("mlp", (pl,), (), (("pipeline", 0),))


@settings(max_examples=6, deadline=None)
@given(n=st.integers(8, 240), extra=st.integers(1, 200), l2=st.sampled_from(["4MiB", "40MiB"]))
def test_more_sms_never_slow_a_fixed_plan(n, extra, l2):
    """A stage's per-tile compute is priced from the tile it runs (one unit on one SM, the
    GEMM planner's one-SM tile), not from the BSP kernel variant tuned for the machine's SM
    count, so the same plan on more SMs (DRAM and L2 unchanged) is never slower, and its
    stages cost the same per tile (up to the L2 replay's chunking of a streaming kernel,
    which follows its waves: its misses per unit move by rounding)."""
    g, plan = mlp(), _fixed_plan()
    runs = []
    for sms in (n, n + extra):
        cfg = load_config(resolve_hw("a100-kitsune"), overrides=(f"sm.count={sms}",
                                                                 f"l2.size={l2}"))
        runs.append(run_dataflow(g, cfg, plan=plan, fallback=False))
    per_tile = [[s["compute_s_per_tile"] for s in r.extra["dataflow"]["pipelines"][0]["stages"]]
                for r in runs]
    assert per_tile[0] == pytest.approx(per_tile[1], rel=1e-6)
    assert runs[1].time_s <= runs[0].time_s


def test_a_fused_epilogue_is_priced_by_its_function_only():
    """An elementwise op fused into its producer's stage (select.py rule 5) works on the tile
    in registers: the stage pays the op's function instructions on the SIMT pipe (relu: 1 of
    the standalone kernel's 7 per element), not its BSP kernel's loads, stores and index
    math; as a stage of its own it pays all of those (its unit cost on one SM)."""
    from archsim.hw.dataflow.profile import bsp_profile
    from archsim.hw.gpu import _gemm_tuner
    from archsim.lower import lower
    from archsim.lower.vendor import ELEMENTWISE_BASE_OPS, elementwise_ops
    cfg = load_config(resolve_hw("a100-kitsune"))
    g = mlp()
    _, prof = bsp_profile(lower(g, cfg, mode="bsp", tuner=_gemm_tuner(cfg)), cfg)
    relu = prof["act1"]
    assert 0 < relu.pipe_seconds < relu.tile_seconds
    n = g.op("act1").outputs[0].numel
    # the standalone relu kernel's SIMT issue: every element's instructions over the lanes
    assert relu.pipe_seconds == pytest.approx(
        n * elementwise_ops("relu") / cfg.sm.simt_lanes / cfg.clocks.boost, rel=1e-6)
    T, tb = 128, 128 * 256 * 2
    fused = DataflowPlan("mlp", (Pipeline(
        "p0", (Stage("s0", ("fc1", "act1"), "tensor", T), Stage("s1", ("fc2",), "tensor", T)),
        (Queue("q0", "act1:out", 0, (1,), "1-1", tb, T),), ("x", "fc1.weight", "fc2.weight"),
        ("fc2:out",)),), (), (("pipeline", 0),))
    got = {}
    for name, plan in (("fused", fused), ("own", _fixed_plan())):
        st_ = run_dataflow(g, cfg, plan=plan, fallback=False).extra["dataflow"]["pipelines"][0]
        got[name] = [s["compute_s_per_tile"] * T for s in st_["stages"]]
    fc1 = got["own"][0]
    fn_only = n * (elementwise_ops("relu") - ELEMENTWISE_BASE_OPS) / cfg.sm.simt_lanes \
        / cfg.clocks.boost
    assert got["fused"][0] == pytest.approx(fc1 + fn_only, rel=1e-6)
    assert got["own"][1] == pytest.approx(relu.tile_seconds, rel=1e-9)


def test_fill_estimate_takes_parallel_branches_once():
    """The fallback estimate's fill is one step of every stage on the longest path: stages on
    parallel branches (q/k/v projections after one norm) start their first steps together."""
    from archsim.hw.dataflow.executor import QueueCost
    from archsim.hw.dataflow.profile import _longest_path
    qs = [QueueCost("norm", 0, (1, 2, 3), 1, 1), QueueCost("q", 1, (4,), 1, 1),
          QueueCost("k", 2, (4,), 1, 1), QueueCost("v", 3, (4,), 1, 1)]
    assert _longest_path([1.0, 5.0, 3.0, 2.0, 1.0], qs) == 7.0      # not 12 (every stage)
    assert _longest_path([1.0, 2.0], [QueueCost("a", 0, (1,), 1, 1)]) == 3.0
