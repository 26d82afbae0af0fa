"""The event mode started part-way through a program (`EventModel.warm_up` for the ops before)
times the op exactly as a run that timed every op before it."""
from archsim.config import load_config
from archsim.graph import GraphBuilder
from archsim.hw.manycore.eventsim import EventModel
from archsim.lower.mesh import lower_mesh

HW = "hwconfigs/upcycle-2048.yaml"


def _program():
    b = GraphBuilder("mlp", dtype="int8")
    x = b.input("x", (16, 64))
    h = b.relu(b.linear(x, 128, name="up"), name="act")
    h = b.linear(h, 64, name="down")
    b.add(h, x, name="res")
    return b.build()


def test_warm_up_leaves_the_caches_as_an_event_run_does():
    cfg = load_config(HW, overrides=["tiles.rows=8", "tiles.cols=16", "llc.size=64 KiB"])
    prog = lower_mesh(_program(), cfg)
    assert len(prog.ops) >= 2
    full = EventModel(cfg)
    full.set_program(prog.ops)
    timed = [full.run_op(op, i) for i, op in enumerate(prog.ops)]
    for k in (len(prog.ops) - 1,):
        m = EventModel(cfg)
        m.set_program(prog.ops)
        m.warm_up = True
        warm = [m.run_op(op, i) for i, op in enumerate(prog.ops[:k])]
        m.warm_up = False
        r = m.run_op(prog.ops[k], k)
        assert r.cycles == timed[k].cycles
        assert r.counters["hbm_bytes"] == timed[k].counters["hbm_bytes"]
        assert r.counters["l2_accesses"] == timed[k].counters["l2_accesses"]
        # the warm-up ran no event machine: the step model's timing, no event counters
        assert all("event_tiles_cycles" not in w.counters for w in warm)
        assert "event_tiles_cycles" in r.counters
