"""The CPU as components: conservation at every level, nothing lost under full buffers,
determinism, signals and monitors, checkpoint/resume, line-granular hit rates."""
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archsim.config import load_config
from archsim.engine.signals import WindowMonitor
from archsim.graph import build_workload
from archsim.hw.cpu.model import build_machine, result, run_program
from archsim.lower.cpu import lower_cpu
from archsim.simulate import simulate

HW = Path(__file__).resolve().parents[2] / "hwconfigs" / "xeon-host.yaml"
CFG = load_config(HW)
SMALL = load_config(HW, overrides=["l3.size=1MiB", "l2.size=128KiB", "l1.size=24KiB"])
TIGHT = load_config(HW, overrides=["l3.size=1MiB", "l2.size=128KiB", "l1.size=24KiB",
                                   "cores.outstanding=1", "dram.queue=1"])

specs = st.sampled_from([
    "gemm(M={a}, N={b}, K={c}, dtype='fp32')", "add(n={p}, dtype='fp32')",
    "softmax(rows={a}, cols={b}, dtype='fp32')", "gather(table_rows={p}, dim=64, n={a})",
    "copy(n={p})", "layernorm(rows={a}, cols={b})",
    "attention(B=2, H=2, S={a}, D=64)",
])


def run_machine(spec, cfg, **kw):
    prog = lower_cpu(build_workload(spec), cfg)
    m = build_machine(prog, cfg, sample=1, **kw)
    m.start()
    m.run()
    return m


def check_conservation(m):
    s = m.stats
    # every request a core sent was answered, and every planned step ran
    assert s["req_sent"] == s["req_done"] and not m.requests
    assert s["steps_run"] == s["steps_planned"]
    # every task ran on min(cores, units) cores, each with at least one step
    assert s["steps_planned"] >= m.repeat * sum(min(m.ncores, u) for u in m.units)
    # L1 -> L2: every line L1 fetched was asked of L2
    for c in m.cores:
        l1 = c.caches.l1
        assert c.caches.forwarded == l1.fetches + l1.pf_fetches
    # L2 -> LLC: the lines the L2s fetched are the read lines the LLC received
    assert sum(c.caches.l2.fetches + c.caches.l2.pf_fetches for c in m.cores) == s["llc_read_lines_in"]
    # LLC -> DRAM: what the LLC sent is what DRAM served, in lines and bytes
    llc = m.llc.cache
    assert s["llc_sent_read_lines"] == llc.fetches + llc.pf_fetches == s["dram_read_lines_in"]
    assert s["llc_sent_write_lines"] == llc.writebacks == s["dram_write_lines_in"]
    assert s["llc_sent_nt_bytes"] == s["dram_nt_bytes_in"]
    assert s["dram_read"] == 64 * s["dram_read_lines_in"]
    assert s["dram_write"] == 64 * s["dram_write_lines_in"] + s["dram_nt_bytes_in"]
    assert m.links["llc->dram"].state.occupancy == 0
    assert all(m.links[f"core[{i}]->llc"].state.occupancy == 0 for i in range(m.ncores))


@settings(max_examples=12, deadline=None)
@given(specs, st.integers(1, 300), st.integers(1, 300), st.integers(1, 300),
       st.integers(1, 1 << 17), st.sampled_from([SMALL, TIGHT]))
def test_bytes_requested_equal_bytes_delivered_at_every_level(template, a, b, c, p, cfg):
    """Also under one-deep buffers (TIGHT): back-pressure delays messages, never drops them."""
    m = run_machine(template.format(a=a, b=b, c=c, p=p), cfg)
    check_conservation(m)


def test_full_buffers_only_delay():
    spec = "add(n=1048576, dtype='fp32')"
    loose, tight = run_machine(spec, SMALL), run_machine(spec, TIGHT)
    check_conservation(tight)
    r_loose, r_tight = result(loose), result(tight)
    assert tight.stats["core_blocked"] > 0 and tight.stats["llc_blocked"] > 0  # it did back up
    assert r_tight.dram_read_bytes == r_loose.dram_read_bytes       # same traffic, all of it
    assert r_tight.dram_write_bytes == r_loose.dram_write_bytes
    assert r_tight.time_s >= 0.9 * r_loose.time_s


