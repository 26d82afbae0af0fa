# cython: language_level=3
"""The Cython event core: a heap of C structs ordered by (time, priority, seq).

Why it looks like this:
* One heap holds both kinds of event, so C-path and Python-path events share one total order.
  A C-path event is (handler pointer, a, b): dispatching it allocates nothing. A Python-path
  event holds owned pointers to its callable and its argument tuple in the same struct (no
  side table to index, no list operations per event).
* The heap is a hand-written binary heap (hole-based sifts, bottom-up deletion, the
  comparison inlined): heapq on tuples would allocate a tuple per event and compare through
  the object protocol.
* Hooks are two Python lists checked behind one C flag, so an engine without hooks pays one
  branch per event.
Semantics are documented in archsim/engine/README.md and shared with pyengine.py and
reference.py; tests/engine checks all three produce the same traces.
"""
from cpython.ref cimport PyObject, Py_XINCREF, Py_XDECREF
from libc.stdlib cimport malloc, realloc, free
from libc.limits cimport LLONG_MAX
from libc.stdint cimport intptr_t
from cpython.long cimport PyLong_CheckExact
from cpython.number cimport PyNumber_Index

import numpy as np

from archsim.engine._common import (
    ChannelEmptyError, ChannelFullError, Counters, SimulationError, check_channel_params,
    check_hook_kind, check_seed)


cdef extern from "Python.h":
    # Declared here rather than cimported so the slot functions can be noexcept.
    ctypedef int (*_visitproc "visitproc")(PyObject*, void*) noexcept
    ctypedef int (*_traverseproc "traverseproc")(PyObject*, _visitproc, void*) noexcept
    ctypedef int (*_inquiry "inquiry")(PyObject*) noexcept
    ctypedef struct _TypeObject "PyTypeObject":
        _traverseproc tp_traverse
        _inquiry tp_clear


cdef inline long long _as_ticks(object x) except? -1:
    """An int-like time to C; floats are refused rather than silently truncated."""
    if PyLong_CheckExact(x):
        return x
    try:
        return PyNumber_Index(x)
    except TypeError:
        raise SimulationError(f"times are integer ticks, got {x!r}") from None


cdef inline bint _before(const Event* x, const Event* y) noexcept nogil:
    """True when event x must run before event y."""
    if x.time != y.time:
        return x.time < y.time
    if x.priority != y.priority:
        return x.priority < y.priority
    return x.seq < y.seq


cdef class Handler:
    """Base of C-level event handlers: override ``cdef void handle(self, a, b)`` in Cython."""

    cdef void handle(self, long long a, long long b):
        raise NotImplementedError(f"{type(self).__name__} does not implement handle()")


