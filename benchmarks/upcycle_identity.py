"""Save or check `archsim run` reports of UPCYCLE (kind: manycore) cases: a speed change to the
many-core model must leave them bit-identical (issue 11, fourth stage).

    python benchmarks/upcycle_identity.py --save /tmp/ref --repo /tmp/base   # the code before
    python benchmarks/upcycle_identity.py --check /tmp/ref                    # this checkout
    python benchmarks/upcycle_identity.py --check /tmp/ref --threads 4        # 4 walk lanes

Same normalisation and comparison as benchmarks/report_identity.py (whose `save_or_check` it uses):
the report less the simulator's wall time and the machine file's path, floats as JSON text.
`--threads N` sets ARCHSIM_MANYCORE_THREADS for the runs (archsim/hw/manycore/caches.py).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from report_identity import save_or_check  # noqa: E402

CASES = [
    ("resnet50-b1-int8", ["--hw", "upcycle-2048", "-w",
                          "resnet50(batch=1, image=224, dtype='int8', bn='folded')"]),
    ("bert-train-small", ["--hw", "upcycle-2048", "--mode", "training", "-w",
                          "bert-base(batch=2, seq=128, layers=1, dtype='fp16')"]),
    ("gemm-splitk-3840", ["--hw", "upcycle-3840", "-w", "gemm(M=64, N=256, K=8192, dtype='int8')"]),
    ("rnnt-b1-int8", ["--hw", "upcycle-2048", "-w", "rnnt(batch=1, dtype='int8')"]),
    ("event-gemm", ["--hw", "upcycle-2048", "--exec", "event", "--set", "tiles.rows=8",
                    "--set", "tiles.cols=16", "-w", "gemm(M=512, N=512, K=512, dtype='int8')"]),
]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--save", help="directory to write CASE.json into")
    g.add_argument("--check", help="directory of saved CASE.json to compare against")
    ap.add_argument("--repo", default=str(ROOT), help="checkout to run (default: this one)")
    ap.add_argument("--only", default="", help="substring filter on case names")
    ap.add_argument("--threads", type=int, default=None, help="ARCHSIM_MANYCORE_THREADS")
    a = ap.parse_args(argv)
    if a.threads is not None:
        os.environ["ARCHSIM_MANYCORE_THREADS"] = str(a.threads)
    repo = Path(a.repo).resolve()
    return save_or_check(CASES, repo, [], save=a.save, check=a.check, only=a.only)


if __name__ == "__main__":
    sys.exit(main())
