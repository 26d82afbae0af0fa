"""Schema of a GPU machine (`kind: gpu`): the parameters the GPU model in archsim.hw.gpu reads.

Per-SM pipe rates are in flops per SM clock cycle (dense; an FMA counts 2), keyed by dtype.
Energy per action is in joules per unit of work named by the key (see archsim.energy).
Parameters are physics (rates, latencies, capacities, energies), never per-kernel corrections;
hwconfigs/README.md says where each H200 number comes from.
"""
from __future__ import annotations

from dataclasses import dataclass

from archsim.config.params import param, section
from archsim.config.units import format_quantity

# Physical ranges. They are wide (a design study may go far from today's parts) but keep every
# quantity where the models' integer picosecond ticks, C counters and cache arrays stay exact
# and small: a latency past 1 ms or a clock outside 1 MHz..100 GHz is a typo, not a machine.
MIN_CLOCK, MAX_CLOCK = 1e6, 1e11
MAX_LATENCY = 1e-3
MAX_BANDWIDTH = 1e16        # 10 PB/s
MAX_POWER = 1e5             # 100 kW
MAX_RATE = 1e6              # per SM per cycle
MAX_CYCLES = 1e7


def _hz(v: float) -> str:
    return format_quantity(v, "Hz")


@dataclass(frozen=True, kw_only=True)
class ClockConfig:
    boost: float = param("maximum SM clock the board runs when under its power cap", "Hz",
                         ge=MIN_CLOCK, le=MAX_CLOCK)
    base: float = param("guaranteed SM clock", "Hz", ge=MIN_CLOCK, le=MAX_CLOCK)
    min: float = param("lowest SM clock the power manager may choose", "Hz", ge=MIN_CLOCK,
                       le=MAX_CLOCK)
    tensor_boost: float = param(
        "highest SM clock while the tensor pipe is busy (the boost table lowers it for MMA-heavy"
        " kernels even far below the power cap)", "Hz", ge=MIN_CLOCK, le=MAX_CLOCK)

    def __post_init__(self):
        if not self.min <= self.base <= self.boost:
            raise ValueError(f"expected min <= base <= boost, found min {_hz(self.min)}, "
                             f"base {_hz(self.base)}, boost {_hz(self.boost)}")
        if not self.min <= self.tensor_boost <= self.boost:
            raise ValueError(f"expected min <= tensor_boost <= boost, found tensor_boost "
                             f"{_hz(self.tensor_boost)} (min {_hz(self.min)}, boost "
                             f"{_hz(self.boost)})")


