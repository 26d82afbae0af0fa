"""Merge an Nsight Compute CSV log (ncu --csv --page raw --print-units base) into a timing JSON.

    python3 merge_ncu.py TIMING.json NCU.csv ORDER.json OUT.json [--about TEXT]

The profiled program launches a marker kernel ('spin_kernel', torch.cuda._sleep) right before
each case's profiled call; ORDER.json lists the case ids in the order they were profiled.
Runs without torch.
"""
import csv
import io
import json
import sys

MET = {
    "ns": "gpu__time_duration.sum",
    "dram_read": "dram__bytes_read.sum",
    "dram_write": "dram__bytes_write.sum",
    "l2_hit_pct": "lts__t_sector_hit_rate.pct",
    "sm_pct": "sm__throughput.avg.pct_of_peak_sustained_elapsed",
    "sm_hz": "sm__cycles_elapsed.avg.per_second",
}


def num(s):
    s = (s or "").replace(",", "").strip().strip('"')
    try:
        return float(s)
    except ValueError:
        return None


def read_ncu(path):
    text = open(path, errors="replace").read()
    lines = text.splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith('"ID"'))
    rows = list(csv.DictReader(io.StringIO("\n".join(lines[start:]))))
    out = []
    for r in rows:
        if not (r.get("ID") or "").strip().isdigit():
            continue  # units row
        name = r.get("Kernel Name", "")
        k = {"name": name.replace("at::", "")[:128], "grid": r.get("Grid Size"), "block": r.get("Block Size")}
        for key, m in MET.items():
            k[key] = num(r.get(m))
        out.append(k)
    return out


def segments(kernels):
    segs, cur = [], None
    for k in kernels:
        if "spin_kernel" in k["name"]:
            cur = []
            segs.append(cur)
        elif cur is not None:
            cur.append(k)
    return segs


def merge(timing, kernels, order, key="case"):
    segs = segments(kernels)
    by_case = {cid: segs[i] for i, cid in enumerate(order) if i < len(segs)}
    for c in timing["cases"]:
        ks = by_case.get(c.get(key))
        if ks is None:
            continue
        c["kernels"] = ks
        c["kernel_ns_sum"] = sum(k["ns"] or 0 for k in ks)
        c["dram_bytes_sum"] = sum((k["dram_read"] or 0) + (k["dram_write"] or 0) for k in ks)
    return timing


if __name__ == "__main__":
    t = json.load(open(sys.argv[1]))
    ks = read_ncu(sys.argv[2])
    order = json.load(open(sys.argv[3]))
    merged = merge(t, ks, order)
    json.dump(merged, open(sys.argv[4], "w"), indent=1)
    print(f"{len(ks)} kernel rows, {len(segments(ks))} segments, {len(order)} cases profiled")
