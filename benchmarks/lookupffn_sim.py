"""LookupFFN simulated: FLOPs per token, dense vs LookupFFN on the CPU and GPU models, the
table-size sweep, and the token-major vs table-major tiled gather-add.

    python benchmarks/lookupffn_sim.py [--tokens 32768] [--sweep-tokens 32768] [--cpu xeon-host]
        [--gpu h200] [--no-gpu] [--no-cpu] [--no-sweep] [--out benchmarks/data/lookupffn_sim.json]

Everything runs on whatever CPU and GPU models the checkout has (it says which CPU model it
found: the docstring's first line of archsim.hw.cpu.model). fp32 throughout on the CPU (as the
paper's CPU inference); on the H200, fp32 too (the dense GEMMs then run on the SIMT pipe, TF32
off, as PyTorch's default) — pass --gpu-dtype bf16 for tensor-core GEMMs.
Cold start (nothing cached) for every run.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from archsim.config import load_config  # noqa: E402
from archsim.graph import build_workload  # noqa: E402
from archsim.simulate import simulate  # noqa: E402
from workloads.lookupffn import ffn_flops  # noqa: E402

FLOP_CASES = {"dense 512-2048-512": "ffn='dense'", "t128-bh4": "tables=128, projection='bh4'",
              "t64-bh4": "tables=64, projection='bh4'", "t128-dense": "tables=128, projection='dense'"}


def run(spec: str, cfg) -> dict:
    g = build_workload(spec)
    t = time.perf_counter()
    r = simulate(g, cfg)
    hit, miss = r.l2_hit_bytes, r.dram_read_bytes
    gather = [o for o in r.ops if o.kind == "gather_add"]
    return {"spec": spec, "time_s": r.time_s, "dram_read": miss, "dram_write": r.dram_write_bytes,
            "cache_hit_bytes": hit, "hit_rate": hit / (hit + miss) if hit + miss else 0.0,
            "gather_s": sum(o.time_s for o in gather),
            "gather_hit_rate": (sum(o.l2_hit_bytes for o in gather) /
                                max(1, sum(o.l2_hit_bytes + o.dram_read_bytes for o in gather))),
            "gather_dram": sum(o.dram_read_bytes for o in gather),
            "levels": levels(r.counters),
            "sim_wall_s": time.perf_counter() - t}


def levels(counters: dict) -> dict[str, float]:
    """Hit rate per cache level, where the model reports accesses and hits per level (the
    line-granular CPU model does: l1, l2, llc; the v1 model reports none)."""
    return {lv: counters[f"{lv}.hits"] / counters[f"{lv}.accesses"]
            for lv in ("l1", "l2", "llc")
            if counters.get(f"{lv}.accesses")}


def fmt_levels(r: dict) -> str:
    lv = r["levels"]
    if not lv:
        return f"{100 * r['hit_rate']:.0f}%"
    return "/".join(f"{100 * lv[k]:.0f}" for k in ("l1", "l2", "llc") if k in lv) + "%"


def fmt_mib(b: float) -> str:
    return f"{b / 2**20:,.0f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=32768)
    ap.add_argument("--sweep-tokens", type=int, default=32768)
    ap.add_argument("--cpu", default="xeon-host")
    ap.add_argument("--gpu", default="h200")
    ap.add_argument("--gpu-dtype", default="fp32")
    ap.add_argument("--no-gpu", action="store_true")
    ap.add_argument("--no-sweep", action="store_true")
    ap.add_argument("--no-cpu", action="store_true", help="the GPU model only")
    ap.add_argument("--sweep-tables", type=int, nargs="+", default=[64, 128, 256])
    ap.add_argument("--no-blocks", action="store_true",
                    help="skip the FFN-block and layer tables (the sweep alone)")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "data" / "lookupffn_sim.json"))
    args = ap.parse_args(argv)
    import archsim.hw.cpu.model as cpu_model
    cpu = load_config(REPO / "hwconfigs" / f"{args.cpu}.yaml")
    machines = {} if args.no_cpu else {"cpu": (cpu, "fp32")}
    if not args.no_gpu:
        machines["gpu"] = (load_config(REPO / "hwconfigs" / f"{args.gpu}.yaml"), args.gpu_dtype)
    print(f"CPU model: {cpu_model.__doc__.strip().splitlines()[0]}  [{cpu.name}]")
    out: dict = {"tokens": args.tokens, "cpu_model": cpu_model.__doc__.strip().splitlines()[0]}

    print("\nFLOPs per token (from the graphs; 'paper' = GEMM multiply-adds x 2 + FWHT + gather-add,"
          " the paper's count; 'all' adds bias, GELU, code/score, BH4 mix):")
    print("| FFN | paper MFLOP | reduction | all-ops MFLOP | reduction |")
    print("|---|---:|---:|---:|---:|")
    flops = {k: ffn_flops(build_workload(f"lookupffn(tokens=1, {v})")) for k, v in FLOP_CASES.items()}
    base = flops["dense 512-2048-512"]
    for k, f in flops.items():
        print(f"| {k} | {f['paper'] / 1e6:.3f} | {base['paper'] / f['paper']:.2f}x | "
              f"{f['all'] / 1e6:.3f} | {base['all'] / f['all']:.2f}x |")
    out["flops"] = flops

    n = args.tokens
    blocks = {"dense FFN": f"lookupffn(tokens={n}, ffn='dense', dtype='{{dt}}')",
              "t128-bh4 token-major": f"lookupffn(tokens={n}, order='token', dtype='{{dt}}')",
              "t128-bh4 tiled (64 tok)": f"lookupffn(tokens={n}, order='table', dtype='{{dt}}')",
              "t64-bh4 tiled (64 tok)": f"lookupffn(tokens={n}, tables=64, order='table', "
                                        f"dtype='{{dt}}')"}
    layer_b, layer_s = max(1, n // 512), 512
    layer = {"dense FFN": f"roberta-small(batch={layer_b}, seq={layer_s}, layers=1, dtype='{{dt}}')",
             "t128-bh4 token-major": f"roberta-small(batch={layer_b}, seq={layer_s}, layers=1, "
                                     f"ffn='lookup', dtype='{{dt}}')",
             "t128-bh4 tiled (64 tok)": f"roberta-small(batch={layer_b}, seq={layer_s}, layers=1, "
                                        f"ffn='lookup', order='table', dtype='{{dt}}')"}
    for mname, (cfg, dt) in ({} if args.no_blocks else machines).items():
        for title, cases in (("FFN block", blocks), ("RoBERTa-small layer", layer)):
            print(f"\n{title}, {n} tokens, {cfg.name} ({dt}):")
            print("| variant | time ms | µs/token | speedup vs dense | DRAM read MiB | "
                  "cache hit rate | gather-add ms | gather DRAM MiB | gather hit rate | "
                  "L1/L2/LLC hits |")
            print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
            res = {k: run(v.format(dt=dt), cfg) for k, v in cases.items()}
            d0 = res["dense FFN"]["time_s"]
            for k, r in res.items():
                print(f"| {k} | {r['time_s'] * 1e3:.2f} | {r['time_s'] / n * 1e6:.4f} | "
                      f"{d0 / r['time_s']:.2f}x | {fmt_mib(r['dram_read'])} | "
                      f"{100 * r['hit_rate']:.0f}% | {r['gather_s'] * 1e3:.2f} | "
                      f"{fmt_mib(r['gather_dram'])} | {100 * r['gather_hit_rate']:.0f}% | "
                      f"{fmt_levels(r) if r['levels'] else '-'} |")
            out[f"{mname}:{title}"] = res
            save(out, args.out)

    sweep = []
    for mname, (cfg, _) in machines.items():
        caches = (f"L2 {cfg.l2.size // 2**20} MiB/core, L3 {cfg.l3.size // 2**20} MiB"
                  if mname == "cpu" else f"L2 {cfg.l2.size // 2**20} MiB")
        print(f"\nTable-size sweep, gather-add alone, {args.sweep_tokens} tokens, {cfg.name} "
              f"({caches}), fp32:")
        print("'hit' = hit rate per level (L1/L2/LLC of all accesses to that level) where the "
              "model reports it, else the last-level cache's (the GPU's L2)")
        print("| tables | rows | table set MiB | one table KiB | rows drawn | "
              "token-major ms | hit | DRAM MiB | tiled ms | hit | DRAM MiB | tiled speedup |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for h in (() if args.no_sweep else args.sweep_tables):
            for bits in range(6, 11):
                r = {o: run(f"lookupffn(tokens={args.sweep_tokens}, tables={h}, "
                            f"table_bits={bits}, part='gather', order='{o}', dtype='fp32')", cfg)
                     for o in ("token", "table")}
                g = build_workload(r["token"]["spec"])
                op = [o for o in g.ops if o.kind == "gather_add"][0]
                tb = h * (1 << bits) * 512 * 4
                print(f"| {h} | {1 << bits} | {fmt_mib(tb)} | {(1 << bits) * 2:,} | "
                      f"{op.attrs['rows_drawn']:,} | "
                      f"{r['token']['time_s'] * 1e3:.2f} | {fmt_levels(r['token'])} | "
                      f"{fmt_mib(r['token']['dram_read'])} | {r['table']['time_s'] * 1e3:.2f} | "
                      f"{fmt_levels(r['table'])} | {fmt_mib(r['table']['dram_read'])} | "
                      f"{r['token']['time_s'] / r['table']['time_s']:.2f}x |", flush=True)
                sweep.append({"machine": cfg.name, "tables": h, "bits": bits,
                              "table_bytes": tb, **r})
                out["sweep"] = sweep
                save(out, args.out)
    out["sweep"] = sweep
    save(out, args.out)
    print(f"\nwrote {args.out}")
    return 0


def save(out: dict, path: str) -> None:
    """Write what has run so far (after every table: a long run stopped early keeps it)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(".tmp")
    tmp.write_text(json.dumps(out, indent=1, default=str))
    tmp.replace(p)


if __name__ == "__main__":
    sys.exit(main())
