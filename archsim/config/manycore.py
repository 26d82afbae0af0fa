"""Schema of a many-core SIMD chip (`kind: manycore`): UPCYCLE-style tiles on a 2D mesh.

A tile is a small in-order core with a short-vector SIMD unit (optionally a ttk-wide dot-product
engine), a private L1, one bank of its group's L2 and one slice of the chip-wide LLC, and a mesh
router. Groups of `group_rows x group_cols` tiles share an L2 interleaved line by line over the
group's banks; the LLC is interleaved line by line over every tile's slice. HBM stacks feed the
LLC. `archsim.hw.manycore` reads this; `archsim.lower.mesh` tiles operators over the grid.

Rates are per tile per cycle. Energies and leakage given at `power.reference_node_nm` are scaled
to `tech.node_nm` by `power.node_energy_scale` (one factor, cited in the YAML).
"""
from __future__ import annotations

from dataclasses import dataclass

from archsim.config.params import param, section


@dataclass(frozen=True, kw_only=True)
class TileArrayConfig:
    rows: int = param("mesh rows (tiles along y)", ge=1)
    cols: int = param("mesh columns (tiles along x)", ge=1)
    clock: float = param("core, cache and mesh clock", "Hz", gt=0)
    vector_bits: int = param("SIMD vector width in bits", ge=8)
    macs_per_lane: int = param("multiply-accumulates per SIMD lane per cycle", default=1, ge=1)
    dot_width: dict = param("tensor-dot engine: products summed per lane per MAC, by dtype "
                            "(ttk; absent dtype -> 1, i.e. no engine)", default={})
    vector_issue: int = param("vector instructions issued per cycle (in-order core)", default=1,
                              ge=1)

    def __post_init__(self):
        if self.vector_bits % 8:
            raise ValueError(f"vector_bits must be a multiple of 8, found {self.vector_bits}")
        for k, v in self.dot_width.items():
            if not float(v).is_integer() or v < 1:
                raise ValueError(f"dot_width.{k} must be a whole number >= 1, found {v}")

    @property
    def tiles(self) -> int:
        return self.rows * self.cols

# cache sizes <= 2 GiB, as for the CPU (archsim.config.cpu): the largest shipping caches are
# ~1.1 GiB and the line-granular cache keeps state per line (a 1e30 B LLC was accepted)
_CACHE_MAX = 2**31


@dataclass(frozen=True, kw_only=True)
class L1Config:
    size: int = param("private L1 data cache per tile", "B", gt=0, le=_CACHE_MAX)
    ways: int = param("associativity", ge=1)
    read_ports: int = param("line reads per cycle", default=2, ge=1)
    latency: int = param("hit latency in cycles", default=2, ge=0)


@dataclass(frozen=True, kw_only=True)
class L2Config:
    size: int = param("L2 capacity per group (all the group's banks together)", "B", gt=0,
                      le=_CACHE_MAX)
    ways: int = param("associativity", ge=1)
    group_rows: int = param("tiles of a group along y", ge=1)
    group_cols: int = param("tiles of a group along x", ge=1)
    latency: int = param("bank access latency in cycles", default=8, ge=0)


@dataclass(frozen=True, kw_only=True)
class LlcConfig:
    size: int = param("LLC capacity, all slices together (one slice per tile)", "B", gt=0,
                      le=_CACHE_MAX)
    ways: int = param("associativity", ge=1)
    latency: int = param("slice access latency in cycles", default=16, ge=0)


@dataclass(frozen=True, kw_only=True)
class NocConfig:
    link_bytes_per_cycle: int = param("bytes a link (and a local port) moves per cycle", gt=0)
    hop_latency: int = param("router + link cycles per hop", ge=1)
    buffer_packets: int = param("packets an input buffer of a router holds", default=4, ge=1)
    packet_bytes: int = param("payload bytes of one packet in the event-driven mesh "
                              "(a bundle of lines)", "B", default=256, gt=0)
    multicast: bool = param("a packet to several tiles is replicated at the forks of its XY "
                            "tree (else one unicast per destination)", default=True)


@dataclass(frozen=True, kw_only=True)
class HbmConfig:
    bandwidth: float = param("off-chip bandwidth, all stacks", "B/s", gt=0)
    stacks: int = param("HBM stacks", ge=1)
    latency: float = param("idle access latency", "s", default=100e-9, ge=0)


@dataclass(frozen=True, kw_only=True)
class TechConfig:
    node_nm: float = param("process node in nm", gt=0)


