#!/usr/bin/env bash
# Issue 15, fourth stage (convolutions and ResNet training): the F6 calibration cases
# (fid2_cases.cal6_kernels) on the device machine, from the folder holding these scripts:
#   OUT=/some/dir bash run_cal6.sh
# Nsight Compute only (no CUDA-event pass: the correlator compares ncu's kernel_ns_sum), L2 flushed
# before each kernel (ncu's default cache control), clocks left alone, two passes (forward sweep,
# then the gradients) so that one slow pass cannot lose the other. The raw CSV keeps ncu's
# launch__cluster_* and launch__grid_* columns (the thread-block cluster cuDNN launched).
# Then on this machine: python3 fid2_assemble_cal6.py RAW_DIR
set -u
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
cd "$(dirname "$0")"
LOG=$OUT/log.txt
METRICS=gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum,lts__t_sector_hit_rate.pct,sm__throughput.avg.pct_of_peak_sustained_elapsed,sm__cycles_elapsed.avg.per_second
{ date -u; nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,power.draw --format=csv; } >> "$LOG" 2>&1
python3 -c "import torch; print(torch.__version__, torch.version.cuda, torch.backends.cudnn.version())" >> "$LOG" 2>&1
for part in fwd bwd; do
  IDS=$(python3 -c "from fid2_cases import cal6_kernels as k; print(','.join(c['id'] for c in k() if (c['op'] == 'conv2d') == ('$part' == 'fwd')))")
  echo "### ncu $part start $SECONDS" >> "$LOG"
  timeout 120 ncu --clock-control none --profile-from-start off --csv --page raw --print-units base \
      --metrics $METRICS --log-file "$OUT/k6${part}_ncu.csv" python3 fid2_kernels.py profile "$OUT/k6${part}_order.json" cal6 "$IDS" \
      > "$OUT/ncu_${part}_stdout.txt" 2>&1
  echo "### ncu $part end rc=$? $SECONDS" >> "$LOG"
done
date -u >> "$LOG"
