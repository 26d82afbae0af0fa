"""A Chrome-trace / Perfetto timeline of a run: kernels, CTAs on SMs and memory levels.

``Timeline`` is a monitor (``simulate(..., monitors=[tl])``): when the machine is built it
subscribes a ``WindowMonitor`` to the memory-level signals that exist on the bus
(``xbar.bytes``, ``l2[*].hit``/``miss``, ``hbm[*].busy``, and on a CPU ``llc.*``/``dram[*].busy``),
summed per window over slices/channels. After the run, ``write(path, result)`` writes the
JSON trace-event format that ui.perfetto.dev and chrome://tracing open:

- process "kernels": one slice per kernel (thread = stream), from the result's kernel rows;
- process "SMs": one slice per SM a kernel held CTAs on (thread = SM), where kernel rows name
  them (``sms``: [first, last] runs of SM ids);
- process "memory": counter tracks per window (bytes through the crossbar, L2 hit and miss
  bytes on a GPU, L2 and LLC hit and miss lines on a CPU, mean busy HBM/DRAM channels). A
  track's name ends in the unit its signals declare (``bus.declare(..., unit=)``), so the CPU's
  per-core L2, which counts lines, is not labelled as bytes.

Times are microseconds in the file (the format's unit). Written atomically.
"""
from __future__ import annotations

import json
import os
import re
import tempfile

from archsim.engine.signals import SignalBus, WindowMonitor

# (track name, signals); "{unit}" is filled from the signals' declared unit
_GROUPS = (
    ("xbar {unit}", re.compile(r"^xbar\.bytes$")),
    ("L2 hit {unit}", re.compile(r"^l2\[\d+\]\.hit$")),
    ("L2 miss {unit}", re.compile(r"^l2\[\d+\]\.miss$")),
    ("HBM busy channels", re.compile(r"^hbm\[\d+\]\.busy$")),
    ("LLC hit {unit}", re.compile(r"^llc\.hit$")),
    ("LLC miss {unit}", re.compile(r"^llc\.miss$")),
    ("DRAM busy channels", re.compile(r"^dram\[\d+\]\.busy$")),
)


class Timeline:
    def __init__(self, window_cycles: int = 2048):
        self.window_cycles = window_cycles
        self.mon: WindowMonitor | None = None
        self.groups: dict[str, list[str]] = {}
        self.clock_hz = 1.0

    def __call__(self, bus: SignalBus, clock_hz: float) -> None:
        self.clock_hz = clock_hz
        names = bus.names()
        sigs = []
        for label, rx in _GROUPS:
            members = [n for n in names if rx.match(n)]
            if members:
                units = sorted({bus.get(n).unit or "count" for n in members})
                label = label.format(unit="/".join(units))
                self.groups[label] = members
                sigs += members
        if sigs:
            self.mon = WindowMonitor(bus, sigs, window_cycles=self.window_cycles,
                                     clock_hz=clock_hz)

    def events(self, result) -> list[dict]:
        ev: list[dict] = [
            {"ph": "M", "pid": 1, "name": "process_name", "args": {"name": "kernels"}},
            {"ph": "M", "pid": 2, "name": "process_name", "args": {"name": "SMs"}},
            {"ph": "M", "pid": 3, "name": "process_name", "args": {"name": "memory"}},
        ]
        for op in result.ops:
            for k in op.kernels:
                ts, dur = k["start_s"] * 1e6, k["time_s"] * 1e6
                args = {"op": op.name, "grid": k.get("grid"), "clock_hz": k.get("clock_hz"),
                        "bound": k.get("bound")}
                ev.append({"ph": "X", "pid": 1, "tid": k.get("stream", 0), "name": k["name"],
                           "ts": ts, "dur": dur, "args": args})
                for sm in (i for a, b in k.get("sms", ()) for i in range(a, b + 1)):
                    ev.append({"ph": "X", "pid": 2, "tid": sm, "name": k["name"], "ts": ts,
                               "dur": dur, "args": {"op": op.name}})
        if self.mon is not None:
            t0 = result.extra.get("t0_ticks", 0)
            end = self.mon.start + int(round(result.time_s * 1e12)) + t0
            data = self.mon.finish(max(end, self.mon.start))
            W = self.mon.window_ticks
            for label, members in self.groups.items():
                series = sum(data[m] for m in members)
                last = None
                for w, v in enumerate(series):
                    v = float(v)
                    if v != last:
                        ts = (self.mon.start + w * W - t0) / 1e6
                        if ts >= 0:
                            ev.append({"ph": "C", "pid": 3, "name": label, "ts": ts,
                                       "args": {"value": v}})
                        last = v
        return ev

    def write(self, path: str, result) -> str:
        doc = {"traceEvents": self.events(result), "displayTimeUnit": "ns",
               "otherData": {"machine": result.machine, "window_cycles": self.window_cycles}}
        d = os.path.dirname(os.path.abspath(path)) or "."
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".timeline-", suffix=".json")
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh)
        os.replace(tmp, path)
        return path