cdef class Simulator:
    """Discrete-event simulator; see archsim/engine/README.md for the full contract."""

    def __cinit__(self, *args, **kwargs):
        self._cap = 1024
        self._heap = <Event*>malloc(self._cap * sizeof(Event))
        if self._heap == NULL:
            raise MemoryError()
        self._size = 0

    def __init__(self, seed=0) -> None:
        self.seed = check_seed(seed)
        self.rng = np.random.default_rng(self.seed)
        self.counters = Counters()
        self.now = 0
        self.events_processed = 0
        self._seq = 0
        self._stopped = False
        self._running = False
        self._hooks_on = False
        self._before = []
        self._after = []

    def __dealloc__(self):
        if self._heap != NULL:
            _release_all(self._heap, self._size)
            self._size = 0
            free(self._heap)
            self._heap = NULL

    # ----------------------------------------------------------- scheduling
    cdef int c_schedule(self, long long delay, int priority, Handler h,
                        long long a, long long b) except -1:
        """Schedule ``h.handle(a, b)`` ``delay`` ticks from now (C path, no allocation)."""
        if delay < 0:
            raise SimulationError(f"negative delay {delay}")
        if h is None:
            raise SimulationError("c_schedule needs a Handler, got None")
        return _push(self, self.now + delay, priority, C_EVENT, <PyObject*>h, NULL, a, b)

    cdef int c_schedule_at(self, long long time, int priority, Handler h,
                           long long a, long long b) except -1:
        """Schedule ``h.handle(a, b)`` at absolute tick ``time`` (C path)."""
        if time < self.now:
            raise SimulationError(f"cannot schedule at {time}: now is {self.now}")
        if h is None:
            raise SimulationError("c_schedule_at needs a Handler, got None")
        return _push(self, time, priority, C_EVENT, <PyObject*>h, NULL, a, b)

    def schedule(self, delay, fn, *args, int priority=0) -> None:
        """Call ``fn(*args)`` ``delay`` ticks from now (Python path)."""
        cdef long long d = _as_ticks(delay)
        if d < 0:
            raise SimulationError(f"negative delay {delay}")
        if not callable(fn):
            raise SimulationError(f"event callback {fn!r} is not callable")
        _push(self, self.now + d, priority, PY_EVENT, <PyObject*>fn, <PyObject*>args, 0, 0)

    def schedule_at(self, when, fn, *args, int priority=0) -> None:
        """Call ``fn(*args)`` at absolute tick ``when`` (Python path)."""
        cdef long long time = _as_ticks(when)
        if time < self.now:
            raise SimulationError(f"cannot schedule at {time}: now is {self.now}")
        if not callable(fn):
            raise SimulationError(f"event callback {fn!r} is not callable")
        _push(self, time, priority, PY_EVENT, <PyObject*>fn, <PyObject*>args, 0, 0)

    def schedule_handler(self, delay, Handler handler not None, long long a=0,
                         long long b=0, *, int priority=0) -> None:
        """Schedule ``handler.handle(a, b)`` from Python (to start a Cython component)."""
        self.c_schedule(_as_ticks(delay), priority, handler, a, b)

    # ------------------------------------------------------------------ run
    def run(self, until=None, max_events=None) -> int:
        """Process events in order; return how many ran in this call.

        Runs every event with time <= ``until`` (inclusive) and then sets ``now = until``;
        stops early after ``max_events`` events or when ``stop()`` is called by an event
        (then ``now`` stays at the last event's time).
        """
        cdef long long lim_t = LLONG_MAX
        cdef long long lim_n = LLONG_MAX
        cdef long long n
        if until is not None:
            lim_t = _as_ticks(until)
            if lim_t < self.now:
                raise SimulationError(f"run(until={until}) is in the past: now is {self.now}")
        if max_events is not None:
            lim_n = _as_ticks(max_events)
            if lim_n < 0:
                raise SimulationError(f"max_events must be >= 0, got {max_events}")
        if self._running:
            raise SimulationError("run() called from inside an event; use stop() instead")
        self._stopped = False
        self._running = True
        try:
            n = self._loop(lim_t, lim_n)
        finally:
            self._running = False
        if (until is not None and not self._stopped and lim_t > self.now
                and (self._size == 0 or self._heap[0].time > lim_t)):
            self.now = lim_t
        return n

    cdef long long _loop(self, long long lim_t, long long lim_n) except -1:
        """The event loop proper: returns the number of events processed."""
        cdef long long n = 0
        cdef Event ev
        cdef Handler h
        cdef object fn, args
        while self._size > 0 and n < lim_n:
            if self._heap[0].time > lim_t:
                break
            _pop_into(self, &ev)
            self.now = ev.time
            self.events_processed += 1
            n += 1
            if ev.kind == C_EVENT:
                h = <Handler>ev.handler  # our reference now; drop the heap's
                Py_XDECREF(ev.handler)
                if self._hooks_on:
                    self._fire(self._before, h)
                h.handle(ev.a, ev.b)
                if self._hooks_on:
                    self._fire(self._after, h)
            else:
                fn = <object>ev.handler
                args = <object><PyObject*><intptr_t>ev.a
                Py_XDECREF(ev.handler)
                Py_XDECREF(<PyObject*><intptr_t>ev.a)
                if self._hooks_on:
                    self._fire(self._before, fn)
                fn(*args)
                if self._hooks_on:
                    self._fire(self._after, fn)
            if self._stopped:
                break
        return n

    cdef int _fire(self, list hooks, object desc) except -1:
        for hook in list(hooks):  # a hook may add/remove hooks
            hook(self.now, desc)
        return 0

    def stop(self) -> None:
        """End the current ``run()`` once the event being processed returns."""
        self._stopped = True

    # ---------------------------------------------------------------- hooks
    def add_hook(self, kind: str, fn) -> None:
        """Call ``fn(time, description)`` before/after every event.

        ``description`` is the callable for Python-path events and the handler (a Component,
        a Channel, any Handler) for C-path events.
        """
        check_hook_kind(kind)
        (self._before if kind == "before_event" else self._after).append(fn)
        self._hooks_on = True

    def remove_hook(self, kind: str, fn) -> None:
        """Unregister a hook added with ``add_hook``."""
        check_hook_kind(kind)
        (self._before if kind == "before_event" else self._after).remove(fn)
        self._hooks_on = bool(self._before or self._after)

    @property
    def pending(self) -> int:
        """Number of events scheduled and not yet processed (internal ones included)."""
        return self._size

    def __repr__(self) -> str:
        return (f"Simulator(now={self.now}, pending={self._size}, "
                f"events_processed={self.events_processed}, backend='cython')")


