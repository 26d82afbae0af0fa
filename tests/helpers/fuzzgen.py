"""Generators of hostile and odd inputs for archsim: machine YAML, --set lists, workload specs.

Shared by the hypothesis fuzz suite (tests/fuzz) and benchmarks/fuzz.py (each case in a child
process with a deadline). Every generator takes a `random.Random`, so a case is reproducible
from its seed. A case is a CLI argv (plus files to write first); archsim must answer it with
exit 0 or exit 2 and one line — never a traceback (exit 1), a crash or a hang.
"""
from __future__ import annotations

import random
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
H200 = ROOT / "hwconfigs" / "h200.yaml"

# the keys of the GPU and CPU schemas, a few typos, and sections
GPU_KEYS = ["name", "clocks.boost", "clocks.base", "clocks.min", "clocks.tensor_boost",
            "sm.count", "sm.max_ctas", "sm.max_threads", "sm.registers", "sm.shared_memory",
            "sm.tensor_flops_per_cycle.bf16", "sm.tensor_flops_per_cycle.fp8",
            "sm.simt_flops_per_cycle.fp32", "sm.simt_lanes", "sm.load_store_bytes_per_cycle",
            "sm.tma_bytes_per_cycle", "sm.lsu_bytes_per_cycle", "sm.miss_bytes_per_cycle",
            "sm.gemm_tile_overhead", "sm.mma_step_overhead", "l2.size", "l2.line", "l2.sector",
            "l2.ways", "l2.partitions", "l2.bandwidth", "l2.latency", "hbm.size",
            "hbm.peak_bandwidth", "hbm.bandwidth", "hbm.channels", "hbm.interleave",
            "hbm.latency", "crossbar.bandwidth", "power.cap", "power.idle", "power.static",
            "power.voltage_exponent", "launch.overhead", "launch.cta_launch", "launch.tma_setup",
            "launch.copy_engine_bandwidth", "launch.kernel_fixed", "energy.dram_byte",
            "energy.l2_byte", "energy.tensor_flop", "kind", "clocks", "l2", "sm.count.x",
            "l2.szie", "hbm.bandwith", "clock.boost", "extends", "", ".", "a..b", "l2.size "]
CPU_KEYS = ["cores.count", "cores.clock", "cores.simd_flops_per_cycle.fp32",
            "cores.efficiency.gemm", "cores.fork_join", "l1.size", "l2.bandwidth", "l3.size",
            "dram.bandwidth", "dram.latency", "power.idle", "power.static", "energy.dram_byte",
            "cores.cuont"]
UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "KB", "MB", "GB", "TB/s", "GB/s", "B/s", "GHz",
         "MHz", "Hz", "mHz", "ns", "us", "ms", "s", "ps", "W", "kW", "pJ", "nJ", "J", "Mb",
         "bits", "", "%"]
WORKLOADS = ["gemm", "add", "mul", "gelu", "relu", "elementwise", "mul_add", "softmax",
             "layernorm", "reduce", "attention", "conv2d", "gather", "scatter_add", "copy",
             "transpose", "pool", "bert-base", "llama3-8b", "resnet50", "cg", "jacobi", "amp",
             "vamp", "cg-vamp", "tumour-stiff", "tumour-scan", "gemn", "nope", "bert_base"]
PARAMS = ["M", "N", "K", "n", "rows", "cols", "B", "H", "S", "D", "C", "W", "R", "stride",
          "pad", "batch", "arity", "fn", "dtype", "table_rows", "dim", "window", "seq",
          "layers", "iters", "ratio", "rho", "N", "k", "n_steps", "n_points", "causal", "Skv",
          "Hkv", "phase", "context", "seed", "snr_db", "operator", "tau", "zz"]
SMALL_WORKLOADS = ["add(n=4096)", "gemm(M=64, N=64, K=64)", "softmax(rows=64, cols=128)",
                   "bert-base(batch=1, seq=32, layers=1)", "attention(B=1, H=2, S=64, D=32)"]


def number(rng: random.Random):
    """A number from an adversarial mix: zero, negatives, huge, tiny, non-finite, fractions."""
    choice = rng.randrange(10)
    if choice == 0:
        return rng.choice([0, -1, 1, 2, 3, 7, 2**31, 2**63, 2**64 + 1, 10**30, -10**12])
    if choice == 1:
        return rng.choice([0.0, -0.0, 1e-30, 1e30, 1e308, -1e-300, 0.5, 1.5, 3.14])
    if choice == 2:
        return 10 ** rng.uniform(-3, 18)
    if choice == 3:
        return rng.randrange(-10, 10**rng.randrange(1, 16))
    return rng.randrange(1, 4096)