@dataclass(frozen=True, kw_only=True)
class SmConfig:
    count: int = param("streaming multiprocessors", ge=1, le=100_000)
    max_ctas: int = param("resident CTAs per SM", ge=1, le=1024)
    max_threads: int = param("resident threads per SM", ge=32, le=65536)
    registers: int = param("32-bit registers per SM", ge=1, le=2**24)
    shared_memory: int = param("shared memory per SM usable by CTAs", "B", ge=0, le=2**30)
    tensor_flops_per_cycle: dict = param(
        "dense tensor-core flops per SM cycle by dtype (FMA = 2)", default={}, gt=0, le=MAX_RATE)
    simt_flops_per_cycle: dict = param(
        "SIMT (CUDA-core) flops per SM cycle by dtype (FMA = 2)", default={}, gt=0, le=MAX_RATE)
    simt_lanes: int = param("SIMT lanes per SM: lane-instructions issued per cycle", default=128,
                            ge=1, le=MAX_RATE)
    load_store_bytes_per_cycle: float = param("L1/shared bytes per SM cycle", gt=0, le=MAX_RATE)
    tma_bytes_per_cycle: float = param(
        "bulk-copy (TMA/cp.async) bytes per SM cycle from L2 into shared memory", gt=0,
        le=MAX_RATE)
    lsu_bytes_per_cycle: float = param(
        "sustained global-memory bytes per SM cycle through the load/store path (L2 hits and "
        "stores)", gt=0, le=MAX_RATE)
    miss_bytes_per_cycle: float = param(
        "DRAM-missing load bytes per SM cycle per independent load stream of a thread: the "
        "outstanding-request limit (Little's law with the loaded DRAM latency)", gt=0,
        le=MAX_RATE)
    gemm_tile_overhead: float = param(
        "cycles per output tile of a GEMM not overlapped with the main loop (epilogue: "
        "accumulators through shared memory to global, pipeline refill)", None, default=0.0, ge=0,
        le=MAX_CYCLES)
    tile_store_bytes_per_cycle: float = param(
        "bytes per SM cycle a tiled tensor-core kernel stores its output tiles at (epilogue: "
        "shared memory to L2 by bulk copy, overlapped with the next tile's main loop): binds "
        "GEMMs with few K-steps per tile; 0: off", None, default=0.0, ge=0, le=MAX_RATE)
    single_warpgroup_step_overhead: float = param(
        "cycles per K-step not overlapped with MMA issue in kernels with one consumer warpgroup "
        "(cuDNN's sm90 xmma implicit-GEMM convolutions); mma_step_overhead is for nvjet's two",
        None, default=0.0, ge=0, le=MAX_CYCLES)
    mma_step_overhead: float = param(
        "cycles per K-step of a GEMM main loop not overlapped with MMA issue (barriers, "
        "pipeline waits); what makes small tiles inefficient", None, default=0.0, ge=0,
        le=MAX_CYCLES)
    dependent_issue_cycles: float = param(
        "cycles between one warp's consecutive instructions when no other warp hides the "
        "latency (dependent ALU/shuffle chains): a streaming or row kernel's warp issues at most "
        "one instruction per this many cycles, so few long rows per SM are latency-bound; 0: "
        "off", None, default=0.0, ge=0, le=MAX_CYCLES)


@dataclass(frozen=True, kw_only=True)
class L2Config:
    size: int = param("total L2 capacity", "B", gt=0, le=2**30)
    line: int = param("cache line (tag granularity); a power of two", "B", ge=16, le=4096)
    sector: int = param("sector (transfer granularity); a power of two, at most a line", "B",
                        ge=8, le=4096)
    ways: int = param("associativity", ge=1, le=1024)
    partitions: int = param("L2 partitions (each holds a slice of lines)", ge=1, le=256)
    bandwidth: float = param("aggregate L2 hit bandwidth", "B/s", gt=0, le=MAX_BANDWIDTH)
    latency: float = param("load-to-use latency of an L2 hit", "s", gt=0, le=MAX_LATENCY)

    def __post_init__(self):
        for key in ("line", "sector"):
            v = getattr(self, key)
            if v & (v - 1):
                raise ValueError(f"{key}: expected a power of two, found {v} B")
        if self.sector > self.line:
            raise ValueError(f"expected sector <= line, found sector {self.sector} B > line "
                             f"{self.line} B")
        if self.size < self.line * self.ways:
            raise ValueError(f"expected size >= line x ways ({self.line * self.ways} B, one "
                             f"set), found size {self.size} B")


@dataclass(frozen=True, kw_only=True)
class HbmConfig:
    size: int = param("device memory capacity", "B", gt=0, le=2**50)
    peak_bandwidth: float = param("datasheet peak bandwidth", "B/s", gt=0, le=MAX_BANDWIDTH)
    bandwidth: float = param("achievable streaming bandwidth (what a copy kernel reaches); at "
                             "most peak_bandwidth", "B/s", gt=0, le=MAX_BANDWIDTH)
    channels: int = param("independent channels (pseudo-channels) the address space interleaves "
                          "over", ge=1, le=65536)
    interleave: int = param("bytes mapped to one channel before the next (interleave granule)",
                            "B", default=256, ge=32, le=2**20)
    latency: float = param("idle load-to-use latency of a DRAM access", "s", gt=0,
                           le=MAX_LATENCY)

    def __post_init__(self):
        if self.bandwidth > self.peak_bandwidth:
            raise ValueError(f"expected bandwidth (sustained) <= peak_bandwidth, found "
                             f"{format_quantity(self.bandwidth, 'B/s')} > "
                             f"{format_quantity(self.peak_bandwidth, 'B/s')} (a what-if on "
                             f"bandwidth sets both: --set hbm.peak_bandwidth=... too)")


