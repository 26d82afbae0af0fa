"""Event-driven execution: an op's steps as components exchanging messages over time.

What is decided before the run, in program order, by the same code as the step-synchronous
model (`StepSyncModel` with `plan` set): which tile computes which block in which step, and
what every cache look-up returns (the line-granular L1/L2/LLC of `caches.ChipCaches`, exact:
no address sampling), i.e. which lines each tile, group and slice must move and which lines
come from or go to HBM. What the run decides is *when*: one `engine.component.Machine` per op
with

- `TileNode` per tile: computes its steps in order; step s starts when its step s-1 has
  finished and every line it missed for step s has arrived; when it starts step s it asks for
  the operands of its next step (prefetch one step ahead, as the paper's method assumes, but
  per tile: a tile does not wait for the others); when a step finishes it writes its finished
  output block to the LLC slices, one packet per line.
- `GroupL2Node` per L2 group: a block is sent to the tiles that missed it (one multicast per
  bank, the bank's lines of the block, from the bank's tile) once every one of those tiles has
  asked (requests coalesce into one multicast) and, for an L2 miss, every line of the block
  has arrived from the LLC; plus the L2 latency.
- `LlcNode`: a block that missed in some groups' L2s is sent line by line from each line's
  slice as one multicast to the bank of each of those groups, once all of their tiles have
  asked, plus the LLC latency; a line that missed in the LLC first comes from HBM.
- `HbmStack` per stack: a FIFO server at `hbm.bandwidth / stacks` with `hbm.latency`; reads
  go out as packets from the stack's edge router to the line's slice; write-backs (dirty lines
  the LLC evicted in the step) travel from their slice to the stack's router and queue there.
- the mesh (`network.MeshNetwork`): routers, links with credits, one-line packets.

The op ends when every tile has finished, every write has reached its slice and HBM has
drained; its on-chip time includes the end-of-op barrier as in the step-synchronous model.

Not modelled: request packets (a tile's request is assumed to reach its bank as it starts the
step before: a few hops, hidden under the compute), bank-conflict queueing beyond a port's
serialisation (a bank or slice sends through its tile's injection link, one line per cycle at
32 B per cycle), and the order of cache look-ups changing with timing (look-ups are made in
step order, as a lockstep machine makes them). The cost is one Python event per packet per
hop: single layers on meshes of a few hundred tiles.
"""
from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from archsim.engine import Clock
from archsim.engine.component import Machine, Node
from archsim.hw.manycore.network import MeshNetwork
from archsim.hw.manycore.stepsync import OpTiming, StepSyncModel
from archsim.lower.mesh import MeshOp


class TileNode(Node):
    def __init__(self, chip: "OpMachine", tile: int, steps: list[int]) -> None:
        super().__init__(chip, f"tile{tile}")
        self.chip, self.tile, self.steps = chip, tile, steps
        self.i = 0                 # index in `steps` of the next step to start
        self.busy = False
        self.got: dict[int, int] = defaultdict(int)

    def begin(self) -> None:
        if self.steps:
            self.chip.request(self.tile, self.steps[0])
        self.try_start()

    def arrived(self, step: int, lines: int) -> None:
        self.got[step] += lines
        self.try_start()

    def try_start(self) -> None:
        if self.busy or self.i >= len(self.steps):
            return
        s = self.steps[self.i]
        if self.got[s] < self.chip.need.get((self.tile, s), 0):
            return
        self.busy = True
        self.chip.step_started(s)
        if self.i + 1 < len(self.steps):
            self.chip.request(self.tile, self.steps[self.i + 1])
        self.machine.post(self.chip.cycles(self.chip.plan[s]["compute"]), self.name, "done", s)

    def done(self, step: int) -> None:
        self.busy = False
        self.i += 1
        self.chip.finished(self.tile, step)
        self.try_start()