cdef inline int _push(Simulator s, long long time, int priority, int kind, PyObject* handler,
                      PyObject* args, long long a, long long b) except -1:
    """Insert an event, taking a reference to ``handler`` (and to ``args`` for PY_EVENT)."""
    cdef Py_ssize_t i, parent
    cdef Event ev
    cdef Event* heap
    if s._size == s._cap:
        heap = <Event*>realloc(s._heap, 2 * s._cap * sizeof(Event))
        if heap == NULL:
            raise MemoryError()
        s._heap = heap
        s._cap *= 2
    ev.time = time
    ev.priority = priority
    ev.kind = kind
    ev.seq = s._seq
    ev.handler = handler
    Py_XINCREF(handler)
    if kind == PY_EVENT:
        Py_XINCREF(args)
        ev.a = <long long><intptr_t>args
    else:
        ev.a = a
    ev.b = b
    s._seq += 1
    heap = s._heap
    i = s._size
    s._size += 1
    while i > 0:  # sift the hole up
        parent = (i - 1) >> 1
        if not _before(&ev, &heap[parent]):
            break
        heap[i] = heap[parent]
        i = parent
    heap[i] = ev
    return 0


cdef inline void _pop_into(Simulator s, Event* out) noexcept:
    """Remove the earliest event into *out (the heap must be non-empty).

    Bottom-up deletion (Wegener 1993): walk the hole down to a leaf along the smaller
    children (one comparison per level), then sift the former last element up from there.
    The last element is usually among the latest events, so the sift-up is short; this
    does about half the comparisons of the textbook sift-down.
    """
    cdef Event* heap = s._heap
    cdef Py_ssize_t n, i, child, parent
    cdef Event last
    out[0] = heap[0]
    s._size -= 1
    n = s._size
    if n == 0:
        return
    last = heap[n]
    i = 0
    child = 1
    while child < n:
        if child + 1 < n and _before(&heap[child + 1], &heap[child]):
            child += 1
        heap[i] = heap[child]
        i = child
        child = 2 * i + 1
    while i > 0:
        parent = (i - 1) >> 1
        if not _before(&last, &heap[parent]):
            break
        heap[i] = heap[parent]
        i = parent
    heap[i] = last


# The heap owns references to handlers through raw pointers, which the cycle collector cannot
# see: a component referencing its simulator while its tick is pending would form an
# uncollectable cycle, and a sweep running thousands of simulations in one process would leak
# every one stopped with events pending. Extending the type's traverse/clear slots to cover
# the heap makes those cycles visible and breakable, without any cost per event.
cdef _traverseproc _sim_base_traverse = (<_TypeObject*><void*>Simulator).tp_traverse
cdef _inquiry _sim_base_clear = (<_TypeObject*><void*>Simulator).tp_clear


cdef int _sim_traverse(PyObject* o, _visitproc visit, void* arg) noexcept:
    cdef int r = _sim_base_traverse(o, visit, arg)
    cdef Simulator s
    cdef Py_ssize_t i
    if r:
        return r
    s = <Simulator>o
    for i in range(s._size):
        if s._heap[i].handler != NULL:
            r = visit(s._heap[i].handler, arg)
            if r:
                return r
        if s._heap[i].kind == PY_EVENT:
            r = visit(<PyObject*><intptr_t>s._heap[i].a, arg)
            if r:
                return r
    return 0


cdef int _sim_clear(PyObject* o) noexcept:
    cdef Simulator s = <Simulator>o
    cdef Py_ssize_t i, n = s._size
    s._size = 0  # empty first: a handler's dealloc must not see a half-cleared heap
    _release_all(s._heap, n)
    return _sim_base_clear(o)


cdef void _release_all(Event* heap, Py_ssize_t n) noexcept:
    """Drop the references the heap owns for its first ``n`` events."""
    cdef Py_ssize_t i
    for i in range(n):
        Py_XDECREF(heap[i].handler)
        if heap[i].kind == PY_EVENT:
            Py_XDECREF(<PyObject*><intptr_t>heap[i].a)


(<_TypeObject*><void*>Simulator).tp_traverse = _sim_traverse
(<_TypeObject*><void*>Simulator).tp_clear = _sim_clear


