"""Components, messages, links and machines: the message layer machines are built from.

A *machine* is a set of named components joined by links. Components hold an immutable
``spec`` and a plain, picklable ``state``; they sleep while idle and run only when an event
addressed to them fires (a message arriving, a timer they set). Every event a machine
schedules is a *named* event — ``(time, priority, seq, component name, method name, args)``
— recorded in the machine's pending table, so a running machine can be checkpointed to bytes
and resumed with the same event order (see ``Machine.checkpoint`` / ``Machine.restore``).

Links move ``Message`` s one way between two components:
- ``latency`` ticks of flight after the last byte is sent;
- ``bandwidth`` bytes per tick: a message occupies the link for ``ceil(nbytes / bandwidth)``
  ticks, messages are sent one after another in FIFO order;
- ``depth`` messages at most in the link (queued to send, in flight, or delivered but not yet
  released by the receiver). ``send`` on a full link returns False and remembers the sender;
  when the receiver releases a message the sender's ``on_link_free(link_name)`` runs
  (back-pressure). Nothing is ever dropped by a link.

For components whose traffic is bulk (a GEMM chunk's line bundles through the L2 and HBM) a
link can also be used as a *reservation server*: ``reserve(t, nbytes)`` returns when the bytes
would finish passing, and advances the link's busy-until time, with no event per hop. That is
the fluid (flow-level) view of a pipelined link; it gives the same finish time as sending the
bytes as back-to-back messages and is what keeps whole-model runs in seconds.

Imports nothing from archsim but the engine and ``archsim.errors``.
"""
from __future__ import annotations

import pickle
from collections import deque
from dataclasses import dataclass
from typing import Any

from archsim.engine import Simulator
from archsim.engine.signals import SignalBus
from archsim.errors import UserError

__all__ = ["Message", "Link", "Node", "Machine"]

CHECKPOINT_VERSION = 1


class Message:
    """What travels on a link. Plain data: picklable, no references to components."""

    __slots__ = ("kind", "nbytes", "addr", "addr_end", "src", "dst", "tag")

    def __init__(self, kind: str, nbytes: int, addr: int = 0, addr_end: int | None = None,
                 src: str = "", dst: str = "", tag: int = 0):
        self.kind = kind
        self.nbytes = int(nbytes)
        self.addr = int(addr)
        self.addr_end = int(addr + nbytes if addr_end is None else addr_end)
        self.src = src
        self.dst = dst
        self.tag = int(tag)

    @property
    def extent(self) -> int:
        return self.addr_end - self.addr

    def __getstate__(self):
        return tuple(getattr(self, s) for s in self.__slots__)

    def __setstate__(self, st):
        for s, v in zip(self.__slots__, st):
            setattr(self, s, v)

    def __eq__(self, other):
        return isinstance(other, Message) and self.__getstate__() == other.__getstate__()

    def __repr__(self) -> str:
        return (f"Message({self.kind!r}, {self.nbytes}B, [{self.addr:#x},{self.addr_end:#x}), "
                f"{self.src}->{self.dst}, tag={self.tag})")


@dataclass(frozen=True)
class LinkSpec:
    name: str
    src: str
    dst: str
    latency: int          # ticks
    bandwidth: float      # bytes per tick; 0 = unlimited
    depth: int            # messages


class LinkState:
    """Plain runtime state of a link (picklable)."""

    def __init__(self) -> None:
        self.busy_until = 0          # tick the last reserved/sent byte leaves the sender
        self.occupancy = 0           # messages in the link (sent, not yet released)
        self.blocked = False         # the sender was refused and waits for on_link_free
        self.bytes = 0               # total bytes carried
        self.messages = 0


class Link:
    """One-way link between two named components. See the module docstring."""

    def __init__(self, machine: "Machine", name: str, src: str, dst: str, *, latency: int = 0,
                 bandwidth: float = 0.0, depth: int = 1 << 30):
        if latency < 0 or bandwidth < 0 or depth < 1:
            raise UserError(f"link {name!r}: latency and bandwidth must be >= 0 and depth >= 1 "
                            f"(got latency={latency}, bandwidth={bandwidth}, depth={depth})")
        self.spec = LinkSpec(name, src, dst, int(latency), float(bandwidth), int(depth))
        self.state = LinkState()
        self.machine = machine
        self.name = name
        machine._add_link(self)

    def transfer_ticks(self, nbytes: float) -> int:
        bw = self.spec.bandwidth
        if bw <= 0 or nbytes <= 0:
            return 0
        q = nbytes / bw
        n = int(q)
        return n if n == q else n + 1

    def can_send(self) -> bool:
        return self.state.occupancy < self.spec.depth

    def send(self, msg: Message, priority: int = 0) -> bool:
        """Queue ``msg``; it is delivered to the receiver's ``on_message(link_name, msg)``.

        Returns False (and delivers nothing) when the link holds ``depth`` messages; the sender
        is then called back with ``on_link_free(link_name)`` once a slot frees.
        """
        st, sp = self.state, self.spec
        if st.occupancy >= sp.depth:
            st.blocked = True
            return False
        now = self.machine.sim.now
        start = st.busy_until if st.busy_until > now else now
        st.busy_until = start + self.transfer_ticks(msg.nbytes)
        st.occupancy += 1
        st.bytes += msg.nbytes
        st.messages += 1
        arrive = st.busy_until + sp.latency
        self.machine.post_at(arrive, sp.dst, "on_message", self.name, msg, priority=priority)
        return True

    def release(self) -> None:
        """The receiver has consumed one message: free its slot, wake a refused sender."""
        st = self.state
        if st.occupancy <= 0:
            raise UserError(f"link {self.name!r}: release() with no message in the link")
        st.occupancy -= 1
        if st.blocked:
            st.blocked = False
            self.machine.post(0, self.spec.src, "on_link_free", self.name)

    def reserve(self, t: int, nbytes: float) -> int:
        """Fluid use: bytes offered at tick ``t`` pass in FIFO order after what is already
        reserved; returns the tick the last byte leaves (latency not included)."""
        st = self.state
        start = st.busy_until if st.busy_until > t else t
        st.busy_until = start + self.transfer_ticks(nbytes)
        st.bytes += int(nbytes)
        return st.busy_until


