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
