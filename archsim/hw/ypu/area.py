"""Area and power of a YPU, from the paper's constants, against the block it watches.

Sources: [ypu] arXiv 2312.13428 (7 nm): RISC-V core 0.0011 mm², SRAM (8 KB instruction +
32 KB scratchpad) 0.016 mm², histogram unit 0.001 mm², eFPGA 0.22 mm²; IPU-lite 0.019 mm² at
2.0 GHz, 4.7 mW (GPU histograms) to 15 mW (PICS), under 25 mW. [ds] vendor data sheets /
whitepapers; [approx] public die-size estimates (die-shot analyses), order of magnitude only.

A host block's area and power are its chip's die area and power cap divided by the number of
such blocks enabled: an upper bound on the block itself (the share includes caches, memory
PHYs and I/O), so the YPU's share computed against it is a lower bound.
"""
from __future__ import annotations

from dataclasses import dataclass

from archsim.errors import UserError

# [ypu] component areas, mm² at 7 nm
CORE_MM2 = 0.0011
SRAM_MM2 = 0.016
HIST_MM2 = 0.001
EFPGA_MM2 = 0.22
LITE_MM2 = 0.019          # the paper's total for IPU-lite (core + SRAM + histogram + tap/FIFO)
LITE_HZ = 2.0e9
POWER_W = {"gpu_histograms": 4.7e-3, "pics": 15e-3, "max": 25e-3}


@dataclass(frozen=True)
class Host:
    name: str
    block: str
    die_mm2: float
    blocks: int
    power_w: float
    node: str
    source: str

    @property
    def block_mm2(self) -> float:
        return self.die_mm2 / self.blocks

    @property
    def block_w(self) -> float:
        return self.power_w / self.blocks


HOSTS = {
    "a100-sm": Host("A100 SXM4", "SM", 826.0, 108, 400.0, "7 nm",
                    "[ds] GA100 826 mm², 108 SMs enabled, 400 W (Ampere whitepaper; "
                    "hwconfigs/a100.yaml)"),
    "h200-sm": Host("H200 SXM", "SM", 814.0, 132, 700.0, "4N (5 nm class)",
                    "[ds] GH100 814 mm², 132 SMs enabled, 700 W (Hopper whitepaper; "
                    "hwconfigs/h200.yaml)"),
    "xeon-core": Host("Xeon 5th gen (Emerald Rapids XCC)", "core", 1526.0, 64, 350.0,
                      "Intel 7", "[approx] 2 dies of ~763 mm², 64 cores, 350 W TDP"),
}


@dataclass(frozen=True)
class YpuBudget:
    variant: str           # "lite" or "pro"
    area_mm2: float
    parts: dict            # part -> mm²
    power_w: float
    power_case: str


def ypu_budget(variant: str = "lite", power_case: str = "gpu_histograms") -> YpuBudget:
    """Area from the component constants; power from the paper's measured case."""
    if variant not in ("lite", "pro"):
        raise UserError(f"YPU variant must be 'lite' or 'pro', got {variant!r}")
    if power_case not in POWER_W:
        raise UserError(f"YPU power case must be one of {sorted(POWER_W)}, got {power_case!r}")
    parts = {"riscv_core": CORE_MM2, "sram_40KB": SRAM_MM2, "histogram_unit": HIST_MM2,
             "tap_fifo_io (rest of the paper's 0.019)": LITE_MM2 - CORE_MM2 - SRAM_MM2 - HIST_MM2}
    if variant == "pro":
        parts["efpga"] = EFPGA_MM2
    return YpuBudget(variant, sum(parts.values()), parts, POWER_W[power_case], power_case)


def share(host: str, *, units: int = 1, variant: str = "lite",
          power_case: str = "gpu_histograms") -> dict:
    """Area and power of `units` YPUs as a fraction of the host blocks they watch (one YPU per
    block): the numbers a report prints."""
    if host not in HOSTS:
        raise UserError(f"unknown YPU host {host!r}; known: {', '.join(sorted(HOSTS))}")
    h = HOSTS[host]
    b = ypu_budget(variant, power_case)
    return {"host": h.name, "block": h.block, "node": h.node, "source": h.source,
            "ypu_area_mm2": b.area_mm2 * units, "block_area_mm2": h.block_mm2 * units,
            "area_share": b.area_mm2 / h.block_mm2,
            "ypu_power_w": b.power_w * units, "block_power_w": h.block_w * units,
            "power_share": b.power_w / h.block_w, "units": units, "variant": variant,
            "power_case": power_case}
