"""Schema of a CPU machine (`kind: cpu`): many cores with SIMD units, a cache hierarchy, DRAM.

The CPU model in archsim.hw.cpu reads it. Rates are per core per cycle; an FMA counts 2 flops.
"""
from __future__ import annotations

from dataclasses import dataclass

from archsim.config.params import param, section


@dataclass(frozen=True, kw_only=True)
class CoreConfig:
    count: int = param("cores the workload runs on", ge=1, le=1_000_000)
    clock: float = param("sustained all-core clock under vector load", "Hz", ge=1e6, le=1e11)
    simd_flops_per_cycle: dict = param(
        "SIMD flops per core per cycle by dtype (vector width x FMA units x 2)", default={},
        gt=0, le=1e6)
    matrix_flops_per_cycle: dict = param(
        "matrix-engine flops per core per cycle by dtype (e.g. AMX); GEMMs only", default={},
        gt=0, le=1e6)
    efficiency: dict = param(
        "fraction of the pipe's peak a loop of each class sustains (gemm, elementwise, "
        "reduction, other)", default={}, gt=0, le=1)
    elementwise_cycles: dict = param(
        "cycles per element one core spends on an elementwise function that a library computes "
        "with a polynomial or table (e.g. tanh, exp), keyed by function ('tanh') or function and "
        "dtype ('tanh.fp32'); replaces the flop count for those functions. Measure it on an "
        "array resident in L2 (the function's own cost, no memory stream). Unset: every function "
        "costs its flops at the elementwise rate", default={}, ge=0, le=1e4)
    fork_join: float = param("time to start and join a parallel loop over the cores", "s",
                             default=2e-6, ge=0, le=1e-3)
    call_overhead: float = param(
        "host time to start each loop before its cores run it: an eager library's per-call "
        "dispatch (numpy or PyTorch eager: argument checks, iterator and output setup); 0 for a "
        "compiled program", "s", default=0.0, ge=0, le=1e-2)
    write_allocate: bool = param(
        "a store that misses reads its line first (read-for-ownership), except in copy loops, "
        "which use streaming stores as memcpy does", default=True)
    outstanding: int = param(
        "LLC requests (one per step: a bundle of lines) a core may have in flight; the core's "
        "link to the LLC holds this many, so a busy LLC or DRAM back-pressures the core",
        default=2, ge=1)
    demand_lines: int = param(
        "lines a core keeps in flight below its L2 for random-row (gather) misses, which no "
        "stream prefetcher covers; by Little's law each in-flight line is held for one round "
        "trip (LLC latency, plus DRAM latency on an LLC miss). 0: no limit (rows stream at the "
        "bandwidth of the levels below)", default=0, ge=0, le=4096)
    max_steps: int = param(
        "steps a core cuts its share of one parallel loop into, at most (the event "
        "granularity: each step is one LLC request and one compute interval)", default=16, ge=1)
    step_bytes: int = param(
        "largest step, in bytes it touches: big loops are cut finer than max_steps so the "
        "last step's execution after its data arrives (the loop's tail) stays short",
        "B", default=512 * 1024, gt=0)


@dataclass(frozen=True, kw_only=True)
class CacheLevelConfig:
    # <= 2 GiB: the largest shipping caches are ~1.1 GiB (a 3D-stacked server L3), and the
    # line-granular model keeps per-line state (a 1 TiB "L1" asked for 128 GiB: fuzz seed 4749)
    size: int = param("capacity (per core for private levels, total for shared ones)", "B", gt=0,
                      le=2**31)
    bandwidth: float = param("sustained bandwidth (per core for private levels, total for "
                             "shared ones)", "B/s", gt=0, le=1e16)
    shared: bool = param("shared by all cores (else private per core)", default=False)
    ways: int = param("associativity", default=16, ge=1, le=1024)
    line: int = param("line size", "B", default=64, choices=(64,))
    latency: float = param("load-to-use latency of a hit (one per request bundle)", "s",
                           default=0.0, ge=0)
    replacement: str = param("replacement policy", default="lru", choices=("lru", "fifo", "random"))
    prefetch: str = param("built-in hardware prefetcher", default="none",
                          choices=("none", "next_line", "stride"))
    prefetch_degree: int = param("lines a prefetcher fetches ahead per trigger", default=1, ge=1, le=64)


@dataclass(frozen=True, kw_only=True)
class DramConfig:
    size: int = param("memory capacity", "B", gt=0, le=2**50)
    bandwidth: float = param("achievable bandwidth (all cores streaming)", "B/s", gt=0, le=1e16)
    latency: float = param("idle load-to-use latency", "s", gt=0, le=1e-3)
    channels: int = param("independent channels, each with its own queue; lines interleave "
                          "over them by a hash of the line address", default=8, ge=1, le=4096)
    queue: int = param("requests the memory controller holds (queued or in service); a full "
                       "queue back-pressures the LLC", default=16, ge=1, le=1 << 20)
    first_touch: float = param(
        "core time per 4 KiB page the first time a program writes fresh memory (the OS's page "
        "fault and zeroing; an allocation a library returns to the OS when freed, as glibc does "
        "with large ones, is fresh on every run). Charged to the loop that first writes an "
        "output on pages the program never used before; 0: not modelled", "s", default=0.0,
        ge=0, le=1e-3)


@dataclass(frozen=True, kw_only=True)
class CpuPowerConfig:
    idle: float = param("package + memory power with the cores idle", "W", ge=0, le=1e5)
    static: float = param("extra power while cores run (leakage, uncore at load)", "W", ge=0,
                          le=1e5)


@dataclass(frozen=True, kw_only=True)
class CpuConfig:
    name: str = param("machine name")
    kind: str = param("machine kind", default="cpu", choices=("cpu",))
    cores: CoreConfig = section("cores")
    l1: CacheLevelConfig = section("first-level data cache")
    l2: CacheLevelConfig = section("second-level cache")
    l3: CacheLevelConfig = section("last-level cache")
    dram: DramConfig = section("main memory")
    power: CpuPowerConfig = section("power")
    energy: dict = param("energy per action, keyed by action name (flop.<dtype>, "
                         "l1_byte, l2_byte, llc_byte (l3_byte accepted), dram_byte)", "J",
                         default={}, ge=0, le=1e-6)
