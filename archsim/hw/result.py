"""What a machine model hands back after a simulation: totals, per-op rows, energy by action.

Every machine model (GPU, CPU, ...) fills a SimResult; archsim.report turns it into the
versioned Report. Units are SI: seconds, joules, bytes.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class OpResult:
    """One graph op as it ran: its kernels' time, traffic and energy."""

    name: str
    kind: str
    start_s: float                 # when its first kernel started (launch gaps included before)
    time_s: float                  # device time of its kernels (sum over its kernels)
    flops: int
    dram_read_bytes: int
    dram_write_bytes: int
    l2_hit_bytes: int = 0
    l2_miss_bytes: int = 0
    energy_j: float = 0.0
    kernels: list[dict] = field(default_factory=list)  # name, grid, ctas, time_s, clock_hz, ...
    bound: str = ""                # what limited it: "tensor", "simt", "dram", "l2", "latency"...


@dataclass
class SimResult:
    machine: str
    time_s: float                  # end-to-end device time, launch gaps included
    cycles: int                    # time_s in cycles of the machine's reference clock
    clock_hz: float                # that reference clock (the boost clock for a GPU)
    dram_read_bytes: int
    dram_write_bytes: int
    l2_hit_bytes: int
    l2_miss_bytes: int
    energy_by_component: dict[str, float]
    energy_by_action: dict[str, float]
    ops: list[OpResult]
    counters: dict[str, float] = field(default_factory=dict)
    utilization: dict[str, float] = field(default_factory=dict)
    events: int = 0                # engine events processed
    extra: dict = field(default_factory=dict)

    @property
    def energy_j(self) -> float:
        return float(sum(self.energy_by_component.values()))
