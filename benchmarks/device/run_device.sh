#!/usr/bin/env bash
# Runs on the device machine (repo root is the cwd). Usage: bash benchmarks/device/run_device.sh STAGES
# STAGES: comma list of env,models,kernels,ncu_kernels,power,queue,ncu_models  (default: all but ncu_models)
# Writes under $OUT (at most 8 files come back): log.txt plus one file per stage.
set -u
STAGES=${1:-env,models,kernels,ncu_kernels,power,queue}
BUDGET=${BUDGET:-570}
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
cd "$(dirname "$0")"
LOG=$OUT/log.txt
METRICS=gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum,lts__t_sector_hit_rate.pct,sm__throughput.avg.pct_of_peak_sustained_elapsed,sm__cycles_elapsed.avg.per_second
NCU="ncu --clock-control none --profile-from-start off --csv --page raw --print-units base"

stage() {  # stage NAME MAXSECONDS CMD...
  local name=$1 max=$2; shift 2
  case ",$STAGES," in *",$name,"*) ;; *) return ;; esac
  local left=$((BUDGET - SECONDS))
  local t=$(( max < left ? max : left ))
  if [ "$t" -le 5 ]; then echo "### $name SKIPPED (no time left)" | tee -a "$LOG"; return; fi
  echo "### $name start $(date -u +%FT%TZ) limit ${t}s (elapsed ${SECONDS}s)" | tee -a "$LOG"
  timeout "$t" "$@" 2>&1 | tee -a "$LOG"
  echo "### $name end rc=${PIPESTATUS[0]} elapsed ${SECONDS}s" | tee -a "$LOG"
}

stage idle_nocontext 20 python3 power.py idle-nocontext "$OUT/idle_nocontext.json"
stage env 30 bash -c 'date -u; nvidia-smi; nvidia-smi -q -d CLOCK,POWER,PERFORMANCE | head -120; ncu --version; nvcc --version | tail -2; python3 -c "import torch,torchvision;print(torch.__version__,torchvision.__version__,torch.version.cuda,torch.backends.cudnn.version())"'
stage models 220 python3 models.py time "$OUT/models_time.json"
stage kernels 100 python3 kernels.py time "$OUT/kernels_time.json"
stage ncu_kernels 200 $NCU --metrics $METRICS --log-file "$OUT/ncu_kernels.csv" python3 kernels.py profile "$OUT/ncu_kernels_order.json"
stage power 80 python3 power.py "$OUT/power.json"
stage queue 60 bash -c "nvcc -O3 -arch=sm_90 -o /tmp/queue queue.cu && /tmp/queue > /tmp/queue.jsonl; cat /tmp/queue.jsonl"
stage ncu_models 400 $NCU --metrics gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum --log-file "$OUT/ncu_models.csv" python3 models.py profile "$OUT/ncu_models_order.json" "${NCU_MODELS:-}"
stage ncu_kernels_warm 150 $NCU --cache-control none --metrics $METRICS --log-file "$OUT/ncu_kernels_warm.csv" python3 kernels.py profile "$OUT/ncu_kernels_order.json"
stage kernels_rep 60 python3 kernels.py time "$OUT/kernels_time_rep.json"
stage models_rep 120 python3 models.py time "$OUT/models_time_rep.json"
stage ncu_kernels_warm1 150 $NCU --cache-control none --metrics gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum --log-file "$OUT/ncu_kernels_warm1.csv" python3 kernels.py profile "$OUT/ncu_kernels_order.json"
stage copy_profile 60 python3 copy_profile.py "$OUT/copy_profile.json"
stage queue1024 60 bash -c "nvcc -O3 -arch=sm_90 -o /tmp/queue queue.cu && /tmp/queue 1024 > /tmp/queue1024.jsonl; cat /tmp/queue1024.jsonl"
echo "### all done elapsed ${SECONDS}s" | tee -a "$LOG"
