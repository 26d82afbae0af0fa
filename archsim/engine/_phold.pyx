# cython: language_level=3
"""PHOLD on the C-level path: the benchmark workload of benchmarks/engine.py.

It lives in the package (not in benchmarks/) so it compiles with archsim and doubles as the
worked example of a Cython component: a Handler subclass whose events are (handler, a, b)
structs scheduled with ``Simulator.c_schedule``; random numbers come from a splitmix64
generator in C so no Python object is touched per event.
"""
from libc.math cimport log
from libc.stdint cimport uint64_t

import numpy as np

from archsim.engine._core cimport Handler, Simulator


cdef inline uint64_t _splitmix64(uint64_t* state) noexcept nogil:
    """Next 64-bit output of splitmix64 (Steele, Lea, Flood 2014): tiny state, passes BigCrush."""
    state[0] += <uint64_t>0x9E3779B97F4A7C15ULL
    cdef uint64_t z = state[0]
    z = (z ^ (z >> 30)) * <uint64_t>0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * <uint64_t>0x94D049BB133111EBULL
    return z ^ (z >> 31)


cdef class CPhold(Handler):
    """N logical processes; each event at LP ``a`` sends one event to a random LP.

    Delays are exponential with mean ``mean_delay`` ticks, truncated to whole ticks, so zero
    delays occur (PHOLD without lookahead). ``received[i]`` counts events processed by LP i.
    """
    cdef Simulator sim
    cdef long long n_lp
    cdef double mean_delay
    cdef uint64_t state
    cdef long long[::1] _received
    cdef readonly object received

    def __init__(self, Simulator sim, long long n_lp, double mean_delay, uint64_t seed,
                 long long events_per_lp=1) -> None:
        cdef long long lp, k
        if n_lp < 1 or events_per_lp < 0 or mean_delay <= 0:
            raise ValueError("PHOLD needs n_lp >= 1, events_per_lp >= 0 and mean_delay > 0")
        self.sim = sim
        self.n_lp = n_lp
        self.mean_delay = mean_delay
        self.state = seed
        self.received = np.zeros(n_lp, dtype=np.int64)
        self._received = self.received
        for lp in range(n_lp):
            for k in range(events_per_lp):
                sim.c_schedule(self._delay(), 0, self, lp, 0)

    cdef inline long long _delay(self) noexcept:
        # 53 random bits -> u in (0, 1]; -log(u) is Exp(1).
        cdef double u = ((_splitmix64(&self.state) >> 11) + 1) * (1.0 / 9007199254740992.0)
        return <long long>(-log(u) * self.mean_delay)

    cdef void handle(self, long long a, long long b):
        self._received[a] += 1
        cdef long long target = <long long>((_splitmix64(&self.state) >> 11) % <uint64_t>self.n_lp)
        self.sim.c_schedule(self._delay(), 0, self, target, 0)
