# cython: language_level=3
"""The RV32I core of the YPU in Cython: a C struct register file and memories, no Python object
per instruction. Same machine as `pycore.PyRv32Core` (the reference), cycle for cycle; a test
compares the two on every instruction-level case.
"""
from libc.stdint cimport uint8_t, uint32_t, int32_t, uint64_t
from libc.string cimport memset, memcpy
from libc.stdlib cimport calloc, free

from archsim.hw.ypu.pycore import YpuFault

DEF IMEM_WORDS = 2048
DEF DMEM_BYTES = 32768
DEF DMEM_BASE = 0x10000000
DEF IO_BASE = 0x20000000
DEF IO_WORDS = 64
DEF IO_OUT = 38
DEF C_ALU = 1
DEF C_LOAD = 2
DEF C_STORE = 1
DEF C_BRANCH = 1
DEF C_TAKEN = 3
DEF C_JAL = 2
DEF C_JALR = 3
DEF C_HIST = 2
DEF C_SYS = 1

# fault codes
DEF F_NONE = 0
DEF F_FETCH = 1
DEF F_ILLEGAL = 2
DEF F_MISALIGNED_LOAD = 3
DEF F_MISALIGNED_STORE = 4
DEF F_UNMAPPED_LOAD = 5
DEF F_UNMAPPED_STORE = 6
DEF F_IO_WIDTH = 7
DEF F_IO_READONLY = 8
DEF F_RUNAWAY = 9
DEF F_OUT_FULL = 10

DEF OUT_CAP = 4096


cdef struct CpuState:
    uint32_t x[32]
    uint32_t pc
    uint64_t cycles
    uint64_t instret
    uint32_t imem[IMEM_WORDS]
    uint8_t dmem[DMEM_BYTES]
    uint32_t io[IO_WORDS]
    uint32_t out[OUT_CAP]
    int nout
    int fault
    uint32_t fault_addr
    uint32_t fault_size
    uint32_t fault_ins


cdef inline int32_t sx(uint32_t v, int bits) noexcept nogil:
    cdef int sh = 32 - bits
    return (<int32_t>(v << sh)) >> sh


cdef inline int load(CpuState* s, uint32_t addr, int size, uint32_t* res) noexcept nogil:
    cdef uint32_t o
    if addr & (size - 1):
        s.fault = F_MISALIGNED_LOAD
        s.fault_addr = addr
        s.fault_size = size
        return 1
    if addr >= DMEM_BASE and addr - DMEM_BASE <= DMEM_BYTES - size:
        o = addr - DMEM_BASE
        if size == 1:
            res[0] = s.dmem[o]
        elif size == 2:
            res[0] = s.dmem[o] | (<uint32_t>s.dmem[o + 1] << 8)
        else:
            res[0] = (s.dmem[o] | (<uint32_t>s.dmem[o + 1] << 8) | (<uint32_t>s.dmem[o + 2] << 16)
                      | (<uint32_t>s.dmem[o + 3] << 24))
        return 0
    if addr >= IO_BASE and addr - IO_BASE < 4 * IO_WORDS:
        if size != 4:
            s.fault = F_IO_WIDTH
            s.fault_addr = addr
            return 1
        o = (addr - IO_BASE) >> 2
        res[0] = 0 if o == IO_OUT else s.io[o]
        return 0
    s.fault = F_UNMAPPED_LOAD
    s.fault_addr = addr
    return 1


cdef inline int store(CpuState* s, uint32_t addr, int size, uint32_t v) noexcept nogil:
    cdef uint32_t o
    if addr & (size - 1):
        s.fault = F_MISALIGNED_STORE
        s.fault_addr = addr
        s.fault_size = size
        return 1
    if addr >= DMEM_BASE and addr - DMEM_BASE <= DMEM_BYTES - size:
        o = addr - DMEM_BASE
        s.dmem[o] = v & 0xFF
        if size >= 2:
            s.dmem[o + 1] = (v >> 8) & 0xFF
        if size == 4:
            s.dmem[o + 2] = (v >> 16) & 0xFF
            s.dmem[o + 3] = (v >> 24) & 0xFF
        return 0
    if addr >= IO_BASE and addr - IO_BASE < 4 * IO_WORDS:
        if size == 4 and ((addr - IO_BASE) >> 2) == IO_OUT:
            if s.nout >= OUT_CAP:
                s.fault = F_OUT_FULL
                return 1
            s.out[s.nout] = v
            s.nout += 1
            return 0
        s.fault = F_IO_READONLY
        s.fault_addr = addr
        return 1
    s.fault = F_UNMAPPED_STORE
    s.fault_addr = addr
    return 1


