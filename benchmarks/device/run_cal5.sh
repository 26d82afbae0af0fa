#!/usr/bin/env bash
# Issue 15, third stage (tensor kernels and model time): the F5 calibration cases
# (fid2_cases.cal5_kernels) on the device machine, from the folder holding these scripts:
#   OUT=/some/dir bash run_cal5.sh
# CUDA-event / graph-replay / CUPTI times (fid2_kernels.py time), then one Nsight Compute pass
# with L2 flushed before each kernel (ncu's default cache control), as the earlier sets.
# Then on this machine: python3 fid2_assemble_cal5.py RAW_DIR
set -u
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
cd "$(dirname "$0")"
LOG=$OUT/log.txt
METRICS=gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum,lts__t_sector_hit_rate.pct,sm__throughput.avg.pct_of_peak_sustained_elapsed,sm__cycles_elapsed.avg.per_second
{ date -u; nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,power.draw --format=csv; } >> "$LOG" 2>&1
echo "### time start $SECONDS" >> "$LOG"
timeout 100 python3 fid2_kernels.py time "$OUT/k5_time.json" cal5 >> "$LOG" 2>&1
echo "### time end rc=$? $SECONDS; ncu start" >> "$LOG"
timeout 150 ncu --clock-control none --profile-from-start off --csv --page raw --print-units base \
    --metrics $METRICS --log-file "$OUT/k5_ncu.csv" python3 fid2_kernels.py profile "$OUT/k5_order.json" cal5 \
    > "$OUT/ncu_stdout.txt" 2>&1
echo "### ncu end rc=$? $SECONDS" >> "$LOG"
date -u >> "$LOG"
