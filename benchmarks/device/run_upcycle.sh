#!/bin/bash
# UPCYCLE batch on the lent machine's 16 CPU cores (issue 11, third stage; no GPU used).
# Run from a copy of the repo's code (archsim/, benchmarks/, workloads/, hwconfigs/, sweeps/,
# setup.py, pyproject.toml) with OUT set:  DEADLINE=220 bash benchmarks/device/run_upcycle.sh
# Writes OUT/env.txt (CPU, compiler, versions, date), OUT/build.txt, OUT/upcycle_batch.json
# (benchmarks/device/upcycle_batch.py) and OUT/log.txt.
set -u
: "${OUT:?set OUT}"
DEADLINE=${DEADLINE:-220}
{
  date -u +%Y-%m-%dT%H:%M:%SZ; nproc; lscpu | grep -E 'Model name|Socket|Thread|Core|MHz|L3'
  gcc --version | head -1; python3 --version
  python3 -c "import numpy, Cython, yaml; print('numpy', numpy.__version__, 'Cython', Cython.__version__)"
} > "$OUT/env.txt" 2>&1
t0=$(date +%s)
python3 setup.py build_ext --inplace -q -j 16 > "$OUT/build.txt" 2>&1
echo "build: $(( $(date +%s) - t0 )) s" >> "$OUT/env.txt"
python3 -c "import archsim.hw.cache._cache, archsim.engine as e; print('cache component compiled; engine', e.BACKEND)" >> "$OUT/env.txt" 2>&1 || { cat "$OUT/env.txt" "$OUT/build.txt"; exit 1; }
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
R="resnet50(batch=1, image=224, dtype='int8', bn='folded')"
B="bert-large(batch=1, seq=178, dtype='int8', include_head=True)"
C="resnet50:train_bs16 bert-large:train_bs1 ssd-resnet34:train_bs16 unet3d:train_bs16 rnnt:train_bs16 resnet50:infer_bs16 ssd-resnet34:train_bs1 resnet50:infer_bs1"
# shellcheck disable=SC2086
python3 benchmarks/device/upcycle_batch.py --out "$OUT/upcycle_batch.json" --deadline-s "$DEADLINE" \
  --jobs "$(nproc)" --cases $C --sens "$B" --sweep-workload "$B" --a100 $C 2>&1 | tee "$OUT/log.txt"
cat "$OUT/env.txt"
