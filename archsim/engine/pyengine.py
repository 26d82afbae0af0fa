"""Pure-Python engine: the same API and semantics as the Cython core, on heapq.

Used when the compiled ``archsim.engine._core`` is absent (no compiler at install time).
It mirrors _core.pyx decision for decision (event order, wake-up edges, channel arrival
events, run/until/max_events/stop), so a model gives the same trace on either; the tests in
tests/engine check that. It has no C path: Cython components need the compiled core.
"""
from __future__ import annotations

import heapq
from collections import deque
from typing import Any, Callable

from archsim.engine._common import (
    ChannelEmptyError, ChannelFullError, Clock, PySimulatorBase, check_channel_params)

# Heap entries are tuples (time, priority, seq, fn, args, desc): seq is unique, so tuple
# comparison never reaches fn. desc is what hooks see (fn, or the Component/Channel).


class Simulator(PySimulatorBase):
    """Discrete-event simulator; see archsim/engine/README.md for the full contract."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed)
        self.now = 0
        self._heap: list[tuple] = []
        self._seq = 0

    def _push(self, time: int, priority: int, fn: Callable, args: tuple, desc: Any) -> None:
        heapq.heappush(self._heap, (time, priority, self._seq, fn, args, desc))
        self._seq += 1

    def _run(self, until: int | None, max_events: int | None) -> int:
        heap = self._heap
        pop = heapq.heappop
        lim_t = until
        lim_n = -1 if max_events is None else max_events
        n = 0
        while heap and n != lim_n:
            if lim_t is not None and heap[0][0] > lim_t:
                break
            time, _, _, fn, args, desc = pop(heap)
            self.now = time
            self.events_processed += 1
            n += 1
            if self._before:
                for hook in list(self._before):
                    hook(time, desc)
            fn(*args)
            if self._after:
                for hook in list(self._after):
                    hook(time, desc)
            if self._stopped:
                break
        if (until is not None and not self._stopped and until > self.now
                and (not heap or heap[0][0] > until)):
            self.now = until
        return n

    @property
    def pending(self) -> int:
        """Number of events scheduled and not yet processed (internal ones included)."""
        return len(self._heap)

    def __repr__(self) -> str:
        return (f"Simulator(now={self.now}, pending={len(self._heap)}, "
                f"events_processed={self.events_processed}, backend='python')")


class Component:
    """A clocked unit ticked only while it makes progress (see README, "Components")."""

    def __init__(self, sim: Simulator, name: str, clock: Clock, *, tick_priority: int = 0) -> None:
        self.sim = sim
        self.name = name
        self.clock = clock
        self.period = clock.period
        self.tick_priority = tick_priority
        self.ticks = 0
        self._scheduled = False
        self._last_tick = -1

    def tick(self) -> bool:
        """Do one cycle of work; return True if progress was made (then tick next edge)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement tick()")

    def wake(self) -> None:
        """Schedule a tick at the next clock edge this component has not ticked at yet."""
        if self._scheduled:
            return
        p = self.period
        edge = -(-self.sim.now // p) * p
        if edge == self._last_tick:
            edge += p
        self._scheduled = True
        self.sim._push(edge, self.tick_priority, self._on_tick, (), self)

    @property
    def sleeping(self) -> bool:
        """True when no tick is scheduled (the component waits for ``wake()``)."""
        return not self._scheduled

    def _on_tick(self) -> None:
        sim = self.sim
        self._scheduled = False
        self._last_tick = sim.now
        self.ticks += 1
        if self.tick() and not self._scheduled:
            self._scheduled = True
            sim._push(sim.now + self.period, self.tick_priority, self._on_tick, (), self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class Channel:
    """Bounded FIFO with a fixed latency in ticks (see README, "Channels")."""

    def __init__(self, sim: Simulator, name: str, capacity: int, latency: int) -> None:
        check_channel_params(name, capacity, latency)
        self.sim = sim
        self.name = name
        self.capacity = capacity
        self.latency = latency
        self.puts = 0
        self.gets = 0
        self.consumer: Component | None = None
        self.producer: Component | None = None
        self._queue: deque[tuple[int, Any]] = deque()  # (ready time, item)
        self._hooks: list[Callable] | None = None

    def can_put(self) -> bool:
        """True when an item may be put (items in flight + waiting < capacity)."""
        return len(self._queue) < self.capacity

    def can_get(self) -> bool:
        """True when the head item's latency has elapsed."""
        return bool(self._queue) and self._queue[0][0] <= self.sim.now

    def try_put(self, item: Any) -> bool:
        """Put ``item`` if there is room; return whether it was put."""
        if len(self._queue) >= self.capacity:
            return False
        ready = self.sim.now + self.latency
        self._queue.append((ready, item))
        self.puts += 1
        if self._hooks is not None:
            self._fire("put", item)
        if self.consumer is not None:
            if self.latency == 0:
                self.consumer.wake()
            else:
                self.sim._push(ready, 0, self._on_arrival, (), self)
        return True

    def put(self, item: Any) -> None:
        """Put ``item``; raises ChannelFullError when the channel is at capacity."""
        if not self.try_put(item):
            raise ChannelFullError(f"channel {self.name!r} is full ({self.capacity} items)")

    def get(self) -> Any:
        """Remove and return the head item; raises ChannelEmptyError unless ``can_get()``."""
        if not self.can_get():
            raise ChannelEmptyError(f"channel {self.name!r} has no item ready at {self.sim.now}")
        item = self._queue.popleft()[1]
        self.gets += 1
        if self._hooks is not None:
            self._fire("get", item)
        if self.producer is not None:
            self.producer.wake()
        return item

    def peek(self) -> Any:
        """Return the head item without removing it; raises ChannelEmptyError unless ready."""
        if not self.can_get():
            raise ChannelEmptyError(f"channel {self.name!r} has no item ready at {self.sim.now}")
        return self._queue[0][1]

    def _on_arrival(self) -> None:
        if self.consumer is not None:
            self.consumer.wake()

    def _fire(self, what: str, item: Any) -> None:
        for hook in list(self._hooks):
            hook(self.sim.now, what, item)

    def add_hook(self, fn: Callable[[int, str, Any], None]) -> None:
        """Call ``fn(time, "put" | "get", item)`` on every put and get."""
        if self._hooks is None:
            self._hooks = []
        self._hooks.append(fn)

    def remove_hook(self, fn: Callable[[int, str, Any], None]) -> None:
        """Unregister a hook added with ``add_hook``."""
        self._hooks.remove(fn)
        if not self._hooks:
            self._hooks = None

    @property
    def occupancy(self) -> int:
        """Items in flight + waiting (what capacity bounds)."""
        return len(self._queue)

    def __len__(self) -> int:
        return len(self._queue)

    def __repr__(self) -> str:
        return f"<Channel {self.name!r} {len(self._queue)}/{self.capacity} latency={self.latency}>"
