#!/usr/bin/env bash
# Issue 15 measurements, on the device machine. Usage (from the folder holding these scripts):
#   BUDGET=550 bash run_fid2.sh STAGES
# STAGES: comma list of env,kernels,models,models_energy,power,ncu_kernels_h,ncu_kernels_c,ncu_kernels_new,ncu_models
# (run 3 = the second machine: env,kernels,models,models_energy,ncu_kernels_new,ncu_models with
#  NCU_MODELS='resnet50_training_f2m6 resnet50_training_f2m7': the cases added after run 1, and repeats of all)
# Raw outputs go to /tmp/fid2raw and are packed into $OUT/raw.tgz after every stage (so a run cut
# short still returns what it finished); log.txt beside it.
set -u
STAGES=${1:-env,kernels,models,models_energy,power,ncu_kernels_h,ncu_kernels_c,ncu_models}
BUDGET=${BUDGET:-550}
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
RAW=/tmp/fid2raw; mkdir -p "$RAW"
export PYTHONUNBUFFERED=1
cd "$(dirname "$0")"
LOG=$OUT/log.txt
METRICS=gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum,lts__t_sector_hit_rate.pct,sm__throughput.avg.pct_of_peak_sustained_elapsed,sm__cycles_elapsed.avg.per_second
NCU="ncu --clock-control none --profile-from-start off --csv --page raw --print-units base"

pack() { tar czf "$OUT/raw.tgz.tmp" -C /tmp fid2raw && mv "$OUT/raw.tgz.tmp" "$OUT/raw.tgz"; }
stage() {  # stage NAME MAXSECONDS CMD...
  local name=$1 max=$2; shift 2
  case ",$STAGES," in *",$name,"*) ;; *) return ;; esac
  local left=$((BUDGET - SECONDS))
  local t=$(( max < left ? max : left ))
  if [ "$t" -le 5 ]; then echo "### $name SKIPPED (no time left)" | tee -a "$LOG"; return; fi
  echo "### $name start $(date -u +%FT%TZ) limit ${t}s (elapsed ${SECONDS}s)" | tee -a "$LOG"
  timeout "$t" "$@" 2>&1 | tee -a "$LOG"
  echo "### $name end rc=${PIPESTATUS[0]} elapsed ${SECONDS}s" | tee -a "$LOG"
  pack
}

stage env 30 bash -c 'date -u; nvidia-smi; nvidia-smi -q -d CLOCK,POWER,PERFORMANCE | head -80; ncu --version; nvcc --version | tail -2; python3 -c "import torch,torchvision;print(torch.__version__,torchvision.__version__,torch.version.cuda,torch.backends.cudnn.version())"'
stage kernels 200 python3 fid2_kernels.py time "$RAW/kernels_time.json"
stage models 150 python3 fid2_models.py time "$RAW/models_time.json"
stage models_energy 100 python3 fid2_models.py energy "$RAW/models_energy.json"
stage power 90 python3 fid2_power.py "$RAW/power.json"
stage ncu_kernels_h 120 $NCU --metrics $METRICS --log-file "$RAW/ncu_kernels_heldout2.csv" python3 fid2_kernels.py profile "$RAW/ncu_kernels_order_heldout2.json" heldout2
stage ncu_kernels_c 150 $NCU --metrics $METRICS --log-file "$RAW/ncu_kernels_cal.csv" python3 fid2_kernels.py profile "$RAW/ncu_kernels_order_cal.json" cal
stage ncu_kernels_new 120 $NCU --metrics $METRICS --log-file "$RAW/ncu_kernels_new.csv" python3 fid2_kernels.py profile "$RAW/ncu_kernels_order_new.json" cal "${NEW_IDS:-F2-K89,F2-K90,F2-K91,F2-K92,F2-K93,F2-K94,F2-K95,F2-K96,F2-K97,F2-K98,F2-K99,F2-K100,F2-K101,F2-K102}"
# one ncu process per model (a process cut short by its limit loses only its own model)
case ",$STAGES," in *",ncu_models,"*) MODELS_NCU=1 ;; *) MODELS_NCU=0 ;; esac
[ "$MODELS_NCU" = 1 ] && for name in ${NCU_MODELS:-llama_inference_h2m5 llama_inference_h2m4 bert_inference_h2m0 resnet50_inference_h2m2 bert_inference_h2m1 resnet50_inference_h2m3 bert_training_h2m7 bert_training_h2m6 bert_training_f2m0 bert_training_f2m3 bert_training_f2m1 bert_training_f2m4 bert_training_f2m2 bert_training_f2m5}; do
  STAGES="$STAGES,ncu_$name" stage "ncu_$name" 60 $NCU --metrics gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum --log-file "$RAW/ncu_model_$name.csv" python3 fid2_models.py profile "$RAW/ncu_model_order_$name.json" "$name"
done
echo "### all done elapsed ${SECONDS}s" | tee -a "$LOG"
pack