class Node:
    """A component: a name, an immutable ``spec`` and a plain ``state``.

    It runs only when an event addressed to it fires; between events it costs nothing (it is
    asleep). Override ``on_message(link_name, msg)`` to receive, ``on_link_free(link_name)`` to
    resume after back-pressure, and any other method used with ``machine.post``.
    """

    def __init__(self, machine: "Machine", name: str, spec: Any = None, state: Any = None):
        self.machine = machine
        self.name = name
        self.spec = spec
        self.state = state
        machine._add_node(self)

    def on_message(self, link: str, msg: Message) -> None:  # pragma: no cover - interface
        raise NotImplementedError(f"{type(self).__name__} {self.name!r} got a message on {link}")

    def on_link_free(self, link: str) -> None:
        pass

    # checkpoint hooks: the default saves/loads `state` as is (must be picklable)
    def save_state(self) -> Any:
        return self.state

    def load_state(self, st: Any) -> None:
        self.state = st


class Machine:
    """Components + links + one simulator + one signal bus; named, checkpointable events."""

    def __init__(self, seed: int = 0, *, backend: str | None = None):
        """backend: None (the compiled core when built), "cython" or "python" (pyengine)."""
        self.seed = seed
        if backend == "python":
            from archsim.engine.pyengine import Simulator as PySimulator
            self.sim = PySimulator(seed)
        elif backend in (None, "cython"):
            self.sim = Simulator(seed)
        else:
            raise UserError(f"engine backend must be 'cython' or 'python', not {backend!r}")
        self.signals = SignalBus()
        self.nodes: dict[str, Node] = {}
        self.links: dict[str, Link] = {}
        self._pending: dict[int, tuple] = {}
        self._seq = 0
        self.events_base = 0      # events processed before a restore

    # -- building ------------------------------------------------------------------------------
    def _add_node(self, node: Node) -> None:
        if node.name in self.nodes:
            raise UserError(f"component {node.name!r} is defined twice")
        self.nodes[node.name] = node

    def _add_link(self, link: Link) -> None:
        if link.name in self.links:
            raise UserError(f"link {link.name!r} is defined twice")
        self.links[link.name] = link

    # -- named events --------------------------------------------------------------------------
    @property
    def now(self) -> int:
        return self.sim.now

    @property
    def events_processed(self) -> int:
        return self.events_base + self.sim.events_processed

    def post(self, delay: int, target: str, method: str, *args, priority: int = 0) -> None:
        self.post_at(self.sim.now + int(delay), target, method, *args, priority=priority)

    def post_at(self, time: int, target: str, method: str, *args, priority: int = 0) -> None:
        seq = self._seq
        self._seq += 1
        self._pending[seq] = (int(time), priority, target, method, args)
        self.sim.schedule_at(int(time), self._fire, seq, priority=priority)

    def _fire(self, seq: int) -> None:
        _, _, target, method, args = self._pending.pop(seq)
        getattr(self.nodes[target], method)(*args)

    def run(self, until: int | None = None, max_events: int | None = None) -> int:
        return self.sim.run(until=until, max_events=max_events)

    @property
    def pending(self) -> int:
        return len(self._pending)

    # -- checkpoint / restore ------------------------------------------------------------------
    def save_extra(self) -> Any:
        """Machine-level plain state besides nodes and links (override)."""
        return None

    def load_extra(self, extra: Any) -> None:
        pass

    def checkpoint(self) -> bytes:
        """The whole running state as bytes: time, pending events (in sequence order), every
        component's and link's state. Call between events (after ``run`` returned)."""
        data = {
            "version": CHECKPOINT_VERSION,
            "now": self.sim.now,
            "events": self.events_processed,
            "seq": self._seq,
            "pending": sorted(self._pending.items()),
            "nodes": {n: node.save_state() for n, node in self.nodes.items()},
            "links": {n: link.state for n, link in self.links.items()},
            "counters": self.sim.counters.as_dict(),
            "extra": self.save_extra(),
        }
        return pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL)

    def restore(self, blob: bytes) -> None:
        """Load a checkpoint into a freshly built machine of the same spec."""
        data = pickle.loads(blob)
        if not isinstance(data, dict) or data.get("version") != CHECKPOINT_VERSION:
            raise UserError("not an archsim checkpoint of this version")
        if set(data["nodes"]) != set(self.nodes) or set(data["links"]) != set(self.links):
            raise UserError("checkpoint was taken on a machine with different components")
        if self.sim.events_processed or self._pending:
            raise UserError("restore() needs a freshly built machine")
        for n, st in data["nodes"].items():
            self.nodes[n].load_state(st)
        for n, st in data["links"].items():
            self.links[n].state = st
        for name, v in data["counters"].items():
            self.sim.counters.add(name, v)
        self.load_extra(data["extra"])
        now = data["now"]
        # re-create the pending events in their original sequence order: the heap orders by
        # (time, priority, insertion), so the order of same-time events is kept
        for seq, (t, prio, target, method, args) in data["pending"]:
            self._pending[seq] = (t, prio, target, method, args)
            self.sim.schedule_at(t, self._fire, seq, priority=prio)
        self._seq = data["seq"]
        self.events_base = data["events"]
        self._restored_now = now
        if not data["pending"] and now:
            self.sim.run(until=now)
