# C-level interface of the Cython engine, for Cython components:
#
#     from archsim.engine._core cimport Simulator, Handler
#
#     cdef class MyUnit(Handler):
#         cdef Simulator sim
#         cdef void handle(self, long long a, long long b):
#             ...
#             self.sim.c_schedule(delay, 0, self, a, b)   # no Python object per event
#
# An event is one Event struct in the simulator's heap; the handler is kept alive by one
# reference the heap owns from push to dispatch.
from cpython.ref cimport PyObject


cdef enum EventKind:
    C_EVENT = 0            # handler is a Handler: call handler.handle(a, b)
    PY_EVENT = 1           # handler is the callable; a holds the args tuple's PyObject*


cdef struct Event:
    long long time
    long long seq
    int priority
    int kind               # an EventKind; fits in the padding after priority
    PyObject* handler      # one reference owned by the heap
    long long a            # for PY_EVENT: one reference to the args tuple, owned by the heap
    long long b


cdef class Handler:
    cdef void handle(self, long long a, long long b)


cdef class Simulator:
    cdef readonly long long now
    cdef readonly long long events_processed
    cdef readonly object seed
    cdef readonly object rng
    cdef readonly object counters
    cdef Event* _heap
    cdef Py_ssize_t _size
    cdef Py_ssize_t _cap
    cdef long long _seq
    cdef bint _stopped
    cdef bint _running
    cdef bint _hooks_on
    cdef list _before
    cdef list _after

    cdef int _fire(self, list hooks, object desc) except -1
    cdef long long _loop(self, long long lim_t, long long lim_n) except -1
    cdef int c_schedule(self, long long delay, int priority, Handler h,
                        long long a, long long b) except -1
    cdef int c_schedule_at(self, long long time, int priority, Handler h,
                           long long a, long long b) except -1


cdef class Component(Handler):
    cdef readonly Simulator sim
    cdef readonly str name
    cdef readonly object clock
    cdef readonly long long period
    cdef readonly long long ticks
    cdef public int tick_priority
    cdef bint _scheduled
    cdef long long _last_tick
    cdef int _wake(self) except -1


cdef class Channel(Handler):
    cdef readonly Simulator sim
    cdef readonly str name
    cdef readonly long long capacity
    cdef readonly long long latency
    cdef readonly long long puts
    cdef readonly long long gets
    cdef public Component consumer
    cdef public Component producer
    cdef list _items
    cdef long long* _ready
    cdef Py_ssize_t _head
    cdef Py_ssize_t _count
    cdef list _hooks

    cpdef bint can_put(self)
    cpdef bint can_get(self)
    cpdef bint try_put(self, object item) except -1
    cpdef object get(self)
    cpdef object peek(self)
    cdef int _fire(self, str what, object item) except -1
    cdef object _empty_error(self)