def test_same_inputs_same_report():
    g = build_workload("bert-base(batch=1, seq=64, layers=1)")
    a = simulate(g, CFG, exec_mode="cpu", seed=3)
    b = simulate(g, CFG, exec_mode="cpu", seed=3)
    assert a.time_s == b.time_s and a.energy_by_action == b.energy_by_action
    assert a.counters == b.counters and [r.__dict__ for r in a.ops] == [r.__dict__ for r in b.ops]


def test_signals_follow_the_contract_and_monitors_attach():
    g = build_workload("reduce(rows=2048, cols=2048, dtype='fp32')")
    seen = {}

    def monitor(bus, clock_hz):
        names = bus.names()
        for want in ("core[0].state", "core[15].op", "l1[0].hit", "l2[3].miss", "llc.hit",
                     "llc.miss", "llc.miss_addr", "dram[0].busy"):
            assert want in names
        assert bus.get("core[0].state").width == 3
        seen["win"] = WindowMonitor(bus, bus.match("core[[]*].state") + bus.match("dram[[]*].busy"),
                                    window_cycles=256, clock_hz=clock_hz)
        seen["addrs"] = []
        bus.subscribe(["llc.miss_addr"], lambda t, s, v: seen["addrs"].append(v))
        seen["bus"] = bus

    prog = lower_cpu(g, CFG)
    res = run_program(prog, CFG, monitors=[monitor], sample=1)
    end = int(round(res.time_s * 1e12))
    out = seen["win"].finish(end)
    busy = np.mean([out[f"dram[{c}].busy"].mean() for c in range(CFG.dram.channels)])
    assert 0.5 < busy <= 1.0                        # a DRAM-bound loop keeps DRAM busy
    states = out["core[0].state"]
    assert states.max() <= 6 and states.mean() > 0
    # every line the loop reads from DRAM was one llc.miss_addr pulse; the rest of its DRAM
    # reads are its 2048 fp32 outputs' lines, read for ownership
    assert len(seen["addrs"]) * 64 == res.dram_read_bytes - 2048 * 4
    assert all(a % 64 == 0 for a in seen["addrs"][:100])
    # the same run without monitors gives the same answer (observing changes nothing)
    assert run_program(prog, CFG, sample=1).time_s == res.time_s


def test_stall_causes_are_recorded():
    gemm = simulate(build_workload("gemm(M=1024, N=1024, K=1024, dtype='fp32')"), CFG, exec_mode="cpu")
    add = simulate(build_workload("add(n=16777216, dtype='fp32')"), CFG, exec_mode="cpu")
    assert gemm.utilization["core.compute"] > 0.8 and gemm.ops[0].bound == "simd"
    assert add.utilization["core.stall_dram"] > 0.5 and add.ops[0].bound == "dram"
    assert abs(sum(v for k, v in add.utilization.items() if k.startswith("core.")) - 1) < 1e-9


def test_energy_uses_the_shared_action_vocabulary():
    res = simulate(build_workload("bert-base(batch=1, seq=64, layers=1)"), CFG, exec_mode="cpu")
    vocab = {"tensor_flop", "simt_op", "l1_byte", "l2_byte", "llc_byte", "dram_byte", "noc_byte",
             "static", "idle"}
    assert set(res.energy_by_action) <= vocab
    assert all(res.energy_by_action[k] > 0 for k in ("simt_op", "l2_byte", "llc_byte", "dram_byte",
                                                      "static", "idle"))
    assert abs(res.energy_j - sum(res.energy_by_action.values())) < 1e-9 * res.energy_j


def test_checkpoint_resume_gives_the_same_report():
    prog = lower_cpu(build_workload("bert-base(batch=1, seq=64, layers=1)"), CFG)
    full = run_program(prog, CFG, sample=1)
    m = build_machine(prog, CFG, sample=1)
    m.start()
    m.run(max_events=700)
    assert m.pending
    blob = m.checkpoint()
    m2 = build_machine(prog, CFG, sample=1)
    m2.restore(blob)
    m2.run()
    again = result(m2)
    assert again.time_s == full.time_s and again.counters == full.counters
    assert again.energy_by_action == full.energy_by_action