def scalar_text(rng: random.Random) -> str:
    """A YAML scalar as text: numbers with or without units, junk, control characters."""
    c = rng.randrange(14)
    if c < 6:
        unit = rng.choice(UNITS)
        sep = rng.choice(["", " ", "  "])
        return f"{number(rng)!r}{sep}{unit}".replace("inf", "1e999")
    if c == 6:
        return rng.choice([".nan", ".inf", "-.inf", "null", "~", "true", "no", "0x1F", "010",
                           "1_000", "1e9", "'64'", '"1 GHz"', "[]", "{}", "[1, 2]", "{a: 1}"])
    if c == 7:
        return "".join(rng.choice("abc \t\x00\x01\x1b\x7f\u2028\ufeff:#{}[]&*!|>'\"%@`")
                       for _ in range(rng.randrange(1, 12)))
    if c == 8:
        return "!!python/object/apply:os.system ['true']"
    if c == 9:
        depth = rng.randrange(1, 200)
        return "[" * depth + "1" + "]" * depth
    if c == 10:
        return "*undefined_alias"
    if c == 11:
        return rng.choice(["1e30 B", "1e-30 GHz", "1e15 us", "4GiB", "0 MHz", "-5 W", "4.8",
                           "1.5 B", "7 pJ/B", "4.8 TB", "1 GHz Hz"])
    if c == 12:
        return str(rng.randrange(0, 10**rng.randrange(1, 40)))
    return "x" * rng.randrange(0, 300)


def yaml_config(rng: random.Random) -> str:
    """h200.yaml with a few lines mutated, or a small hand-made hostile document."""
    c = rng.randrange(8)
    if c == 0:  # an alias bomb of random size
        depth, width = rng.randrange(2, 9), rng.randrange(2, 10)
        lines = ["a0: &a0 [" + ", ".join(["x"] * width) + "]"]
        for i in range(1, depth):
            lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
        return "\n".join(lines) + "\n"
    if c == 1:  # deep nesting in block or flow style
        depth = rng.randrange(10, 3000)
        if rng.random() < 0.5:
            return "x: " + "{a: " * depth + "1" + "}" * depth + "\n"
        return "".join("  " * i + f"k{i}:\n" for i in range(min(depth, 400))) + "  " * 400 + "v\n"
    if c == 2:
        return rng.choice(["extends: /dev/zero\n", "extends: /dev/null\n", "extends: /\n",
                           "extends: [h200.yaml, h200.yaml]\n", "extends: 5\n",
                           f"extends: {H200}\nl2: {{line: 4 GiB}}\n", "", "\x00\x00",
                           "---\na: 1\n---\nb: 2\n", "- 1\n- 2\n", "name: [\n",
                           "\ufeffname: x\n", "kind: cpu\n", "kind: tpu\n"])
    lines = H200.read_text().splitlines()
    for _ in range(rng.randrange(1, 6)):
        i = rng.randrange(len(lines))
        line = lines[i]
        op = rng.randrange(5)
        if op == 0 and ":" in line:  # replace the value
            key = line.split(":", 1)[0]
            lines[i] = f"{key}: {scalar_text(rng)}"
        elif op == 1:
            del lines[i]
        elif op == 2:  # an unknown or misspelt key at this indentation
            indent = line[: len(line) - len(line.lstrip())]
            lines.insert(i, f"{indent}{rng.choice(['sise', 'bogus', 'line', 'count', '1', 'yes'])}: 1")
        elif op == 3:  # break indentation
            lines[i] = " " * rng.randrange(0, 7) + line.lstrip()
        else:
            lines[i] = line + rng.choice([" &anchor", " *anchor", " !!binary", " # ok", " :", " {"])
    return "\n".join(lines) + "\n"


PLAUSIBLE_GPU = {"l2.size": "MiB", "hbm.bandwidth": "TB/s", "hbm.peak_bandwidth": "TB/s",
                 "clocks.boost": "GHz", "sm.count": "", "l2.ways": "", "power.cap": "W",
                 "launch.overhead": "us", "l2.bandwidth": "TB/s", "energy.dram_byte": "pJ"}
PLAUSIBLE_CPU = {"cores.count": "", "cores.clock": "GHz", "dram.bandwidth": "GB/s",
                 "l3.size": "MiB"}