cdef long long run_core(CpuState* s, long long max_cycles) noexcept nogil:
    """Run to the next ecall; return cycles used, or -1 with s.fault set."""
    cdef uint64_t start = s.cycles
    cdef uint64_t limit = start + <uint64_t>max_cycles
    cdef uint32_t pc, ins, op, rd, f3, rs1, rs2, f7, a, b, npc, res, addr, tmp
    cdef int32_t imm
    cdef int cyc, wr, t
    while True:
        pc = s.pc
        if (pc & 3) or pc >= 4 * IMEM_WORDS:
            s.fault = F_FETCH
            return -1
        if s.cycles >= limit:
            s.fault = F_RUNAWAY
            return -1
        ins = s.imem[pc >> 2]
        op = ins & 0x7F
        rd = (ins >> 7) & 0x1F
        f3 = (ins >> 12) & 7
        rs1 = (ins >> 15) & 0x1F
        rs2 = (ins >> 20) & 0x1F
        f7 = ins >> 25
        a = s.x[rs1]
        b = s.x[rs2]
        npc = pc + 4
        cyc = C_ALU
        wr = 1
        res = 0
        if op == 0x33:
            if (f7 != 0 and f7 != 0x20) or (f7 == 0x20 and f3 != 0 and f3 != 5):
                s.fault = F_ILLEGAL
                s.fault_ins = ins
                return -1
            if f3 == 0:
                res = a - b if f7 else a + b
            elif f3 == 1:
                res = a << (b & 31)
            elif f3 == 2:
                res = 1 if <int32_t>a < <int32_t>b else 0
            elif f3 == 3:
                res = 1 if a < b else 0
            elif f3 == 4:
                res = a ^ b
            elif f3 == 5:
                res = <uint32_t>((<int32_t>a) >> (b & 31)) if f7 else a >> (b & 31)
            elif f3 == 6:
                res = a | b
            else:
                res = a & b
        elif op == 0x13:
            imm = sx(ins >> 20, 12)
            if f3 == 0:
                res = a + <uint32_t>imm
            elif f3 == 1:
                if f7:
                    s.fault = F_ILLEGAL
                    s.fault_ins = ins
                    return -1
                res = a << rs2
            elif f3 == 2:
                res = 1 if <int32_t>a < imm else 0
            elif f3 == 3:
                res = 1 if a < <uint32_t>imm else 0
            elif f3 == 4:
                res = a ^ <uint32_t>imm
            elif f3 == 5:
                if f7 != 0 and f7 != 0x20:
                    s.fault = F_ILLEGAL
                    s.fault_ins = ins
                    return -1
                res = <uint32_t>((<int32_t>a) >> rs2) if f7 else a >> rs2
            elif f3 == 6:
                res = a | <uint32_t>imm
            else:
                res = a & <uint32_t>imm
        elif op == 0x37:
            res = ins & 0xFFFFF000u
        elif op == 0x17:
            res = pc + (ins & 0xFFFFF000u)
        elif op == 0x03:
            addr = a + <uint32_t>sx(ins >> 20, 12)
            cyc = C_LOAD
            if f3 == 0:
                if load(s, addr, 1, &tmp):
                    return -1
                res = <uint32_t>sx(tmp, 8)
            elif f3 == 1:
                if load(s, addr, 2, &tmp):
                    return -1
                res = <uint32_t>sx(tmp, 16)
            elif f3 == 2:
                if load(s, addr, 4, &tmp):
                    return -1
                res = tmp
            elif f3 == 4:
                if load(s, addr, 1, &tmp):
                    return -1
                res = tmp
            elif f3 == 5:
                if load(s, addr, 2, &tmp):
                    return -1
                res = tmp
            else:
                s.fault = F_ILLEGAL
                s.fault_ins = ins
                return -1
        elif op == 0x23:
            imm = sx(((ins >> 25) << 5) | rd, 12)
            addr = a + <uint32_t>imm
            if f3 > 2:
                s.fault = F_ILLEGAL
                s.fault_ins = ins
                return -1
            if store(s, addr, 1 << f3, b):
                return -1
            cyc = C_STORE
            wr = 0
        elif op == 0x63:
            imm = sx((((ins >> 31) & 1) << 12) | (((ins >> 7) & 1) << 11)
                     | (((ins >> 25) & 0x3F) << 5) | (((ins >> 8) & 0xF) << 1), 13)
            if f3 == 0:
                t = a == b
            elif f3 == 1:
                t = a != b
            elif f3 == 4:
                t = <int32_t>a < <int32_t>b
            elif f3 == 5:
                t = <int32_t>a >= <int32_t>b
            elif f3 == 6:
                t = a < b
            elif f3 == 7:
                t = a >= b
            else:
                s.fault = F_ILLEGAL
                s.fault_ins = ins
                return -1
            cyc = C_BRANCH
            wr = 0
            if t:
                npc = pc + <uint32_t>imm
                cyc = C_TAKEN
        elif op == 0x6F:
            imm = sx((((ins >> 31) & 1) << 20) | (((ins >> 12) & 0xFF) << 12)
                     | (((ins >> 20) & 1) << 11) | (((ins >> 21) & 0x3FF) << 1), 21)
            res = pc + 4
            npc = pc + <uint32_t>imm
            cyc = C_JAL
        elif op == 0x67 and f3 == 0:
            res = pc + 4
            npc = (a + <uint32_t>sx(ins >> 20, 12)) & 0xFFFFFFFEu
            cyc = C_JALR
        elif op == 0x0B and f3 == 0 and f7 == 0:
            addr = a + (b << 2)
            if load(s, addr, 4, &tmp):
                return -1
            res = tmp + 1
            if store(s, addr, 4, res):
                return -1
            cyc = C_HIST
        elif op == 0x73 and ins == 0x00000073:
            s.pc = npc
            s.cycles += C_SYS
            s.instret += 1
            return <long long>(s.cycles - start)
        elif op == 0x0F:
            cyc = C_SYS
            wr = 0
        else:
            s.fault = F_ILLEGAL
            s.fault_ins = ins
            return -1
        if wr and rd:
            s.x[rd] = res
        s.pc = npc
        s.cycles += cyc
        s.instret += 1