@dataclass(frozen=True, kw_only=True)
class ManycorePowerConfig:
    reference_node_nm: float = param("node at which the energies below are given", gt=0)
    node_energy_scale: float = param("energy (and leakage) at tech.node_nm / at the reference "
                                     "node", gt=0, le=1)
    core: float = param("one core's power at the reference node and clock (no SIMD datapath)",
                        "W", ge=0)
    core_reference_clock: float = param("clock at which `core` was given", "Hz", gt=0)
    noc_controller: float = param("network controller power per tile (at tech.node_nm)", "W",
                                  ge=0)
    hbm_stack: float = param("power of one HBM stack", "W", ge=0)
    l1_leakage: float = param("leakage of one L1 at the reference node", "W", ge=0)
    l2_leakage: float = param("leakage of one group's L2 at the reference node", "W", ge=0)
    llc_leakage: float = param("leakage of one LLC slice at the reference node", "W", ge=0)
    energy: dict = param("energy per action at the reference node: l1_access, l2_access, "
                         "llc_access (one line), mac.<dtype> (one MAC), vrf_access (one vector "
                         "register read or write), noc_byte_hop, hbm_byte", "J", default={})


@dataclass(frozen=True, kw_only=True)
class ManycoreAreaConfig:
    core_mm2: float = param("in-order core with its SIMD unit and register file, mm² at "
                            "tech.node_nm", gt=0)
    sram_mm2_per_mib: float = param("SRAM macro area per MiB (cells + periphery), mm² at "
                                    "tech.node_nm", gt=0)
    router_mm2: float = param("mesh router and network controller per tile, mm²", ge=0)
    hbm_phy_mm2: float = param("HBM PHY and controller per stack, mm²", ge=0)


@dataclass(frozen=True, kw_only=True)
class ManycoreLoweringConfig:
    placement: str = param("how work items map onto tiles", default="hilbert",
                           choices=("hilbert", "affine"))
    operand_fraction: float = param("share of L1 one step's operands may fill (the rest holds "
                                    "the next step's prefetch and the outputs)", default=0.5,
                                    gt=0, le=1)
    invalidate_dead: bool = param("drop an activation from the LLC without writing it back once "
                                  "its last reader has run (a cache-line invalidate the compiler "
                                  "would issue); off: the LLC writes back every dirty line it "
                                  "evicts, dead or not", default=False)
    fuse_elementwise: bool = param("run an elementwise op that only reads a gemm's or a "
                                   "convolution's output as that op's epilogue (no write and "
                                   "read back of the intermediate) and fold parameter-only ops "
                                   "(BN coefficients) away at inference, as the paper's lowering "
                                   "assumes (its traces have no elementwise layers); off: every "
                                   "elementwise op is a pass of its own", default=True)
    conv_patches: str = param("where a convolution's input patch lives in its tensor: "
                              "'in_place' (at its strip's share of its channel chunk, so "
                              "neighbouring patches share their halo lines) or 'disjoint' (the "
                              "patches tile the tensor as separate runs, wrapping round it: "
                              "the model before issue 11's fourth stage)", default="in_place",
                              choices=("in_place", "disjoint"))


@dataclass(frozen=True, kw_only=True)
class ManycoreConfig:
    name: str = param("machine name")
    kind: str = param("machine kind", default="manycore", choices=("manycore",))
    line: int = param("cache line size, every level", "B", gt=0)
    tiles: TileArrayConfig = section("the tile array")
    l1: L1Config = section("private L1 per tile")
    l2: L2Config = section("L2 shared by a group of tiles")
    llc: LlcConfig = section("last-level cache, one slice per tile")
    noc: NocConfig = section("2D mesh, XY routing")
    hbm: HbmConfig = section("off-chip memory")
    tech: TechConfig = section("technology")
    power: ManycorePowerConfig = section("power")
    area: ManycoreAreaConfig = section("area")
    lowering: ManycoreLoweringConfig = section("operator tiling choices",
                                               ManycoreLoweringConfig)

    def __post_init__(self):
        if self.tiles.rows % self.l2.group_rows or self.tiles.cols % self.l2.group_cols:
            raise ValueError(f"the {self.tiles.rows}x{self.tiles.cols} mesh is not a whole number "
                             f"of {self.l2.group_rows}x{self.l2.group_cols} L2 groups")
        if self.l1.size % (self.line * self.l1.ways):
            raise ValueError(f"l1.size {self.l1.size} B is not a whole number of sets of "
                             f"{self.l1.ways} x {self.line} B lines")