@dataclass(frozen=True, kw_only=True)
class CrossbarConfig:
    bandwidth: float = param("SM-to-L2 crossbar aggregate bandwidth", "B/s", gt=0,
                             le=MAX_BANDWIDTH)


@dataclass(frozen=True, kw_only=True)
class PowerConfig:
    cap: float = param("board power limit", "W", gt=0, le=MAX_POWER)
    idle: float = param("board power with no kernel running; below the cap", "W", ge=0,
                        le=MAX_POWER)
    static: float = param("extra leakage and always-on power while a kernel runs, at boost clock", "W", ge=0,
                          le=MAX_POWER)
    sm_active: float = param(
        "extra power of the SMs while they hold CTAs (all SMs; a kernel on fewer SMs draws its "
        "share), beyond `static`", "W", default=0.0, ge=0, le=MAX_POWER)
    launch: float | None = param(
        "power above idle during a kernel's launch, pipeline fill and drain (its fixed head "
        "time), instead of `static` + `sm_active`; unset: `static`", "W", default=None, ge=0,
        le=MAX_POWER)
    voltage_exponent: float = param(
        "dynamic energy per action scales as (clock / boost) ** this (V^2 with V roughly "
        "proportional to f in the DVFS range)", default=2.0, ge=0, le=4)
    window: float = param(
        "time constant of the power limiter's average of board power (the cap holds on that "
        "average, kernels and idle gaps included); 0: each kernel's own power is capped",
        "s", default=0.0, ge=0, le=100.0)
    peak: float | None = param(
        "power of one kernel replayed alone, Nsight Compute style (flush_l2_per_kernel); not a "
        "limit in a timeline; unset: none. Only used with window > 0", "W", default=None,
        gt=0, le=MAX_POWER)

    def __post_init__(self):
        if self.idle + self.static + self.sm_active >= self.cap:
            raise ValueError(f"expected idle + static + sm_active < cap (the rest is what kernels "
                             f"may draw), found {self.idle:g} W + {self.static:g} W + "
                             f"{self.sm_active:g} W >= {self.cap:g} W")


@dataclass(frozen=True, kw_only=True)
class LaunchConfig:
    overhead: float = param("gap between back-to-back kernels on the device (graph replay)", "s",
                            ge=0, le=MAX_LATENCY)
    cta_launch: float = param("interval between CTA launches on one SM (block scheduler rate)",
                              "s", ge=0, le=MAX_LATENCY)
    tma_setup: float = param(
        "extra setup of TMA warp-specialized kernels (GEMM, attention): descriptor prefetch, "
        "barrier init, cluster launch", "s", default=0.0, ge=0, le=MAX_LATENCY)
    copy_engine_bandwidth: float = param(
        "device-to-device copy-engine (DMA) throughput, bytes read + written per second",
        "B/s", default=2.75e12, gt=0, le=MAX_BANDWIDTH)
    copy_engine_l2_bandwidth: float = param(
        "the copy engine's own throughput when both sides of a copy stay in L2 (bytes read + "
        "written per second); copy_engine_bandwidth then limits only the DRAM bytes it moves "
        "(0, the default: the same as copy_engine_bandwidth)", "B/s", default=0.0, ge=0,
        le=MAX_BANDWIDTH)
    kernel_fixed: float = param(
        "fixed part of every kernel's device duration: front-end setup, first CTA dispatch and "
        "the final drain/flush (what an empty kernel measures)", "s", default=0.0, ge=0,
        le=MAX_LATENCY)


@dataclass(frozen=True, kw_only=True)
class GpuConfig:
    name: str = param("machine name")
    clocks: ClockConfig = section("SM clocks")
    sm: SmConfig = section("streaming multiprocessors")
    l2: L2Config = section("L2 cache")
    hbm: HbmConfig = section("device memory")
    crossbar: CrossbarConfig = section("SM-L2 interconnect")
    power: PowerConfig = section("board power")
    launch: LaunchConfig = section("kernel launch")
    energy: dict = param("energy per action, keyed by action name (see archsim.energy)", "J",
                         default={}, ge=0, le=1e-6)
    kind: str = param("machine kind", default="gpu", choices=("gpu",))
