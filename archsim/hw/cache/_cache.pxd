# C-level interface of the cache component, for Cython models that cimport it:
#
#     from archsim.hw.cache._cache cimport Cache
#     cdef Cache c = Cache(...)
#     with nogil:
#         c.c_range(addr, nbytes, 0)     # -> 0, or -1 when a signal is pending (needs the GIL back)
#
# Counters are C fields (sectors), readable without the GIL.
from libc.stdint cimport uint64_t, int64_t, uint8_t


cimport cython


@cython.final
cdef class Cache:
    cdef readonly long long size, line, sector, ways, nsets, sectors_per_line
    cdef readonly long long prefetch_degree, stride_entries, region_bytes, sample
    cdef uint64_t sample_mask
    # partitions (a line's home by address hash; near replicas: see README), set-index fold
    # shifts, address sampling by hash ("hash") or by the low bits of the line address ("low")
    cdef readonly long long partitions, pset, slices
    cdef object _slice_acc_a, _slice_fetch_a
    cdef long long* slice_acc
    cdef long long* slice_fetch
    cdef readonly bint sample_low
    cdef readonly str sample_select
    cdef int sample_bits, sh1, sh2
    cdef readonly str replacement, prefetch
    cdef readonly bint write_back, write_allocate, write_fetch, hash_index
    cdef int repl, pf, line_bits, sector_bits, region_shift
    cdef bint pow2
    cdef uint64_t set_mask, full_mask
    # per-way state: plain arrays (numpy owners below keep them alive; get_state copies them)
    cdef object _tag_a, _valid_a, _dirty_a, _stamp_a, _pfb_a
    cdef uint64_t* tag
    cdef uint8_t* valid       # sector bits (at most 8 sectors per line: one byte per way keeps
    cdef uint8_t* dirty       # a set's state small, which is what the host's caches reward)
    cdef uint64_t* stamp
    cdef uint8_t* pfb
    # per way a one-byte fingerprint of its tag (0: empty), padded by 16 bytes so a set's
    # ways load as one 16-byte vector (used when ways <= 16; derived state, not checkpointed)
    cdef object _fp_a
    cdef uint8_t* fp
    cdef bint use_fp
    cdef unsigned int way_mask
    # stride-prefetcher table (direct-mapped by region)
    cdef object _st_tag_a, _st_last_a, _st_stride_a, _st_conf_a
    cdef uint64_t* st_tag
    cdef int64_t* st_last
    cdef int64_t* st_stride
    cdef uint8_t* st_conf
    cdef uint64_t clock, rng
    # counters, in sectors (pf_* in lines)
    cdef public long long accesses, hits, misses, fetches, writebacks, write_accesses
    cdef public long long bypass_writes, through_writes, evictions
    cdef public long long pf_issued, pf_useful, pf_useless, pf_fetches, back_invalidations
    cdef public long long far_hits
    cdef Cache parent
    cdef bint has_parent
    # what went below: sector addresses fetched (demand then prefetch, in order) and written
    cdef public bint record
    cdef uint64_t* fetch_rec
    cdef long long fetch_n, fetch_cap
    cdef uint64_t* wb_rec
    cdef long long wb_n, wb_cap
    cdef long long since_check
    cdef bint oom

    cdef long long set_of(self, uint64_t line) noexcept nogil
    cdef int c_range(self, long long addr, long long nbytes, bint write, int side=*) noexcept nogil
    cdef int c_strided(self, long long addr, long long seg, long long stride, long long count,
                       bint write, long long passes=*) noexcept nogil
    cdef int c_block(self, long long addr, long long seg, long long stride, long long count,
                     bint write, int side) noexcept nogil
    cdef int _block_sampled(self, long long addr, long long seg, long long stride,
                            long long count, bint write, int side) noexcept nogil
    cdef long long c_invalidate(self, long long addr, long long nbytes) noexcept nogil

    cdef _bind(self)
    cdef void _rec(self, bint wb, uint64_t L, uint64_t mask) noexcept nogil
    cdef long long _find(self, long long base, uint64_t L) noexcept nogil
    cdef void _settag(self, long long w, uint64_t key) noexcept nogil
    cdef void _refp(self)
    cdef void _pf_set(self, long long base) noexcept nogil
    cdef void _pf_line(self, uint64_t L, int side) noexcept nogil
    cdef void _pf_row(self, long long r, long long count, long long addr, long long stride,
                      int side) noexcept nogil
    cdef long long _victim(self, long long base) noexcept nogil
    cdef void _fill_prefetch(self, int64_t P) noexcept nogil
    cdef void _trigger(self, uint64_t L) noexcept nogil
    cdef void _touch(self, uint64_t L, uint64_t m, bint write) noexcept nogil
    cdef int _touch_side(self, uint64_t L, uint64_t m, bint write, int side) noexcept nogil
    cdef int _home(self, uint64_t L) noexcept nogil
    cdef long long _pbase(self, uint64_t L, int part) noexcept nogil
    cdef long long _slice(self, uint64_t L, int part) noexcept nogil
    cdef int _tick(self) noexcept nogil
    cdef bint _sampled(self, uint64_t L) noexcept nogil
    cdef tuple _delta(self, long long h, long long m, long long wb)
