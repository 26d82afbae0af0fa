"""Energy as action counts x energy per action, plus the board's power states; the power cap -> clock.

The GPU config's `energy:` table gives joules per action at the boost clock (Accelergy-style
data, each number sourced in the YAML). Dynamic energy per action scales with the clock as
(f / boost) ** power.voltage_exponent (E ~ C V^2 with V roughly proportional to f in the DVFS
range). Board power states (W, `power:`):

- between kernels: `idle`;
- a kernel's head (launch, pipeline fill and drain: the model's fixed time of the kernel, SMs
  waiting): idle + `launch` (unset: `static`);
- a kernel's body: idle + `static` (uncore and clocks up) + `sm_active` x the share of SMs that
  hold its CTAs (the rest are clock-gated) + its dynamic energy / time.

Lane-instructions come in two classes: `simt_fma` (the FFMA stream of a SIMT GEMM main loop: three
register operands and a shared-memory operand feed each) and `simt_op` (every other SIMT
lane-instruction); a table without `simt_fma` prices both as `simt_op`.
`max_clock_under_cap` is the power manager: the highest clock whose power fits.
"""
from __future__ import annotations

from typing import Callable

# One action vocabulary for every machine (GPU and CPU): what a component counts, priced per
# action by the machine's `energy:` table (an action missing from the table costs nothing).
ACTIONS = ("tensor_flop", "simt_op", "simt_fma", "l1_byte", "l2_byte", "llc_byte", "dram_byte",
           "noc_byte", "static", "sm_static", "launch", "idle")
COMPONENT_OF = {"tensor_flop": "sm_tensor", "simt_op": "sm_simt", "simt_fma": "sm_simt",
                "l1_byte": "l1", "l2_byte": "l2", "llc_byte": "llc", "dram_byte": "dram",
                "noc_byte": "noc", "static": "static", "sm_static": "static", "launch": "static",
                "idle": "idle"}
# power states, not actions: priced by `power:`, not by the `energy:` table
POWER_STATES = ("static", "sm_static", "launch", "idle")


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
                           if a not in POWER_STATES}
        if "simt_fma" not in cfg.energy:   # one SIMT class: an FFMA costs a lane-instruction
            self.per_action["simt_fma"] = self.per_action["simt_op"]
        for a, v in cfg.energy.items():
            self.per_action.setdefault(a, float(v))

    def scale(self, f: float) -> float:
        return (f / self.cfg.clocks.boost) ** self.cfg.power.voltage_exponent

    def dynamic(self, actions: dict, f: float) -> dict[str, float]:
        s = self.scale(f)
        return {a: n * self.per_action.get(a, 0.0) * (s if a != "dram_byte" else 1.0)
                for a, n in actions.items()}

    def states(self, t: float, sm_share: float = 1.0, head: float = 0.0) -> dict[str, float]:
        """Joules of the power states over one kernel of duration t: `head` seconds of it at
        the launch power, the rest at static + sm_active x sm_share (the share of SMs that
        hold its CTAs); idle power all along."""
        p = self.cfg.power
        head = min(max(head, 0.0), t)
        body = t - head
        out = {"static": p.static * body}
        if p.sm_active:
            out["sm_static"] = p.sm_active * sm_share * body
        if p.launch is None:            # one state for the whole kernel, as before the split
            out["static"] += p.static * head
        else:
            out["launch"] = p.launch * head
        out["idle"] = p.idle * t
        return out

    def kernel_power(self, actions: dict, f: float, t: float, sm_share: float = 1.0,
                     head: float = 0.0) -> float:
        """Average board power of one kernel of duration t at clock f."""
        t = max(t, 1e-30)
        return (sum(self.states(t, sm_share, head).values())
                + sum(self.dynamic(actions, f).values())) / t

    def kernel_energy(self, actions: dict, f: float, t: float, sm_share: float = 1.0,
                      head: float = 0.0) -> tuple[dict, dict]:
        """(joules by component, joules by action) of one kernel of duration t at clock f."""
        dyn = self.dynamic(actions, f)
        by_action = dict(dyn)
        by_comp: dict[str, float] = {}
        for a, e in dyn.items():
            c = COMPONENT_OF.get(a, a)
            by_comp[c] = by_comp.get(c, 0.0) + e
        for a, e in self.states(t, sm_share, head).items():
            by_action[a] = e
            by_comp[COMPONENT_OF[a]] = by_comp.get(COMPONENT_OF[a], 0.0) + e
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


__all__ = ["ACTIONS", "COMPONENT_OF", "POWER_STATES", "EnergyModel", "max_clock_under_cap",
           "register_action"]
