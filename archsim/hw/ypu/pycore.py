"""The RV32I core of the YPU in pure Python: the reference and the fallback of `_core.pyx`.

Both implement the same machine, instruction for instruction and cycle for cycle (a test runs
every instruction-level case on both and compares registers, memory and cycles). The timing
table, the memory map and the `hist` encoding are documented in `archsim/hw/ypu/README.md`
and repeated here as constants.
"""
from __future__ import annotations

from archsim.errors import UserError

IMEM_BYTES = 8 * 1024
DMEM_BASE = 0x1000_0000
DMEM_BYTES = 32 * 1024
IO_BASE = 0x2000_0000
IO_WORDS = 64
IO_OUT = 38          # word index of the OUT register (write: append one output word)
# cycles per instruction class (in-order, single issue, no caches)
C_ALU, C_LOAD, C_STORE, C_BRANCH, C_TAKEN, C_JAL, C_JALR, C_HIST, C_SYS = 1, 2, 1, 1, 3, 2, 3, 2, 1


class YpuFault(UserError):
    """The YPU program did something the unit cannot do (bad access, illegal instruction)."""


def _sx(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


class PyRv32Core:
    """Registers, 8 KB instruction memory, 32 KB scratchpad, 64 I/O words; runs to `ecall`."""

    backend = "python"

    def __init__(self, text: bytes, data: bytes = b""):
        if len(text) > IMEM_BYTES or len(text) % 4:
            raise UserError(f"program text must be a multiple of 4 bytes and at most "
                            f"{IMEM_BYTES}; found {len(text)}")
        if len(data) > DMEM_BYTES:
            raise UserError(f"program data is {len(data)} bytes; the scratchpad holds {DMEM_BYTES}")
        self.imem = [int.from_bytes(text[i:i + 4], "little") for i in range(0, len(text), 4)]
        self.imem += [0] * (IMEM_BYTES // 4 - len(self.imem))
        self.dmem = bytearray(DMEM_BYTES)
        self.dmem[:len(data)] = data
        self.x = [0] * 32
        self.pc = 0
        self.io = [0] * IO_WORDS
        self.out: list[int] = []
        self.cycles = 0
        self.instret = 0

    # ---- memory -----------------------------------------------------------------------------
    def _fault(self, msg: str):
        return YpuFault(f"YPU fault at pc=0x{self.pc:08x}: {msg}")

    def _load(self, addr: int, size: int) -> int:
        if addr % size:
            raise self._fault(f"misaligned {size}-byte load from 0x{addr:08x}")
        if DMEM_BASE <= addr and addr + size <= DMEM_BASE + DMEM_BYTES:
            o = addr - DMEM_BASE
            return int.from_bytes(self.dmem[o:o + size], "little")
        if IO_BASE <= addr < IO_BASE + 4 * IO_WORDS:
            if size != 4:
                raise self._fault(f"I/O register 0x{addr:08x} needs a word access")
            return 0 if (addr - IO_BASE) // 4 == IO_OUT else self.io[(addr - IO_BASE) // 4]
        raise self._fault(f"load from unmapped address 0x{addr:08x}")

    def _store(self, addr: int, size: int, v: int) -> None:
        if addr % size:
            raise self._fault(f"misaligned {size}-byte store to 0x{addr:08x}")
        if DMEM_BASE <= addr and addr + size <= DMEM_BASE + DMEM_BYTES:
            o = addr - DMEM_BASE
            self.dmem[o:o + size] = (v & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
            return
        if IO_BASE <= addr < IO_BASE + 4 * IO_WORDS:
            if size == 4 and (addr - IO_BASE) // 4 == IO_OUT:
                self.out.append(v & 0xFFFFFFFF)
                return
            raise self._fault(f"store to read-only I/O register 0x{addr:08x}")
        raise self._fault(f"store to unmapped address 0x{addr:08x}")

    def read_word(self, addr: int) -> int:
        return self._load(addr, 4)

    def write_word(self, addr: int, v: int) -> None:
        self._store(addr, 4, v)

    def set_io(self, index: int, value: int) -> None:
        self.io[index] = value & 0xFFFFFFFF

    def take_out(self) -> list[int]:
        out, self.out = self.out, []
        return out

    # ---- execution --------------------------------------------------------------------------
    def run(self, max_cycles: int = 1_000_000) -> int:
        """Execute until an `ecall` (which waits for the next event); return the cycles used."""
        x = self.x
        start = self.cycles
        limit = start + max_cycles
        while True:
            pc = self.pc
            if pc % 4 or not 0 <= pc < IMEM_BYTES:
                raise self._fault(f"instruction fetch from 0x{pc:08x} (misaligned or outside "
                                  f"the 8 KB instruction memory)")
            if self.cycles >= limit:
                raise self._fault(f"no ecall within {max_cycles} cycles (runaway program)")
            ins = self.imem[pc >> 2]
            op = ins & 0x7F
            rd = (ins >> 7) & 0x1F
            f3 = (ins >> 12) & 7
            rs1 = (ins >> 15) & 0x1F
            rs2 = (ins >> 20) & 0x1F
            f7 = ins >> 25
            a, b = x[rs1], x[rs2]
            npc = pc + 4
            cyc = C_ALU
            res = None
            if op == 0b0110011:  # R-type
                if f7 not in (0, 0x20) or (f7 == 0x20 and f3 not in (0, 5)):
                    raise self._fault(f"illegal instruction 0x{ins:08x}")
                if f3 == 0:
                    res = a - b if f7 else a + b
                elif f3 == 1:
                    res = a << (b & 31)
                elif f3 == 2:
                    res = int(_sx(a, 32) < _sx(b, 32))
                elif f3 == 3:
                    res = int(a < b)
                elif f3 == 4:
                    res = a ^ b
                elif f3 == 5:
                    res = (_sx(a, 32) >> (b & 31)) if f7 else (a >> (b & 31))
                elif f3 == 6:
                    res = a | b
                else:
                    res = a & b
            elif op == 0b0010011:  # I-type ALU
                imm = _sx(ins >> 20, 12)
                if f3 == 0:
                    res = a + imm
                elif f3 == 1:
                    if f7:
                        raise self._fault(f"illegal instruction 0x{ins:08x}")
                    res = a << rs2
                elif f3 == 2:
                    res = int(_sx(a, 32) < imm)
                elif f3 == 3:
                    res = int(a < (imm & 0xFFFFFFFF))
                elif f3 == 4:
                    res = a ^ imm
                elif f3 == 5:
                    if f7 not in (0, 0x20):
                        raise self._fault(f"illegal instruction 0x{ins:08x}")
                    res = (_sx(a, 32) >> rs2) if f7 else (a >> rs2)
                elif f3 == 6:
                    res = a | imm
                else:
                    res = a & imm
            elif op == 0b0110111:  # lui
                res = ins & 0xFFFFF000
            elif op == 0b0010111:  # auipc
                res = pc + (ins & 0xFFFFF000)
            elif op == 0b0000011:  # loads
                addr = (a + _sx(ins >> 20, 12)) & 0xFFFFFFFF
                cyc = C_LOAD
                if f3 == 0:
                    res = _sx(self._load(addr, 1), 8)
                elif f3 == 1:
                    res = _sx(self._load(addr, 2), 16)
                elif f3 == 2:
                    res = self._load(addr, 4)
                elif f3 == 4:
                    res = self._load(addr, 1)
                elif f3 == 5:
                    res = self._load(addr, 2)
                else:
                    raise self._fault(f"illegal instruction 0x{ins:08x}")
            elif op == 0b0100011:  # stores
                imm = _sx(((ins >> 25) << 5) | rd, 12)
                addr = (a + imm) & 0xFFFFFFFF
                if f3 > 2:
                    raise self._fault(f"illegal instruction 0x{ins:08x}")
                self._store(addr, 1 << f3, b)
                cyc = C_STORE
            elif op == 0b1100011:  # branches
                imm = _sx((((ins >> 31) & 1) << 12) | (((ins >> 7) & 1) << 11)
                          | (((ins >> 25) & 0x3F) << 5) | (((ins >> 8) & 0xF) << 1), 13)
                if f3 == 0:
                    t = a == b
                elif f3 == 1:
                    t = a != b
                elif f3 == 4:
                    t = _sx(a, 32) < _sx(b, 32)
                elif f3 == 5:
                    t = _sx(a, 32) >= _sx(b, 32)
                elif f3 == 6:
                    t = a < b
                elif f3 == 7:
                    t = a >= b
                else:
                    raise self._fault(f"illegal instruction 0x{ins:08x}")
                cyc = C_BRANCH
                if t:
                    npc = (pc + imm) & 0xFFFFFFFF
                    cyc = C_TAKEN
            elif op == 0b1101111:  # jal
                imm = _sx((((ins >> 31) & 1) << 20) | (((ins >> 12) & 0xFF) << 12)
                          | (((ins >> 20) & 1) << 11) | (((ins >> 21) & 0x3FF) << 1), 21)
                res = pc + 4
                npc = (pc + imm) & 0xFFFFFFFF
                cyc = C_JAL
            elif op == 0b1100111 and f3 == 0:  # jalr
                res = pc + 4
                npc = (a + _sx(ins >> 20, 12)) & 0xFFFFFFFE
                cyc = C_JALR
            elif op == 0b0001011 and f3 == 0 and f7 == 0:  # hist (custom-0)
                addr = (a + (b << 2)) & 0xFFFFFFFF
                res = (self._load(addr, 4) + 1) & 0xFFFFFFFF
                self._store(addr, 4, res)
                cyc = C_HIST
            elif op == 0b1110011 and ins == 0x00000073:  # ecall: wait for the next event
                self.pc = npc
                self.cycles += C_SYS
                self.instret += 1
                return self.cycles - start
            elif op == 0b0001111:  # fence
                cyc = C_SYS
            else:
                raise self._fault(f"illegal instruction 0x{ins:08x}")
            if res is not None and rd:
                x[rd] = res & 0xFFFFFFFF
            self.pc = npc
            self.cycles += cyc
            self.instret += 1

    def job(self, inputs, valid: int, time: int, kind: int, sig: int, drops: int, seq: int,
            max_cycles: int) -> int:
        """Present one event on the I/O registers (see README) and run its handler."""
        io = self.io
        for i, v in enumerate(inputs):
            io[i] = v & 0xFFFFFFFF
        io[32] = valid & 0xFFFFFFFF
        io[33] = time & 0xFFFFFFFF
        io[34] = (time >> 32) & 0xFFFFFFFF
        io[35] = kind
        io[36] = sig & 0xFFFFFFFF
        io[37] = drops & 0xFFFFFFFF
        io[39] = self.cycles & 0xFFFFFFFF
        io[40] = seq & 0xFFFFFFFF
        return self.run(max_cycles)