cdef class Rv32Core:
    """Registers, 8 KB instruction memory, 32 KB scratchpad, 64 I/O words; runs to `ecall`."""
    cdef CpuState* s
    cdef public list out
    cdef public long long _last_max

    backend = "cython"

    def __cinit__(self, bytes text, bytes data=b""):
        self.s = <CpuState*>calloc(1, sizeof(CpuState))
        if self.s == NULL:
            raise MemoryError()

    def __init__(self, bytes text, bytes data=b""):
        from archsim.errors import UserError
        if len(text) > 4 * IMEM_WORDS or len(text) % 4:
            raise UserError(f"program text must be a multiple of 4 bytes and at most "
                            f"{4 * IMEM_WORDS}; found {len(text)}")
        if len(data) > DMEM_BYTES:
            raise UserError(f"program data is {len(data)} bytes; the scratchpad holds {DMEM_BYTES}")
        cdef const unsigned char[:] t = text
        cdef int i
        for i in range(len(text) // 4):
            self.s.imem[i] = t[4 * i] | (<uint32_t>t[4 * i + 1] << 8) | \
                (<uint32_t>t[4 * i + 2] << 16) | (<uint32_t>t[4 * i + 3] << 24)
        if len(data):
            memcpy(self.s.dmem, <const char*>data, len(data))
        self.out = []

    def __dealloc__(self):
        free(self.s)

    @property
    def pc(self):
        return self.s.pc

    @pc.setter
    def pc(self, v):
        self.s.pc = v & 0xFFFFFFFF

    @property
    def cycles(self):
        return self.s.cycles

    @property
    def instret(self):
        return self.s.instret

    @property
    def x(self):
        return [self.s.x[i] for i in range(32)]

    def set_reg(self, int i, v):
        if i:
            self.s.x[i] = v & 0xFFFFFFFF

    def set_io(self, int index, v):
        self.s.io[index] = v & 0xFFFFFFFF

    @property
    def io(self):
        return [self.s.io[i] for i in range(IO_WORDS)]

    def read_word(self, uint32_t addr):
        cdef uint32_t v
        if load(self.s, addr, 4, &v):
            self._raise()
        return v

    def write_word(self, uint32_t addr, v):
        if store(self.s, addr, 4, v & 0xFFFFFFFF):
            self._raise()
        self._flush_out()

    @property
    def dmem(self):
        return bytes((<char*>self.s.dmem)[:DMEM_BYTES])

    def _flush_out(self):
        cdef int i
        if self.s.nout:
            self.out.extend([self.s.out[i] for i in range(self.s.nout)])
            self.s.nout = 0

    def take_out(self):
        self._flush_out()
        res, self.out = self.out, []
        return res

    def _raise(self):
        cdef int f = self.s.fault
        cdef uint32_t pc = self.s.pc
        self.s.fault = F_NONE
        a = self.s.fault_addr
        if f == F_FETCH:
            msg = (f"instruction fetch from 0x{pc:08x} (misaligned or outside the 8 KB "
                   f"instruction memory)")
        elif f == F_ILLEGAL:
            msg = f"illegal instruction 0x{self.s.fault_ins:08x}"
        elif f == F_MISALIGNED_LOAD:
            msg = f"misaligned {self.s.fault_size}-byte load from 0x{a:08x}"
        elif f == F_MISALIGNED_STORE:
            msg = f"misaligned {self.s.fault_size}-byte store to 0x{a:08x}"
        elif f == F_UNMAPPED_LOAD:
            msg = f"load from unmapped address 0x{a:08x}"
        elif f == F_UNMAPPED_STORE:
            msg = f"store to unmapped address 0x{a:08x}"
        elif f == F_IO_WIDTH:
            msg = f"I/O register 0x{a:08x} needs a word access"
        elif f == F_IO_READONLY:
            msg = f"store to read-only I/O register 0x{a:08x}"
        elif f == F_RUNAWAY:
            msg = f"no ecall within {self._last_max} cycles (runaway program)"
        else:
            msg = f"more than {OUT_CAP} output words in one event handler"
        raise YpuFault(f"YPU fault at pc=0x{pc:08x}: {msg}")

    def run(self, long long max_cycles=1000000):
        """Execute until an `ecall` (which waits for the next event); return the cycles used."""
        cdef long long r
        self._last_max = max_cycles
        with nogil:
            r = run_core(self.s, max_cycles)
        self._flush_out()
        if r < 0:
            self._raise()
        return r

    def job(self, inputs, long long valid, long long time, int kind, long long sig,
            long long drops, long long seq, long long max_cycles):
        """Present one event on the I/O registers (see README) and run its handler."""
        cdef int i = 0
        cdef CpuState* s = self.s
        for v in inputs:
            s.io[i] = <uint32_t>(v & 0xFFFFFFFF)
            i += 1
        s.io[32] = <uint32_t>(valid & 0xFFFFFFFF)
        s.io[33] = <uint32_t>(time & 0xFFFFFFFF)
        s.io[34] = <uint32_t>((time >> 32) & 0xFFFFFFFF)
        s.io[35] = kind
        s.io[36] = <uint32_t>(sig & 0xFFFFFFFF)
        s.io[37] = <uint32_t>(drops & 0xFFFFFFFF)
        s.io[39] = <uint32_t>(s.cycles & 0xFFFFFFFF)
        s.io[40] = <uint32_t>(seq & 0xFFFFFFFF)
        return self.run(max_cycles)


# ---- the unit (FIFO, drops, timer) around the core: the twin of unit.Unit ------------------
from libc.stdint cimport int64_t

DEF MAXD = 4097
DEF NKEYS = 35     # profile keys: 0..31 event per input, 32 sample, 33 timer, 34 final


cdef class CUnit:
    """Same semantics as `archsim.hw.ypu.unit.Unit` (see its docstring), in C."""
    cdef Rv32Core core
    cdef CpuState* s
    cdef public int n, depth, ideal, use_cost
    cdef public long long hp, up, start, free, next_timer, timer_k, timer_limit, interval
    cdef public long long arrivals, accepted, dropped, timers, busy, next_sample, max_cycles
    cdef public int has_timer, has_limit
    cdef uint32_t levels[32]
    cdef public uint32_t level_mask
    # fifo ring
    cdef int64_t f_arr[MAXD]
    cdef int64_t f_hc[MAXD]
    cdef uint32_t f_valid[MAXD]
    cdef uint32_t f_sig[MAXD]
    cdef uint32_t f_lev[MAXD][32]
    cdef int f_head, f_len
    cdef long long prof_n[NKEYS]
    cdef long long prof_c[NKEYS]
    cdef double cost_mean[NKEYS]
    cdef long long cost_k[NKEYS]
    cdef public list records
    cdef public list log
    cdef public int do_log

    def __init__(self, core, *, int n_inputs, long long host_period, long long unit_period,
                 long long start_tick, int fifo_depth, int ideal, long long interval_cycles,
                 long long max_cycles, initial, unsigned int valid_mask, cost_means=None,
                 log_accepted=False):
        cdef int i
        if fifo_depth + 1 > MAXD:
            raise ValueError("fifo too deep")
        self.n = n_inputs
        self.hp = host_period
        self.up = unit_period
        self.start = start_tick
        self.free = start_tick
        self.depth = fifo_depth
        self.ideal = ideal
        self.interval = interval_cycles
        self.has_timer = interval_cycles > 0
        self.next_timer = start_tick + interval_cycles * host_period if interval_cycles > 0 else 0
        self.timer_k = 1
        self.has_limit = 0
        self.max_cycles = max_cycles
        self.level_mask = valid_mask
        for i in range(32):
            self.levels[i] = 0
        for i, v in enumerate(initial):
            self.levels[i] = v
        self.records = []
        self.log = []
        self.do_log = 1 if log_accepted else 0
        self.next_sample = start_tick
        for i in range(NKEYS):
            self.prof_n[i] = 0
            self.prof_c[i] = 0
            self.cost_k[i] = 0
            self.cost_mean[i] = 0
        if cost_means is not None:
            self.use_cost = 1
            for i in range(NKEYS):
                self.cost_mean[i] = cost_means[i]
        else:
            self.use_cost = 0
            self.core = core
            self.s = (<Rv32Core>core).s

    cdef inline long long edge(self, long long t):
        return ((t + self.up - 1) // self.up) * self.up

    cdef int run_job(self, long long start, uint32_t* lev, uint32_t valid, long long hc,
                     int kind, uint32_t sig) except -1:
        cdef int i, key
        cdef long long cyc, k
        cdef CpuState* s
        if kind == 1:
            key = 33
        elif kind == 2:
            key = 34
        elif sig == 0xFFFFFFFFu:
            key = 32
        else:
            key = sig
        if self.use_cost:
            k = self.cost_k[key]
            self.cost_k[key] = k + 1
            cyc = <long long>((k + 1) * self.cost_mean[key]) - <long long>(k * self.cost_mean[key])
        else:
            s = self.s
            for i in range(self.n):
                s.io[i] = lev[i]
            s.io[32] = valid
            s.io[33] = <uint32_t>(hc & 0xFFFFFFFF)
            s.io[34] = <uint32_t>((hc >> 32) & 0xFFFFFFFF)
            s.io[35] = kind
            s.io[36] = sig
            s.io[37] = <uint32_t>(self.dropped & 0xFFFFFFFF)
            s.io[39] = <uint32_t>(s.cycles & 0xFFFFFFFF)
            s.io[40] = <uint32_t>(self.accepted & 0xFFFFFFFF)
            self.core._last_max = self.max_cycles
            cyc = run_core(s, self.max_cycles)
            if s.nout:
                self.records.append((hc, [s.out[i] for i in range(s.nout)]))
                s.nout = 0
            if cyc < 0:
                self.core._raise()
        self.prof_n[key] += 1
        self.prof_c[key] += cyc
        self.busy += cyc
        if not self.ideal:
            self.free = start + cyc * self.up
        return 0

    cdef int run_timer(self, long long start) except -1:
        cdef long long hc = self.timer_k * self.interval
        self.timer_k += 1
        self.next_timer = self.start + self.timer_k * self.interval * self.hp
        self.timers += 1
        return self.run_job(start, self.levels, self.level_mask, hc, 1, 0xFFFFFFFFu)

    cdef int serve(self, long long t) except -1:
        cdef long long a, st, nt
        cdef int is_timer, have_timer, h
        while True:
            have_timer = self.has_timer and not (self.has_limit and self.next_timer >= self.timer_limit)
            if self.f_len:
                a = self.f_arr[self.f_head]
                is_timer = 0
                if have_timer:
                    nt = self.edge(self.next_timer)
                    if nt <= a:
                        a = nt
                        is_timer = 1
            elif have_timer:
                a = self.edge(self.next_timer)
                is_timer = 1
            else:
                return 0
            st = a if a > self.free else self.free
            if st > t:
                return 0
            if is_timer:
                self.run_timer(st)
            else:
                h = self.f_head
                self.f_head = (h + 1) % MAXD
                self.f_len -= 1
                self.run_job(st, self.f_lev[h], self.f_valid[h], self.f_hc[h], 0, self.f_sig[h])

    cdef inline int room(self, long long a):
        if self.ideal:
            return 1
        if self.depth == 0:
            return self.f_len == 0 and self.free <= a
        return self.f_len < self.depth

    cdef int accept(self, long long a, long long hc, uint32_t valid, uint32_t sig) except -1:
        cdef int i, slot
        self.accepted += 1
        if self.do_log:
            self.log.append((hc, sig))
        if self.ideal:
            self.serve(a)
            self.run_job(a, self.levels, valid, hc, 0, sig)
            return 0
        slot = (self.f_head + self.f_len) % MAXD
        self.f_arr[slot] = a
        self.f_hc[slot] = hc
        self.f_valid[slot] = valid
        self.f_sig[slot] = sig
        for i in range(self.n):
            self.f_lev[slot][i] = self.levels[i]
        self.f_len += 1
        return 0

    cdef int samples(self, long long t, long long step_cycles) except -1:
        cdef long long step = step_cycles * self.hp
        cdef long long nxt = self.next_sample
        cdef long long a, until, k
        while nxt < t:
            a = self.edge(nxt)
            self.serve(a)
            if self.room(a):
                self.arrivals += 1
                self.accept(a, (nxt - self.start) // self.hp, self.level_mask, 0xFFFFFFFFu)
                nxt += step
                continue
            until = self.free - self.up + 1    # samples whose unit edge is before free
            if until > t:
                until = t
            k = (until - nxt + step - 1) // step
            if k < 1:
                k = 1
            self.arrivals += k
            self.dropped += k
            nxt += k * step
        self.next_sample = nxt
        return 0

    def samples_until(self, long long t, long long step_cycles):
        self.samples(t, step_cycles)

    def feed(self, const int64_t[:] ts, const int[:] ps, const uint32_t[:] vs, arrive,
             bint cycle, long long step):
        cdef const unsigned char[:] arr = arrive.view("uint8")
        cdef Py_ssize_t k, m = ts.shape[0]
        cdef long long t, a
        cdef int p
        cdef uint32_t v
        for k in range(m):
            t = ts[k]
            p = ps[k]
            v = vs[k]
            if not arr[k]:
                self.serve(self.edge(t))
                self.levels[p] = v
            elif cycle:
                self.samples(t, step)
                self.levels[p] = v
            else:
                a = self.edge(t)
                self.serve(a)
                self.levels[p] = v
                self.arrivals += 1
                if self.room(a):
                    self.accept(a, (t - self.start) // self.hp, self.level_mask | (1u << p), p)
                else:
                    self.dropped += 1

    def finish_jobs(self, long long end):
        cdef long long st
        self.has_limit = 1
        self.timer_limit = end
        self.serve(1LL << 62)
        st = self.edge(end)
        if self.free > st:
            st = self.free
        self.timers += 1
        self.run_job(st, self.levels, self.level_mask, (end - self.start) // self.hp, 2,
                     0xFFFFFFFFu)

    def profile(self):
        """{(kind, sig): (jobs, cycles)} with the keys of unit.Unit."""
        out = {}
        cdef int i
        for i in range(NKEYS):
            if self.prof_n[i]:
                if i < 32:
                    key = (0, i)
                elif i == 32:
                    key = (0, 0xFFFFFFFF)
                elif i == 33:
                    key = (1, 0xFFFFFFFF)
                else:
                    key = (2, 0xFFFFFFFF)
                out[key] = (self.prof_n[i], self.prof_c[i])
        return out
