#!/bin/bash
# LookupFFN's numpy kernels and their calibration kernels on the H200 machine's host CPU
# (hwconfigs/xeon-host.yaml), one pinned core, numpy only (no archsim there).
# Run from a folder holding benchmarks/lookupffn_measure.py and solvers/lookupffn/ (issue 12,
# third stage: copied to .devcarry/i12 and carried); writes $OUT/lookupffn_measure_xeon.json.
# Fit and simulate here afterwards:
#   python benchmarks/lookupffn_measure.py --sim-only --save --out benchmarks/data/lookupffn_measure_xeon.json
set -e
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONUNBUFFERED=1
uptime || true
nproc
python3 -c "import numpy; print('numpy', numpy.__version__)"
python3 benchmarks/lookupffn_measure.py --host xeon --measure-only --cpu 3 --repeats "${REPEATS:-3}" \
    --out "${OUT:-/tmp}/lookupffn_measure_xeon.json"
uptime || true
