"""Reference engine: the public engine API on top of ``simpy.Environment``.

This is the oracle of the differential tests in tests/engine. It is written for obviousness,
not speed: SimPy's own event queue provides the (time, priority, event id) order — every
event here is one SimPy event scheduled with ``Environment.schedule(event, priority, delay)``
and SimPy's monotonically increasing event id is our sequence number — and components and
channels are restated plainly in terms of ``Clock`` methods and a list of (ready, item)
pairs instead of sharing code with the fast engines. Module-level aliases ``Simulator``,
``Component`` and ``Channel`` give it the same shape as ``archsim.engine`` so a test can run
one model on every backend.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import simpy

from archsim.engine._common import (
    ChannelEmptyError, ChannelFullError, Clock, Counters, PySimulatorBase, check_channel_params)

__all__ = ["SimpySimulator", "SimpyComponent", "SimpyChannel",
           "Simulator", "Component", "Channel", "Clock", "Counters"]


class _Call(simpy.Event):
    """A SimPy event that is born triggered and runs one callback when processed.

    It mirrors ``simpy.Timeout.__init__`` but schedules with an explicit priority, which the
    public ``Environment.schedule`` accepts and ``Timeout`` does not expose.
    """

    def __init__(self, sim: "SimpySimulator", delay: int, priority: int,
                 fn: Callable, args: tuple, desc: Any) -> None:
        self.env = sim.env
        self.callbacks = [self._process]
        self._value = None
        self._ok = True
        self._sim, self._fn, self._args, self._desc = sim, fn, args, desc
        sim.env.schedule(self, priority, delay)

    def _process(self, _event: simpy.Event) -> None:
        sim = self._sim
        sim._pending -= 1
        sim.events_processed += 1
        sim._ran += 1
        for hook in list(sim._before):
            hook(sim.env.now, self._desc)
        self._fn(*self._args)
        for hook in list(sim._after):
            hook(sim.env.now, self._desc)


class SimpySimulator(PySimulatorBase):
    """Discrete-event simulator on a SimPy environment (see README for the contract)."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed)
        self.env = simpy.Environment(initial_time=0)
        self._pending = 0
        self._ran = 0

    @property
    def now(self) -> int:
        """Current simulated time in ticks."""
        return self.env.now

    @property
    def pending(self) -> int:
        """Number of events scheduled and not yet processed."""
        return self._pending

    def _push(self, time: int, priority: int, fn: Callable, args: tuple, desc: Any) -> None:
        self._pending += 1
        _Call(self, time - self.env.now, priority, fn, args, desc)

    def _run(self, until: int | None, max_events: int | None) -> int:
        env = self.env
        self._ran = 0
        while not self._stopped and (max_events is None or self._ran < max_events):
            next_time = env.peek()
            if next_time == math.inf or (until is not None and next_time > until):
                break
            env.step()
        if until is not None and not self._stopped and env.peek() > until and env.now < until:
            env.run(until=until)  # only SimPy's own stop event is left before `until`
        return self._ran


class SimpyComponent:
    """Component with the same sleep/wake contract as the fast engines."""

    def __init__(self, sim: SimpySimulator, name: str, clock: Clock, *,
                 tick_priority: int = 0) -> None:
        self.sim, self.name, self.clock = sim, name, clock
        self.period = clock.period
        self.tick_priority = tick_priority
        self.ticks = 0
        self.sleeping = True
        self._last_tick: int | None = None

    def tick(self) -> bool:
        """Do one cycle of work; return True if progress was made."""
        raise NotImplementedError(f"{type(self).__name__} does not implement tick()")

    def wake(self) -> None:
        """Tick at the first edge >= now that this component has not ticked at yet."""
        if not self.sleeping:
            return
        now = self.sim.now
        edge = self.clock.edge_at_or_after(now)
        if edge == self._last_tick:
            edge = self.clock.next_edge(now)
        self.sleeping = False
        self.sim._push(edge, self.tick_priority, self._tick_event, (), self)

    def _tick_event(self) -> None:
        self.sleeping = True
        self._last_tick = self.sim.now
        self.ticks += 1
        progressed = self.tick()
        if progressed and self.sleeping:
            self.sleeping = False
            self.sim._push(self.clock.next_edge(self.sim.now), self.tick_priority,
                              self._tick_event, (), self)


class SimpyChannel:
    """Bounded FIFO with latency: a list of (ready time, item) in put order."""

    def __init__(self, sim: SimpySimulator, name: str, capacity: int, latency: int) -> None:
        check_channel_params(name, capacity, latency)
        self.sim, self.name, self.capacity, self.latency = sim, name, capacity, latency
        self.puts = 0
        self.gets = 0
        self.consumer: SimpyComponent | None = None
        self.producer: SimpyComponent | None = None
        self._entries: list[tuple[int, Any]] = []
        self._hooks: list[Callable] = []

    @property
    def occupancy(self) -> int:
        """Items in flight + waiting."""
        return len(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def can_put(self) -> bool:
        """True when items in flight + waiting < capacity."""
        return len(self._entries) < self.capacity

    def can_get(self) -> bool:
        """True when the head item's latency has elapsed."""
        return len(self._entries) > 0 and self._entries[0][0] <= self.sim.now

    def try_put(self, item: Any) -> bool:
        """Put ``item`` if there is room; return whether it was put."""
        if not self.can_put():
            return False
        self._entries.append((self.sim.now + self.latency, item))
        self.puts += 1
        for hook in list(self._hooks):
            hook(self.sim.now, "put", item)
        if self.consumer is not None:
            if self.latency == 0:
                self.consumer.wake()
            else:
                self.sim._push(self.sim.now + self.latency, 0, self._arrived, (), self)
        return True

    def put(self, item: Any) -> None:
        """Put ``item``; raises ChannelFullError when full."""
        if not self.try_put(item):
            raise ChannelFullError(f"channel {self.name!r} is full ({self.capacity} items)")

    def peek(self) -> Any:
        """The head item, if ready; raises ChannelEmptyError otherwise."""
        if not self.can_get():
            raise ChannelEmptyError(f"channel {self.name!r} has no item ready at {self.sim.now}")
        return self._entries[0][1]

    def get(self) -> Any:
        """Remove and return the head item, if ready; raises ChannelEmptyError otherwise."""
        item = self.peek()
        del self._entries[0]
        self.gets += 1
        for hook in list(self._hooks):
            hook(self.sim.now, "get", item)
        if self.producer is not None:
            self.producer.wake()
        return item

    def _arrived(self) -> None:
        if self.consumer is not None:
            self.consumer.wake()

    def add_hook(self, fn: Callable[[int, str, Any], None]) -> None:
        """Call ``fn(time, "put" | "get", item)`` on every put and get."""
        self._hooks.append(fn)

    def remove_hook(self, fn: Callable[[int, str, Any], None]) -> None:
        """Unregister a hook added with ``add_hook``."""
        self._hooks.remove(fn)


Simulator = SimpySimulator
Component = SimpyComponent
Channel = SimpyChannel
