"""Save `archsim run` reports of a fixed set of cases, or check them against a saved set.

    python benchmarks/report_identity.py --save /tmp/ref            # before a change
    python benchmarks/report_identity.py --check /tmp/ref           # after it: exit 1 on a difference
    python benchmarks/report_identity.py --save /tmp/ref --repo /work/main   # another checkout

Each case runs `python -m archsim run -q --out DIR` in a fresh process and keeps report.json
less what may differ between two runs of the same code: the simulator's wall time (and the
rates derived from it) and the machine file's absolute path (it names the checkout). Floats
are compared as their JSON text (shortest repr), so a change in the last bit is a difference. Used to show that a speed change
leaves reports bit-identical (benchmarks/RESULTS.md, "Simulation speed, third stage").
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CASES = [
    ("default", []),
    ("bert-8x512", ["-w", "bert-base(batch=8,seq=512)"]),
    ("llama-prefill", ["-w", "llama3-8b(phase='prefill',seq=2048)"]),
    ("resnet50-b256", ["-w", "resnet50(batch=256)"]),
    ("bert-training", ["-w", "bert-base(batch=8,seq=128,layers=2)", "--mode", "training"]),
    ("gpu-l2-warm-repeat", ["-w", "gemm(M=4096,N=4096,K=4096)", "--l2", "warm", "--repeat", "2"]),
    ("gpu-fused", ["-w", "bert-base(batch=8,seq=128,layers=2)", "--exec", "fused"]),
    ("gpu-dataflow", ["--hw", "a100-kitsune", "-w", "bert-base(batch=8,seq=128,layers=2)",
                      "--exec", "dataflow"]),
    ("cpu", ["--hw", "xeon-host", "-w", "tumour-stiff(n_steps=200)"]),
    ("manycore", ["--hw", "upcycle-2048", "-w",
                  "resnet50(batch=16, dtype='int8', bn='folded')"]),
    ("manycore-event", ["--hw", "upcycle-2048", "--exec", "event", "--set", "tiles.rows=8",
                        "--set", "tiles.cols=16", "-w", "gemm(M=512, N=512, K=512, dtype='int8')"]),
]


def normalized(report: dict) -> dict:
    report = dict(report)
    sim = dict(report.get("simulator", {}))
    for key in ("wall_s", "events_per_s", "sim_cycles_per_s"):   # host speed, not the model
        sim.pop(key, None)
    report["simulator"] = sim
    opts = dict(report.get("options", {}))
    if "hw" in opts:
        opts["hw"] = os.path.basename(str(opts["hw"]))
    report["options"] = opts
    return report


def run_case(repo: Path, args: list[str], extra: list[str]) -> str:
    env = dict(os.environ, PYTHONPATH=str(repo))
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([sys.executable, "-m", "archsim", "run", "-q", "--out", out] + args + extra,
                       env=env, cwd="/tmp", check=True, stdout=subprocess.DEVNULL)
        with open(os.path.join(out, "report.json")) as f:
            report = json.load(f)
    return json.dumps(normalized(report), sort_keys=True, indent=1)


def save_or_check(cases: list, repo: Path, extra: list[str], save: str | None = None,
                  check: str | None = None, only: str = "") -> int:
    """Run each (name, args) case in `repo`; save its normalised report under `save`, or compare
    it with the one saved under `check`. Returns 1 if any case differs or has no saved report."""
    bad = 0
    for name, args in cases:
        if only and only not in name:
            continue
        text = run_case(repo, args, extra)
        if save:
            os.makedirs(save, exist_ok=True)
            Path(save, name + ".json").write_text(text)
            print(f"{name}: saved", flush=True)
            continue
        ref = Path(check, name + ".json")
        if not ref.exists():
            print(f"{name}: no saved report in {check}")
            bad += 1
            continue
        old = json.dumps(normalized(json.loads(ref.read_text())), sort_keys=True, indent=1)
        if old == text:
            print(f"{name}: identical", flush=True)
        else:
            bad += 1
            o, n = old.splitlines(), text.splitlines()
            diff = [i for i in range(min(len(o), len(n))) if o[i] != n[i]]
            first = diff[0] if diff else min(len(o), len(n))
            print(f"{name}: DIFFERENT ({len(diff)} lines, {len(o)} vs {len(n)}); first at line "
                  f"{first + 1}: {o[first] if first < len(o) else ''!r} -> "
                  f"{n[first] if first < len(n) else ''!r}", flush=True)
    return 1 if bad else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--save", help="directory to write CASE.json into")
    g.add_argument("--check", help="directory of saved CASE.json to compare against")
    ap.add_argument("--repo", default=str(ROOT), help="checkout to run (default: this one)")
    ap.add_argument("--only", default="", help="substring filter on case names")
    ap.add_argument("--engine", choices=("auto", "cython", "python"), default="auto")
    a = ap.parse_args(argv)
    repo = Path(a.repo).resolve()
    extra = [] if a.engine == "auto" else ["--engine", a.engine]
    return save_or_check(CASES, repo, extra, save=a.save, check=a.check, only=a.only)


if __name__ == "__main__":
    sys.exit(main())
