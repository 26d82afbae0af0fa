#!/bin/bash
# UPCYCLE fourth stage (issue 11) on the lent machine's 16 CPU cores (no GPU used): the two
# training batch-16 cases the third stage could not finish, each with its cache walks and
# routing on threads (APP:CASE:THREADS; ARCHSIM_MANYCORE_THREADS, same results as one thread).
# Run from a copy of the repo's code with OUT set:  DEADLINE=290 bash benchmarks/device/run_upcycle4.sh
# CASES (default: the two below) and JOBS (default 2) pick other cases, e.g.
#   CASES="ssd-resnet34:train_bs16:14" JOBS=1 DEADLINE=420 bash benchmarks/device/run_upcycle4.sh
# Writes OUT/env_4.txt, OUT/build_4.txt, OUT/upcycle_batch_4.json and OUT/log_4.txt; one
# PROGRESS/progress_APP_CASE.txt per case (fraction of ops done, after every op; PROGRESS defaults
# to /tmp/upcycle-progress on the device) is appended to the log at the end.
set -u
: "${OUT:?set OUT}"
DEADLINE=${DEADLINE:-290}
CASES=${CASES:-"bert-large:train_bs16:10 ssd-resnet34:train_bs16:6"}
JOBS=${JOBS:-2}
{
  date -u +%Y-%m-%dT%H:%M:%SZ; nproc; lscpu | grep -E 'Model name|Socket|Thread|Core|MHz|L3'
  gcc --version | head -1; python3 --version
  python3 -c "import numpy, Cython, yaml; print('numpy', numpy.__version__, 'Cython', Cython.__version__)"
} > "$OUT/env_4.txt" 2>&1
t0=$(date +%s)
python3 setup.py build_ext --inplace -q -j 16 > "$OUT/build_4.txt" 2>&1
echo "build: $(( $(date +%s) - t0 )) s" >> "$OUT/env_4.txt"
python3 -c "import archsim.hw.manycore._walk, archsim.hw.cache._cache; print('cache walks compiled')" >> "$OUT/env_4.txt" 2>&1 || { cat "$OUT/env_4.txt" "$OUT/build_4.txt"; exit 1; }
# progress files stay on the device (the device returns at most 8 files from OUT); the log gets
# their contents at the end
PROGRESS=${PROGRESS:-/tmp/upcycle-progress}
mkdir -p "$PROGRESS"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 UPCYCLE_PROGRESS_DIR=$PROGRESS
# shellcheck disable=SC2086
python3 benchmarks/device/upcycle_batch.py --out "$OUT/upcycle_batch_4.json" --deadline-s "$DEADLINE" \
  --jobs "$JOBS" --cases $CASES 2>&1 | tee "$OUT/log_4.txt"
cat "$OUT/env_4.txt" "$PROGRESS"/progress_*.txt | tee -a "$OUT/log_4.txt"