def set_list(rng: random.Random, cpu: bool = False) -> list[str]:
    keys = CPU_KEYS if cpu else GPU_KEYS
    out = []
    if rng.random() < 0.4:  # well-formed what-ifs: exercise the models, not just the checker
        table = PLAUSIBLE_CPU if cpu else PLAUSIBLE_GPU
        for key in rng.sample(sorted(table), rng.randrange(1, 3)):
            v = rng.choice([1, 2, 4, 8, 16, 32, 64, 100, 132, 200, 700])
            out.append(f"{key}={v}{table[key]}" if table[key] else f"{key}={v}")
        return out
    for _ in range(rng.randrange(1, 5)):
        key = rng.choice(keys)
        if rng.random() < 0.05:
            out.append(key)  # no '='
        else:
            out.append(f"{key}={scalar_text(rng)}")
    return out


def literal(rng: random.Random) -> str:
    c = rng.randrange(12)
    if c < 5:
        return repr(number(rng)).replace("inf", "1e999")
    if c == 5:
        return rng.choice(["'64'", "'bf16'", "'fp8'", "'bf17'", "'decode'", "'prefill'", "'add'",
                           "'gaussian'", "'dct'", "None", "True", "False", "(1, 2)", "[3]", "{}",
                           "1+2j", "''", "'x' * 3", "b'1'"])
    if c == 6:
        return f"{rng.randrange(2, 12)}**{rng.randrange(0, 70)}"
    if c == 7:
        return f"{rng.randrange(1, 10**6)}*{rng.randrange(1, 10**6)}"
    if c == 8:
        return "__import__('os').system('true')"
    if c == 9:
        return "(" * rng.randrange(1, 300) + "1" + ")" * rng.randrange(1, 300)
    if c == 10:
        return "float('nan')"
    return str(rng.randrange(1, 512))


WELL_FORMED = {"gemm": "M N K", "add": "n", "softmax": "rows cols", "layernorm": "rows cols",
               "attention": "B H S D", "conv2d": "N C K H W R", "copy": "n",
               "transpose": "rows cols", "gather": "table_rows dim n", "reduce": "rows cols",
               "pool": "N C H W"}


TRACED = {"cg", "jacobi", "amp", "vamp", "cg-vamp", "tumour-stiff", "tumour-scan"}


def workload_spec(rng: random.Random, names: list[str] | None = None) -> str:
    if rng.random() < 0.3:  # well-formed, small to mid-sized: exercise the lowering and models
        name = rng.choice(sorted(WELL_FORMED))
        args = ", ".join(f"{p}={rng.choice([1, 2, 3, 7, 16, 64, 100, 256, 1000, 4096])}"
                         for p in WELL_FORMED[name].split())
        return f"{name}({args})"
    name = rng.choice(names or WORKLOADS)
    if rng.random() < 0.05:
        return rng.choice(["", "(", "gemm(", "gemm(M=1,,)", "gemm(4096)", "gemm(**{})",
                           "gemm(M=1)(N=2)", "9x", "gemm(M=1, M=1, N=1, K=1)", "a\x00b()",
                           "gemm(M=64,N=64,K=64" + ")" * 50])
    kw = []
    for _ in range(rng.randrange(0, 7)):
        kw.append(f"{rng.choice(PARAMS)}={literal(rng)}")
    return f"{name}({', '.join(kw)})"


def case(rng: random.Random, tmpdir: Path) -> tuple[str, list[str], dict[str, str]]:
    """(kind, argv, files): files (name -> text) are written into tmpdir before the run."""
    kind = rng.choice(["yaml", "yaml", "set", "set", "spec", "spec", "spec"])
    cap = ["--max-work", "5e11"]  # keeps a valid random case to seconds of simulation
    if kind == "yaml":
        text = yaml_config(rng)
        path = tmpdir / "fuzz.yaml"
        if rng.random() < 0.7:
            return kind, ["validate", str(path)], {"fuzz.yaml": text}
        return kind, ["run", "-q", "--hw", str(path), "-w", rng.choice(SMALL_WORKLOADS)] + cap, \
            {"fuzz.yaml": text}
    if kind == "set":
        cpu = rng.random() < 0.25
        hw = "xeon-host" if cpu else "h200"
        argv = ["run", "-q", "--hw", hw, "-w", rng.choice(SMALL_WORKLOADS)] + cap
        for s in set_list(rng, cpu):
            argv += ["--set", s]
        if rng.random() < 0.1:
            argv += ["--seed", str(rng.choice([-1, 0, 2**64, "x"]))]
        return kind, argv, {}
    hw = rng.choice(["h200", "h200", "a100", "xeon-host"])
    argv = ["run", "-q", "--hw", hw, "-w", workload_spec(rng)] + cap
    if rng.random() < 0.1:
        argv += ["--mode", "training"]
    return kind, argv, {}
