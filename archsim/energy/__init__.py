"""Energy as action counts x energy per action, plus idle/static power; the power cap -> clock.

The GPU config's `energy:` table gives joules per action at the boost clock (Accelergy-style
data, each number sourced in the YAML). Dynamic energy per action scales with the clock as
(f / boost) ** power.voltage_exponent (E ~ C V^2 with V roughly proportional to f in the DVFS
range). Board power while a kernel runs = idle + static + dynamic energy / time; between
kernels, idle. `max_clock_under_cap` is the power manager: the highest clock whose power fits.
"""
from __future__ import annotations

from typing import Callable

# One action vocabulary for every machine (GPU and CPU): what a component counts, priced per
# action by the machine's `energy:` table (an action missing from the table costs nothing).
ACTIONS = ("tensor_flop", "simt_op", "l1_byte", "l2_byte", "llc_byte", "dram_byte", "noc_byte",
           "static", "idle")
COMPONENT_OF = {"tensor_flop": "sm_tensor", "simt_op": "sm_simt", "l1_byte": "l1",
                "l2_byte": "l2", "llc_byte": "llc", "dram_byte": "dram", "noc_byte": "noc",
                "static": "static", "idle": "idle"}


def register_action(action: str, component: str) -> None:
    """A new action (and the component its energy is reported under), registered by the model
    that counts it, next to its definition."""
    global ACTIONS
    if action not in COMPONENT_OF:
        ACTIONS = ACTIONS + (action,)
    COMPONENT_OF[action] = component


class EnergyModel:
    def __init__(self, cfg):
        self.cfg = cfg
        self.per_action = {a: float(cfg.energy.get(a, 0.0)) for a in ACTIONS
                           if a not in ("static", "idle")}
        for a, v in cfg.energy.items():
            self.per_action.setdefault(a, float(v))

    def scale(self, f: float) -> float:
        return (f / self.cfg.clocks.boost) ** self.cfg.power.voltage_exponent

    def dynamic(self, actions: dict, f: float) -> dict[str, float]:
        s = self.scale(f)
        return {a: n * self.per_action.get(a, 0.0) * (s if a != "dram_byte" else 1.0)
                for a, n in actions.items()}

    def kernel_power(self, actions: dict, f: float, t: float) -> float:
        p = self.cfg.power
        return p.idle + p.static + sum(self.dynamic(actions, f).values()) / max(t, 1e-30)

    def kernel_energy(self, actions: dict, f: float, t: float) -> tuple[dict, dict]:
        """(joules by component, joules by action) of one kernel of duration t at clock f."""
        p = self.cfg.power
        dyn = self.dynamic(actions, f)
        by_action = dict(dyn)
        by_action["static"] = p.static * t
        by_action["idle"] = p.idle * t
        by_comp: dict[str, float] = {}
        for a, e in dyn.items():
            c = COMPONENT_OF.get(a, a)
            by_comp[c] = by_comp.get(c, 0.0) + e
        by_comp["static"] = p.static * t
        by_comp["idle"] = p.idle * t
        return by_comp, by_action


def max_clock_under_cap(power_at: Callable[[float], float], f_min: float, f_max: float,
                        cap: float, iters: int = 30) -> float:
    """The highest clock in [f_min, f_max] with power_at(f) <= cap (power rising with f)."""
    if power_at(f_max) <= cap:
        return f_max
    lo, hi = f_min, f_max
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        if power_at(mid) <= cap:
            lo = mid
        else:
            hi = mid
    return lo


__all__ = ["ACTIONS", "COMPONENT_OF", "EnergyModel", "max_clock_under_cap", "register_action"]
