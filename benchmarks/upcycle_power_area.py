"""Power and area of a many-core chip from its config's cited constants (no simulation).

    python benchmarks/upcycle_power_area.py hwconfigs/upcycle-2048.yaml hwconfigs/upcycle-3840.yaml
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    from archsim.config import load_config
    from archsim.hw.manycore.power import (area, energy_per_action, peak_ops_per_s,
                                           static_power_by_component, tile_static_power)
    files = (argv if argv is not None else sys.argv[1:]) or [str(ROOT / "hwconfigs/upcycle-2048.yaml")]
    print("| machine | tiles | peak INT8 TOPS | peak FP16 TFLOPS | static W: cores | NoC | cache leakage "
          "| HBM | total | tile static mW | tile mm² (core + SRAM + router) | chip mm² | "
          "MAC pJ int8 / fp16 | L1 / L2 / LLC line pJ |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for f in files:
        cfg = load_config(f)
        st = static_power_by_component(cfg)
        a = area(cfg)
        e = lambda k: energy_per_action(cfg, k) * 1e12  # noqa: E731
        print(f"| {cfg.name} | {cfg.tiles.tiles} | {peak_ops_per_s(cfg, 'int8') / 1e12:.0f} | "
              f"{peak_ops_per_s(cfg, 'fp16') / 1e12:.0f} | {st['cores']:.1f} | {st['noc']:.1f} | "
              f"{st['cache_leakage']:.1f} | {st['hbm']:.1f} | {sum(st.values()):.1f} | "
              f"{tile_static_power(cfg).total * 1e3:.2f} | {a.tile_mm2:.3f} ({a.core_mm2:.3f} + "
              f"{a.sram_mm2:.3f} + {a.router_mm2:.3f}) | {a.chip_mm2:.0f} | "
              f"{e('mac.int8'):.3f} / {e('mac.fp16'):.2f} | {e('l1_access'):.1f} / "
              f"{e('l2_access'):.1f} / {e('llc_access'):.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
