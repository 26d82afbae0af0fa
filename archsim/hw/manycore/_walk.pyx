"""Compiled tile and group loops of `caches.ChipCaches` (the step-synchronous hot path).

`ChipCaches.l1_misses` reads every active tile's operand block through the tile's L1, and
`l2_misses` every (group, block) pair through the group's L2. In Python each block is one
`Cache.access` call; here the loops over tiles (groups) and pieces run in C, without the GIL,
calling the cache component's own line walk (`Cache.c_range`): the same caches, the same
accesses in the same order per cache, so the same state and counts.

Parallel lanes. The work is split into lanes by cache (`lane = cache index mod lanes`); a lane
walks its caches' blocks in the serial order (pieces outer, blocks inner, as the Python loop
does), so every cache sees exactly the access sequence it sees serially. Caches of different
lanes share no state that a walk writes: an L1 walk writes only its L1 (it reads its group
L2's tags for inclusion), an L2 walk only its L2 and its own fetch record (it reads the LLC's
tags). So running the lanes in threads (each `walk` call releases the GIL) gives bit-identical
results for any number of threads; `ChipCaches` runs them on a thread pool when asked to.
"""
from cpython.ref cimport PyObject
from libc.stdlib cimport malloc, free
from libc.stdint cimport int64_t

from archsim.hw.cache._cache cimport Cache

import numpy as np


cdef int _raise() except -1:
    # PyErr_CheckSignals set the error indicator inside a nogil walk (Ctrl-C): raise it
    return -1


cdef class CacheArray:
    """A fixed list of compiled caches, held as C pointers for walks without the GIL."""
    cdef list _keep
    cdef PyObject** ptr
    cdef readonly Py_ssize_t n

    def __cinit__(self, list caches):
        cdef Py_ssize_t i
        for c in caches:
            if not isinstance(c, Cache):
                raise TypeError("CacheArray needs compiled archsim.hw.cache Cache objects")
        self._keep = list(caches)
        self.n = len(self._keep)
        self.ptr = <PyObject**>malloc(max(1, self.n) * sizeof(PyObject*))
        if self.ptr == NULL:
            raise MemoryError()
        for i in range(self.n):
            self.ptr[i] = <PyObject*>self._keep[i]

    def __dealloc__(self):
        free(self.ptr)

    def walk(self, const int64_t[::1] which, const int64_t[:, ::1] addr,
             const int64_t[::1] row, const int64_t[::1] nlines, long long line,
             long long lane, long long lanes, int64_t[::1] out, bint signals=True):
        """For each piece p (in order) and each block i (in order) whose cache `which[i]`
        falls in lane `lane` (which[i] mod lanes): read lines [addr[p, row[i]],
        + nlines[p]) through cache which[i], adding its missed lines (sectors) to out[i].

        signals=False (a lane on a worker thread, where Python never handles a signal): the
        cache's every-65536-lines signal check, which takes the GIL and so waits for the
        threads that hold it, is skipped by restarting its line count before each block
        (the count drives nothing else)."""
        cdef Py_ssize_t p, i, nb = which.shape[0], npieces = addr.shape[0]
        cdef long long k, m0, nbytes
        cdef int rc = 0
        cdef Cache c
        if lanes < 1 or out.shape[0] < nb or row.shape[0] < nb or nlines.shape[0] < npieces:
            raise ValueError("walk: mismatched arrays")
        for i in range(nb):
            if which[i] < 0 or which[i] >= self.n:
                raise IndexError(f"walk: cache {which[i]} of {self.n}")
            if row[i] < 0 or row[i] >= addr.shape[1]:
                raise IndexError(f"walk: row {row[i]} of {addr.shape[1]}")
        with nogil:
            for p in range(npieces):
                nbytes = nlines[p] * line
                for i in range(nb):
                    k = which[i]
                    if k % lanes != lane:
                        continue
                    m0 = (<Cache>self.ptr[k]).misses
                    if not signals:
                        (<Cache>self.ptr[k]).since_check = 0
                    rc = (<Cache>self.ptr[k]).c_range(addr[p, row[i]] * line, nbytes, 0)
                    out[i] += (<Cache>self.ptr[k]).misses - m0
                    if rc < 0:
                        break
                if rc < 0:
                    break
        if rc < 0:
            _raise()
        for i in range(nb):
            c = <Cache>self.ptr[which[i]]
            if c.oom:
                c.oom = False
                raise MemoryError("cache record buffer")