def test_hit_rate_follows_the_access_pattern():
    """A tensor 1.5x the LLC read by four loops in a row: LRU over lines keeps nothing of a
    cyclic sweep (all misses), but a loop that sweeps it backwards after a forward one finds
    the most recent LLC-full of lines (tensor-granularity residency said 0 % for both)."""
    llc = CFG.l3.size
    n = llc * 3 // 2 // 4
    fwd = simulate(build_workload(f"reduce(rows={n // 1024}, cols=1024, dtype='fp32')"), CFG,
                   exec_mode="cpu", repeat=2)
    assert fwd.counters["llc.hits"] < 0.05 * fwd.counters["llc.accesses"]
    from archsim.hw.cache import Cache
    c = Cache(llc, 64, 16)
    c.access(0, llc * 3 // 2)
    lines = np.arange(llc * 3 // 2 // 64, dtype=np.uint64)[::-1] * np.uint64(64)
    hits, misses, _ = c.access_addrs(lines, 64)
    assert 0.6 < hits / (hits + misses) < 0.7      # the last LLC-full, 2/3 of the tensor


def test_sampling_keeps_whole_runs_close():
    prog = lower_cpu(build_workload("bert-base(batch=2, seq=128, layers=1)"), CFG)
    exact = run_program(prog, CFG, sample=1)
    sampled = run_program(prog, CFG, sample=16)
    assert abs(sampled.time_s - exact.time_s) < 0.02 * exact.time_s
    assert abs(sampled.dram_read_bytes - exact.dram_read_bytes) < 0.05 * exact.dram_read_bytes


@pytest.mark.parametrize("bad", ["cores.outstanding=0", "dram.channels=0", "l3.prefetch=markov"])
def test_bad_cpu_config_is_a_user_error(bad):
    from archsim.errors import UserError
    with pytest.raises(UserError):
        load_config(HW, overrides=[bad])


def test_python_twin_caches_give_the_same_report(monkeypatch):
    """One answer per input: the CPU model on the pure-Python caches matches the Cython ones."""
    import archsim.hw.cpu.machine as machine
    from archsim.hw.cache import PyCache
    prog = lower_cpu(build_workload("gemm(M=96, N=80, K=64, dtype='fp32')"), SMALL)
    prog2 = lower_cpu(build_workload("softmax(rows=64, cols=200, dtype='fp32')"), SMALL)
    fast = [run_program(p, SMALL, sample=1) for p in (prog, prog2)]
    monkeypatch.setattr(machine, "Cache", PyCache)
    slow = [run_program(p, SMALL, sample=1) for p in (prog, prog2)]
    for a, b in zip(fast, slow):
        assert a.time_s == b.time_s and a.counters == b.counters
        assert a.energy_by_action == b.energy_by_action


def test_built_in_llc_prefetcher_reports_coverage_and_accuracy():
    g = build_workload("reduce(rows=1024, cols=4096, dtype='fp32')")
    cfg = load_config(HW, overrides=["l3.prefetch=next_line", "l3.prefetch_degree=2"])
    base = simulate(g, CFG, exec_mode="cpu")
    pf = simulate(g, cfg, exec_mode="cpu")
    k = pf.counters
    assert k["llc.prefetch_issued"] > 0 and 0.9 < k["llc.prefetch_accuracy"] <= 1.0
    assert k["llc.prefetch_coverage"] > 0.5
    assert pf.counters["llc.hits"] > base.counters["llc.hits"]      # demand misses became hits
    assert "llc.prefetch_issued" not in base.counters


def test_granularity_keeps_a_bert_layer_to_a_few_thousand_events():
    """The event budget behind 'a whole BERT-base run in seconds' (README): steps, not lines,
    are events; two layers at batch 8, seq 128 stay under 25 k events and sample the lines."""
    res = simulate(build_workload("bert-base(batch=8, seq=128, layers=2)"), CFG, exec_mode="cpu")
    assert res.events < 25_000
    assert res.extra["sample"] >= 2


def test_cpu_run_writes_a_timeline(tmp_path):
    import json
    from archsim.engine.timeline import Timeline
    tl = Timeline(window_cycles=512)
    res = simulate(build_workload("add(n=100000)"), CFG, exec_mode="cpu", monitors=[tl])
    doc = json.loads(Path(tl.write(str(tmp_path / "t.json"), res)).read_text())
    slices = [e for e in doc["traceEvents"] if e["ph"] == "X"]
    assert [e["name"] for e in slices] == [op.name for op in res.ops]
    assert res.dram_read_bytes > 0       # a cold run: DRAM shows on the memory track
    assert any(e["ph"] == "C" and e["name"] == "DRAM busy channels" and e["args"]["value"] > 0
               for e in doc["traceEvents"])


def test_gathers_replay_the_rows_actually_drawn():
    """A gather given its indices touches exactly those rows: the same row 4096 times is one
    line fetch per 64 B of the row; 4096 distinct rows fetch them all."""
    from archsim.graph.builder import GraphBuilder
    def graph(indices):
        b = GraphBuilder("g", "fp32")
        table = b.param("table", (65536, 64))
        idx = b.index("idx", (len(indices),))
        b.gather(table, idx)
        g = b.build()
        op = next(o for o in g.topo_ops() if o.kind == "gather")
        op.attrs["indices"] = indices      # what a tracer that saw the indices records
        return g
    same = simulate(graph([7] * 4096), CFG, exec_mode="cpu")
    spread = simulate(graph(list(range(0, 65536, 16))), CFG, exec_mode="cpu")
    table_bytes_same = same.dram_read_bytes - 4096 * 8 - 4096 * 256    # minus indices and output RFO
    table_bytes_spread = spread.dram_read_bytes - 4096 * 8 - 4096 * 256
    assert table_bytes_same == 256
    assert table_bytes_spread == 4096 * 256


def test_random_rows_are_bound_by_the_cores_demand_fill_buffers():
    """With cores.demand_lines = F, one core's random-row gather from a table far larger than
    the LLC takes about lines x (LLC + DRAM latency) / F (Little's law), halving F doubles it,
    a streaming loop is untouched, and every byte still arrives (conservation)."""
    one = ["cores.count=1"]
    n, rows, dim = 4096, 65536, 512           # 2 KiB rows from a 128 MiB table: 32 lines each
    spec = f"gather(table_rows={rows}, dim={dim}, n={n})"
    free = simulate(build_workload(spec), load_config(HW, overrides=one + ["cores.demand_lines=0"]),
                    exec_mode="cpu")
    t = {}
    for F in (8, 16):
        cfg = load_config(HW, overrides=one + [f"cores.demand_lines={F}"])
        m = run_machine(spec, cfg)
        check_conservation(m)
        t[F] = simulate(build_workload(spec), cfg, exec_mode="cpu").time_s
    rtt = CFG.l3.latency + CFG.dram.latency    # 130 ns: almost every row misses the LLC
    expect = n * dim * 4 / 64 * rtt / 8
    assert 0.95 * expect < t[8] < 1.1 * expect
    assert 1.9 < t[8] / t[16] < 2.1
    assert free.time_s < 0.2 * t[8]           # without the limit rows stream at DRAM bandwidth
    add = "add(n=4194304, dtype='fp32')"
    base = simulate(build_workload(add), load_config(HW, overrides=one), exec_mode="cpu")
    lim = simulate(build_workload(add), load_config(HW, overrides=one + ["cores.demand_lines=8"]),
                   exec_mode="cpu")
    assert lim.time_s == base.time_s


def test_call_overhead_is_paid_once_per_loop_before_its_cores_start():
    """An eager library's dispatch (cores.call_overhead) delays every loop by that much, on
    one core as on many; a folded loop pays it on every iteration."""
    from archsim.graph.builder import GraphBuilder
    b = GraphBuilder("calls", "fp32")
    x = b.input("x", (64, 256))
    y = b.add(b.linear(x, 256), x)
    b.relu(y)
    g = b.build()
    next(o for o in g.ops if o.kind == "elementwise").attrs["repeat"] = 4   # a folded loop
    loops = 1 + 4 + 1
    for cores in ("cores.count=1", "cores.count=16"):
        base = simulate(g, load_config(HW, overrides=[cores]), exec_mode="cpu")
        slow = simulate(g, load_config(HW, overrides=[cores, "cores.call_overhead=5us"]),
                        exec_mode="cpu")
        assert slow.time_s - base.time_s == pytest.approx(loops * 5e-6, rel=1e-3)
