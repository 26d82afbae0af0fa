"""Area and power of a many-core chip: per tile and per chip, from the config's cited constants.

Static power (always on while the chip runs): per tile the core (given at a reference node and
clock, scaled by node energy and linearly by clock), the network controller, and the leakage of
the tile's L1, its share of the group's L2 and its LLC slice (scaled by node); per chip the HBM
stacks. Dynamic energy is actions x energy per action (scaled by node): MACs by dtype, vector
register-file accesses, L1/L2/LLC line accesses, NoC byte-hops and HBM bytes.
"""
from __future__ import annotations

from dataclasses import dataclass

from archsim.graph.dtypes import dtype_bytes

MIB = 1 << 20
VRF_ACCESSES_PER_VECTOR_OP = 3   # [asm] two source operands and one accumulator write per MAC


@dataclass(frozen=True)
class TilePower:
    core: float
    noc_controller: float
    l1_leakage: float
    l2_leakage: float            # this tile's share of its group's L2
    llc_leakage: float

    @property
    def total(self) -> float:
        return self.core + self.noc_controller + self.l1_leakage + self.l2_leakage + self.llc_leakage


def tile_static_power(cfg) -> TilePower:
    p = cfg.power
    s = p.node_energy_scale
    group = cfg.l2.group_rows * cfg.l2.group_cols
    return TilePower(core=p.core * s * cfg.tiles.clock / p.core_reference_clock,
                     noc_controller=p.noc_controller, l1_leakage=p.l1_leakage * s,
                     l2_leakage=p.l2_leakage * s / group, llc_leakage=p.llc_leakage * s)


def static_power_by_component(cfg) -> dict[str, float]:
    """Watts the chip draws whatever it runs, by component."""
    t = tile_static_power(cfg)
    n = cfg.tiles.tiles
    return {"cores": t.core * n, "noc": t.noc_controller * n,
            "cache_leakage": (t.l1_leakage + t.l2_leakage + t.llc_leakage) * n,
            "hbm": cfg.power.hbm_stack * cfg.hbm.stacks}


def energy_per_action(cfg, action: str) -> float:
    """Joules of one action at the chip's node (0 for an action the config does not cost)."""
    return float(cfg.power.energy.get(action, 0.0)) * cfg.power.node_energy_scale


def dynamic_energy(cfg, counts: dict[str, float], dtype: str) -> dict[str, float]:
    """Joules by action from action counts: macs, vector_ops, l1/l2/llc line accesses,
    noc byte-hops, hbm bytes."""
    e = lambda a: energy_per_action(cfg, a)  # noqa: E731
    mac = e(f"mac.{dtype}") if f"mac.{dtype}" in cfg.power.energy else e("mac.fp16")
    return {"mac": counts.get("macs", 0) * mac,
            "vrf": counts.get("vector_ops", 0) * VRF_ACCESSES_PER_VECTOR_OP * e("vrf_access"),
            "l1": counts.get("l1_accesses", 0) * e("l1_access"),
            "l2": counts.get("l2_accesses", 0) * e("l2_access"),
            "llc": counts.get("llc_accesses", 0) * e("llc_access"),
            "noc_dynamic": counts.get("byte_hops", 0) * e("noc_byte_hop"),
            "hbm_dynamic": counts.get("hbm_bytes", 0) * e("hbm_byte")}


@dataclass(frozen=True)
class Area:
    core_mm2: float
    sram_mm2: float
    router_mm2: float
    tile_mm2: float
    hbm_phy_mm2: float
    chip_mm2: float


def area(cfg) -> Area:
    a = cfg.area
    group = cfg.l2.group_rows * cfg.l2.group_cols
    sram_bytes = cfg.l1.size + cfg.l2.size / group + cfg.llc.size / cfg.tiles.tiles
    sram = sram_bytes / MIB * a.sram_mm2_per_mib
    tile = a.core_mm2 + sram + a.router_mm2
    phy = a.hbm_phy_mm2 * cfg.hbm.stacks
    return Area(a.core_mm2, sram, a.router_mm2, tile, phy, tile * cfg.tiles.tiles + phy)


def peak_ops_per_s(cfg, dtype: str) -> float:
    """Peak multiply-add rate x 2 (ops/s) for a dtype: lanes x MACs per lane x ttk x tiles x clock."""
    t = cfg.tiles
    lanes = t.vector_bits // 8 // dtype_bytes(dtype)
    return 2.0 * lanes * t.macs_per_lane * int(t.dot_width.get(dtype, 1)) * t.tiles * t.clock
