"""`archsim run --timeline`: a Chrome-trace/Perfetto file of kernels, CTAs on SMs and memory."""
import json

from archsim.cli import main


def test_timeline_has_kernels_sms_and_memory(tmp_path, capsys):
    out = tmp_path / "t.json"
    assert main(["run", "--workload", "bert-base(batch=1, seq=64, layers=1)", "-q",
                 "--timeline", str(out)]) == 0
    doc = json.loads(out.read_text())
    ev = doc["traceEvents"]
    kernels = [e for e in ev if e["ph"] == "X" and e["pid"] == 1]
    on_sms = [e for e in ev if e["ph"] == "X" and e["pid"] == 2]
    counters = {e["name"] for e in ev if e["ph"] == "C"}
    assert kernels and all(e["dur"] > 0 and e["ts"] >= 0 for e in kernels)
    assert {e["tid"] for e in on_sms} <= set(range(132)) and len({e["tid"] for e in on_sms}) > 1
    assert {"xbar bytes", "L2 hit bytes", "L2 miss bytes", "HBM busy channels"} <= counters
    # kernels follow each other on the one stream: no overlap
    ks = sorted((e["ts"], e["ts"] + e["dur"]) for e in kernels)
    assert all(b[0] >= a[1] - 1e-6 for a, b in zip(ks, ks[1:]))


def test_timeline_unwritable_path_exits_2(tmp_path, capsys):
    bad = tmp_path / "no" / "such" / "dir" / "t.json"
    assert main(["run", "--workload", "add(n=1000)", "-q", "--timeline", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--timeline" in err[0]



def test_cpu_cache_tracks_are_labelled_in_lines_not_bytes(tmp_path):
    """The CPU's per-core L2 and LLC signals count lines; the GPU's L2 slices count bytes. The
    track names come from each signal's declared unit."""
    out = tmp_path / "t.json"
    assert main(["run", "--hw", "xeon-host", "--workload", "add(n=400000)", "-q",
                 "--timeline", str(out)]) == 0
    names = {e["name"] for e in json.loads(out.read_text())["traceEvents"] if e["ph"] == "C"}
    assert not any("bytes" in n for n in names if n.startswith(("L2", "LLC")))
    assert {"L2 hit lines", "L2 miss lines", "LLC hit lines", "LLC miss lines"} & names


def test_signals_carry_their_unit():
    from archsim.engine.signals import SignalBus
    bus = SignalBus()
    assert bus.declare("a.bytes", kind="pulse", unit="bytes").unit == "bytes"
    assert bus.declare("a.busy").unit == ""