class GroupL2Node(Node):
    """Block assembly and bank sends of one group."""

    def __init__(self, chip: "OpMachine", group: int) -> None:
        super().__init__(chip, f"l2g{group}")
        self.chip, self.group = chip, group

    def send(self, pair: tuple) -> None:
        s, p = pair
        role, key, g, dst, base, lines, _ = self.chip.plan[s]["pairs"][p]
        chip = self.chip
        geom = chip.geom
        B = geom.group_size
        per_pkt = max(1, chip.packet_bytes // chip.line)
        by_bank: dict[int, int] = defaultdict(int)
        for L in range(base, base + lines):
            by_bank[L % B] += 1
        for b, n in sorted(by_bank.items()):
            src = int(geom.bank_tile(g, b))
            while n > 0:
                k = min(per_pkt, n)
                chip.inject(src, dst, k, ("l2", s, k))
                n -= k


class LlcNode(Node):
    def __init__(self, chip: "OpMachine") -> None:
        super().__init__(chip, "llc")
        self.chip = chip

    def local(self, tile: int, meta: tuple) -> None:
        """A packet whose source is its destination (a line in the requester's own bank or
        slice): no mesh hop."""
        self.chip._arrive(tile, meta)

    def send_line(self, s: int, b: int, L: int) -> None:
        chip = self.chip
        _, _, _, _, groups = chip.plan[s]["blocks"][b]
        dst = sorted({int(chip.geom.bank_tile(int(g), L)) for g in groups})
        chip.inject(int(chip.geom.slice_tile(L)), dst, 1, ("llc", s, b))


HBM_CHANNELS = 8    # [asm] an HBM2 stack's 8 channels, each on its own edge router


class HbmStack(Node):
    """One stack: a FIFO server at its share of the bandwidth; its channels attach to
    `HBM_CHANNELS` routers spread along its edge of the mesh (a single router's local port,
    one line per cycle, could not carry a stack's bandwidth)."""

    def __init__(self, chip: "OpMachine", k: int) -> None:
        super().__init__(chip, f"hbm{k}")
        self.chip, self.k = chip, k
        self.busy_until = 0
        geom = chip.geom
        n = min(HBM_CHANNELS, geom.rows)
        x = 0 if k % 2 == 0 else geom.cols - 1
        per_side = max(1, (max(1, geom.hbm_stacks) + 1) // 2)
        band = geom.rows / per_side
        y0 = (k // 2) * band
        self.tiles = [int(geom.tile(x, min(geom.rows - 1, int(y0 + (i + 0.5) * band / n))))
                      for i in range(n)]

    def tile_of(self, L: int) -> int:
        return self.tiles[(L // max(1, self.chip.geom.hbm_stacks)) % len(self.tiles)]

    def serve(self, kind: str, s: int, b: int, L: int) -> None:
        chip = self.chip
        now = chip.now
        start = max(now, self.busy_until)
        self.busy_until = start + chip.hbm_ticks_per_line
        chip.last_hbm = max(chip.last_hbm, self.busy_until)
        if kind == "read":
            self.machine.post(self.busy_until + chip.hbm_latency - now, self.name, "fill", s, b, L)

    def fill(self, s: int, b: int, L: int) -> None:
        self.chip.inject(self.tile_of(L), [int(self.chip.geom.slice_tile(L))], 1, ("fill", s, b, L))


class OpMachine(Machine):
    """One op's steps on the chip's components (see the module docstring)."""

    def __init__(self, model: "EventModel", plan: list[dict]) -> None:
        super().__init__(seed=0)
        cfg = model.cfg
        self.cfg, self.geom, self.plan = cfg, model.geom, plan
        self.clock = Clock(cfg.tiles.clock)
        self.period = self.clock.period
        self.line = cfg.line
        self.packet_bytes = cfg.noc.packet_bytes
        self.net = MeshNetwork(self, self.geom, self.clock,
                               link_bytes=cfg.noc.link_bytes_per_cycle,
                               hop_latency=cfg.noc.hop_latency,
                               buffer_packets=cfg.noc.buffer_packets, on_deliver=self._deliver)
        stacks = max(1, cfg.hbm.stacks)
        self.hbm_ticks_per_line = self.line * stacks / cfg.hbm.bandwidth * 1e12
        self.hbm_latency = int(round(cfg.hbm.latency * 1e12))
        self.last_hbm = 0
        self.last_write = 0
        self.first_start = 0
        self.meta: dict[int, tuple] = {}
        # who needs what: lines per (tile, step); requests outstanding per pair and block
        self.need: dict[tuple, int] = defaultdict(int)
        steps_of: dict[int, list] = defaultdict(list)
        self.pairs_of: dict[tuple, list] = defaultdict(list)     # (tile, step) -> pairs
        self.pair_wait: dict[tuple, int] = {}
        self.pair_block: dict[tuple, tuple] = {}
        self.block_of: dict[tuple, int] = {}                       # (step, role, key) -> b
        self.block_wait: dict[tuple, int] = {}
        self.block_pairs: dict[tuple, list] = defaultdict(list)
        self.assembled: dict[tuple, int] = {}                      # (step, b, group) -> lines left
        self.group_ready: set = set()
        self.fills: dict[tuple, list] = defaultdict(list)          # (step, b) -> HBM lines
        self.started_steps: set = set()
        self.writes_left = 0
        for s, rec in enumerate(plan):
            for t in rec["tiles"].tolist():
                steps_of[t].append(s)
            for b, (role, key, base, lines, groups) in enumerate(rec["blocks"]):
                self.block_of[(s, role, key)] = b
                self.block_wait[(s, b)] = 0
                for g in groups.tolist():
                    self.assembled[(s, b, g)] = lines
            for p, (role, key, g, dst, base, lines, l2_missed) in enumerate(rec["pairs"]):
                self.pair_wait[(s, p)] = dst.size + (1 if l2_missed else 0)
                for t in dst.tolist():
                    self.need[(t, s)] += lines
                    self.pairs_of[(t, s)].append(p)
                if l2_missed:
                    b = self.block_of.get((s, role, key))
                    if b is None:   # the block record follows the pairs of its role
                        b = self._find_block(rec, role, key)
                        self.block_of[(s, role, key)] = b
                    self.pair_block[(s, p)] = (b, g)
                    self.block_pairs[(s, b, g)].append(p)
                    self.block_wait[(s, b)] = self.block_wait.get((s, b), 0) + dst.size
            reads, _ = rec.get("hbm", (np.zeros(0, np.int64), None))
            if reads.size and rec["blocks"]:
                for L in reads.tolist():
                    for b, (_, _, base, lines, _) in enumerate(rec["blocks"]):
                        if base <= L < base + lines:
                            self.fills[(s, b)].append(L)
                            break
            if rec["writes"] is not None:
                self.writes_left += rec["writes"][0].size * rec["writes"][2]
        self.l2 = [GroupL2Node(self, g) for g in range(self.geom.groups)]
        self.llc = LlcNode(self)
        self.hbm = [HbmStack(self, k) for k in range(stacks)]
        self.tiles = {t: TileNode(self, t, st) for t, st in sorted(steps_of.items())}
        self.end_tile = 0

    @staticmethod
    def _find_block(rec, role, key):
        for b, blk in enumerate(rec["blocks"]):
            if blk[0] == role and blk[1] == key:
                return b
        raise KeyError((role, key))

    def cycles(self, n: float) -> int:
        return int(math.ceil(n)) * self.period

    def inject(self, src: int, dst, lines: int, meta: tuple) -> None:
        dst = [int(d) for d in dst]
        local = [d for d in dst if d == src]
        remote = [d for d in dst if d != src]
        if remote:
            pid = self.net.inject(src, remote, lines * self.line, meta[0])
            self.meta[pid] = meta
        for d in local:                 # already at home: no mesh hop
            self.post(0, "llc", "local", d, meta)

    def _deliver(self, tile: int, pid: int, kind: str, nbytes: int) -> None:
        self._arrive(tile, self.meta[pid])

    def _arrive(self, tile: int, meta: tuple) -> None:
        kind = meta[0]
        if kind == "l2":
            self.tiles[tile].arrived(meta[1], meta[2])
        elif kind == "llc":
            s, b = meta[1], meta[2]
            g = int(self.geom.group_of(tile))
            key = (s, b, g)
            self.assembled[key] -= 1
            if self.assembled[key] == 0:
                self._group_has(s, b, g)
        elif kind == "fill":
            s, b, L = meta[1], meta[2], meta[3]
            self.post(self.cycles(self.cfg.llc.latency), "llc", "send_line", s, b, L)
        elif kind == "wr":
            self.writes_left -= 1
            self.last_write = max(self.last_write, self.now)
        elif kind == "wb":
            self.hbm[meta[1]].serve("write", 0, 0, 0)

    # ------------------------------------------------------------------ the protocol
    def name_of_group(self, g: int) -> str:
        return f"l2g{g}"

    def request(self, tile: int, s: int) -> None:
        """`tile` asks for its step-s operands (at the start of its previous step)."""
        for p in self.pairs_of.get((tile, s), ()):
            self.pair_wait[(s, p)] -= 1
            if (s, p) in self.pair_block:
                b, _ = self.pair_block[(s, p)]
                self.block_wait[(s, b)] -= 1
                if self.block_wait[(s, b)] == 0:
                    self._launch_block(s, b)
            self._check_pair(s, p)

    def _check_pair(self, s: int, p: int) -> None:
        if self.pair_wait[(s, p)] == 0:
            g = self.plan[s]["pairs"][p][2]
            self.post(self.cycles(self.cfg.l2.latency), self.name_of_group(g), "send", (s, p))
            self.pair_wait[(s, p)] = -1

    def _group_has(self, s: int, b: int, g: int) -> None:
        for p in self.block_pairs[(s, b, g)]:
            self.pair_wait[(s, p)] -= 1
            self._check_pair(s, p)

    def _launch_block(self, s: int, b: int) -> None:
        _, _, base, lines, _ = self.plan[s]["blocks"][b]
        from_hbm = set(self.fills.get((s, b), ()))
        stacks = len(self.hbm)
        for L in range(base, base + lines):
            if L in from_hbm:
                self.hbm[L % stacks].serve("read", s, b, L)
            else:
                self.post(self.cycles(self.cfg.llc.latency), "llc", "send_line", s, b, L)

    def step_started(self, s: int) -> None:
        if s in self.started_steps:
            return
        if not self.started_steps:
            self.first_start = self.now
        self.started_steps.add(s)
        _, writes = self.plan[s].get("hbm", (None, np.zeros(0, np.int64)))
        stacks = len(self.hbm)
        for L in writes.tolist():
            k = L % stacks
            self.inject(int(self.geom.slice_tile(L)), [self.hbm[k].tile_of(L)], 1, ("wb", k))

    def finished(self, tile: int, s: int) -> None:
        self.end_tile = max(self.end_tile, self.now)
        w = self.plan[s]["writes"]
        if w is None:
            return
        tiles, first, lines = w
        idx = np.nonzero(tiles == tile)[0]
        for i in idx.tolist():
            f = int(first[i])
            for L in range(f, f + lines):
                self.inject(tile, [int(self.geom.slice_tile(L))], 1, ("wr",))

    def run_op(self) -> int:
        """Ticks until the op is done."""
        for t in sorted(self.tiles):
            self.tiles[t].begin()
        self.run()
        unfinished = [t for t, n in self.tiles.items() if n.i < len(n.steps)]
        if unfinished or self.writes_left:
            raise RuntimeError(f"event model stalled: tiles {unfinished[:5]} unfinished, "
                               f"{self.writes_left} writes in flight")
        return max(self.end_tile, self.last_write, self.last_hbm)


class EventModel(StepSyncModel):
    """Mode `event`: the step model's look-ups, timed by `OpMachine` (see the module doc)."""

    hbm_in_components = True

    def __init__(self, cfg, seed: int = 0, **kw) -> None:
        kw.setdefault("samples", 1 << 30)        # route every line: no sampling
        kw["cache_sample"] = 1
        super().__init__(cfg, seed=seed, log_hbm=True, **kw)
        self.events = 0
        self.last_machine: OpMachine | None = None
        self.warm_up = False

    def _run_once(self, op: MeshOp, op_id: int, rep: int = 0) -> OpTiming:
        self.plan = []
        if self.warm_up:
            # the look-ups and the plan only (no event machine): leaves the caches, and the log
            # of HBM lines not yet taken by a step, as an event run of the op would; timing is
            # the step model's. Lets a run start its event timing at any op of a program.
            res = super()._run_once(op, op_id, rep)
            self.plan = None
            return res
        res = super()._run_once(op, op_id, rep)
        plan, self.plan = self.plan, None
        estimate = res.onchip_cycles
        if not plan:
            return res
        m = OpMachine(self, plan)
        ticks = m.run_op()
        self.events += m.events_processed
        self.last_machine = m
        res.onchip_cycles = ticks / m.period
        res.counters["stepsync_onchip_cycles"] = estimate
        res.counters["event_mesh_bytes"] = m.net.link_bytes_moved
        # what ended the op, and how long the first step waited for its operands (cycles)
        for k, v in (("tiles", m.end_tile), ("writes", m.last_write), ("hbm", m.last_hbm),
                     ("first_start", m.first_start)):
            res.counters[f"event_{k}_cycles"] = v / m.period
        return res