cdef class Component(Handler):
    """A clocked unit ticked only while it makes progress (see README, "Components")."""

    def __init__(self, Simulator sim, str name, clock, *, int tick_priority=0) -> None:
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

    cdef int _wake(self) except -1:
        cdef long long p = self.period
        cdef long long edge
        if self._scheduled:
            return 0
        if self.sim is None:
            raise SimulationError(f"{type(self).__name__}.__init__ did not call "
                                  "Component.__init__(sim, name, clock)")
        edge = ((self.sim.now + p - 1) // p) * p
        if edge == self._last_tick:  # already ticked at this edge: at most one tick per cycle
            edge += p
        self._scheduled = True
        return _push(self.sim, edge, self.tick_priority, C_EVENT, <PyObject*>self, NULL, 0, 0)

    def wake(self) -> None:
        """Schedule a tick at the next clock edge this component has not ticked at yet.

        No-op when a tick is already scheduled, so a component is never ticked twice a cycle.
        """
        self._wake()

    @property
    def sleeping(self) -> bool:
        """True when no tick is scheduled (the component waits for ``wake()``)."""
        return not self._scheduled

    cdef void handle(self, long long a, long long b):
        self._scheduled = False
        self._last_tick = self.sim.now
        self.ticks += 1
        if self.tick() and not self._scheduled:
            self._scheduled = True
            _push(self.sim, self.sim.now + self.period, self.tick_priority, C_EVENT,
                  <PyObject*>self, NULL, 0, 0)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


cdef class Channel(Handler):
    """Bounded FIFO with a fixed latency in ticks (see README, "Channels")."""

    def __cinit__(self, *args, **kwargs):
        self._ready = NULL

    def __init__(self, Simulator sim, str name, long long capacity, long long latency) -> None:
        check_channel_params(name, capacity, latency)
        self.sim = sim
        self.name = name
        self.capacity = capacity
        self.latency = latency
        self.puts = 0
        self.gets = 0
        self.consumer = None
        self.producer = None
        self._items = [None] * capacity
        if self._ready != NULL:
            free(self._ready)
        self._ready = <long long*>malloc(capacity * sizeof(long long))
        if self._ready == NULL:
            raise MemoryError()
        self._head = 0
        self._count = 0
        self._hooks = None

    def __dealloc__(self):
        if self._ready != NULL:
            free(self._ready)

    cpdef bint can_put(self):
        """True when an item may be put (items in flight + waiting < capacity)."""
        return self._count < self.capacity

    cpdef bint can_get(self):
        """True when the head item's latency has elapsed."""
        if self._count == 0:
            return False
        return self._count > 0 and self._ready[self._head] <= self.sim.now

    cpdef bint try_put(self, object item) except -1:
        """Put ``item`` if there is room; return whether it was put."""
        cdef Py_ssize_t tail
        cdef long long ready
        if self.sim is None:
            raise SimulationError(f"{type(self).__name__}.__init__ did not call "
                                  "Channel.__init__(sim, name, capacity, latency)")
        if self._count >= self.capacity:
            return False
        tail = (self._head + self._count) % self.capacity
        ready = self.sim.now + self.latency
        self._items[tail] = item
        self._ready[tail] = ready
        self._count += 1
        self.puts += 1
        if self._hooks is not None:
            self._fire("put", item)
        if self.consumer is not None:
            if self.latency == 0:
                self.consumer._wake()
            else:  # wake the consumer when the item lands, even if it sleeps before then
                _push(self.sim, ready, 0, C_EVENT, <PyObject*>self, NULL, 0, 0)
        return True

    def put(self, item) -> None:
        """Put ``item``; raises ChannelFullError when the channel is at capacity."""
        if not self.try_put(item):
            raise ChannelFullError(f"channel {self.name!r} is full ({self.capacity} items)")

    cpdef object get(self):
        """Remove and return the head item; raises ChannelEmptyError unless ``can_get()``."""
        if not (self._count > 0 and self._ready[self._head] <= self.sim.now):
            raise self._empty_error()
        item = self._items[self._head]
        self._items[self._head] = None
        self._head = (self._head + 1) % self.capacity
        self._count -= 1
        self.gets += 1
        if self._hooks is not None:
            self._fire("get", item)
        if self.producer is not None:  # back-pressure release
            self.producer._wake()
        return item

    cpdef object peek(self):
        """Return the head item without removing it; raises ChannelEmptyError unless ready."""
        if not (self._count > 0 and self._ready[self._head] <= self.sim.now):
            raise self._empty_error()
        return self._items[self._head]

    cdef object _empty_error(self):
        when = "" if self.sim is None else f" at {self.sim.now}"
        return ChannelEmptyError(f"channel {self.name!r} has no item ready{when}")

    cdef int _fire(self, str what, object item) except -1:
        for hook in list(self._hooks):
            hook(self.sim.now, what, item)
        return 0

    def add_hook(self, fn) -> None:
        """Call ``fn(time, "put" | "get", item)`` on every put and get."""
        if self._hooks is None:
            self._hooks = []
        self._hooks.append(fn)

    def remove_hook(self, fn) -> None:
        """Unregister a hook added with ``add_hook``."""
        self._hooks.remove(fn)
        if not self._hooks:
            self._hooks = None

    cdef void handle(self, long long a, long long b):
        # Arrival of an item (its latency elapsed): wake the consumer.
        if self.consumer is not None:
            self.consumer._wake()

    @property
    def occupancy(self) -> int:
        """Items in flight + waiting (what capacity bounds)."""
        return self._count

    def __len__(self) -> int:
        return self._count

    def __repr__(self) -> str:
        return (f"<Channel {self.name!r} {self._count}/{self.capacity} "
                f"latency={self.latency}>")
