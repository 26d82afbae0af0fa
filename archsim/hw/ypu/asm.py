"""A small two-pass RV32I assembler for YPU programs.

Accepts the RV32I base instructions, the YPU's custom histogram instruction `hist`, the common
pseudo-instructions (`li la mv not neg nop j jr ret call beqz bnez bltz bgez blez bgtz bgt ble
bgtu bleu seqz snez`), labels, `#` / `//` comments, and the directives `.text`, `.data`,
`.word`, `.half`, `.byte`, `.space`/`.zero`, `.align`, `.equ`/`.set` and `.globl` (ignored).
Operands: registers by number (`x5`) or ABI name (`t0`), integers (decimal, `0x`, `0b`,
negative, `'c'`), symbols, `sym+n` / `sym-n`, `%hi(expr)` / `%lo(expr)`, memory operands
`off(reg)`.

`.text` is placed at 0x0000_0000 (the 8 KB instruction memory), `.data` at 0x1000_0000 (the
32 KB scratchpad). The output, `Image`, holds both; `Image.to_bytes()` is the shipped binary
format (see `archsim/hw/ypu/README.md`). Errors raise `AsmError` (a UserError) naming the
source file and line.
"""
from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from archsim.errors import UserError

TEXT_BASE = 0x0000_0000
TEXT_SIZE = 8 * 1024
DATA_BASE = 0x1000_0000
DATA_SIZE = 32 * 1024
MAGIC = b"YPU1"

CUSTOM0 = 0b0001011  # the RISC-V custom-0 major opcode, used by `hist`


class AsmError(UserError):
    """The program text cannot be assembled; the message names file:line."""


ABI = {"zero": 0, "ra": 1, "sp": 2, "gp": 3, "tp": 4, "t0": 5, "t1": 6, "t2": 7, "s0": 8,
       "fp": 8, "s1": 9, "a0": 10, "a1": 11, "a2": 12, "a3": 13, "a4": 14, "a5": 15, "a6": 16,
       "a7": 17, "s2": 18, "s3": 19, "s4": 20, "s5": 21, "s6": 22, "s7": 23, "s8": 24, "s9": 25,
       "s10": 26, "s11": 27, "t3": 28, "t4": 29, "t5": 30, "t6": 31}
ABI.update({f"x{i}": i for i in range(32)})

R_OPS = {  # name: (funct7, funct3)
    "add": (0x00, 0), "sub": (0x20, 0), "sll": (0x00, 1), "slt": (0x00, 2), "sltu": (0x00, 3),
    "xor": (0x00, 4), "srl": (0x00, 5), "sra": (0x20, 5), "or": (0x00, 6), "and": (0x00, 7)}
I_ALU = {"addi": 0, "slti": 2, "sltiu": 3, "xori": 4, "ori": 6, "andi": 7}
SHIFT_I = {"slli": (0x00, 1), "srli": (0x00, 5), "srai": (0x20, 5)}
LOADS = {"lb": 0, "lh": 1, "lw": 2, "lbu": 4, "lhu": 5}
STORES = {"sb": 0, "sh": 1, "sw": 2}
BRANCHES = {"beq": 0, "bne": 1, "blt": 4, "bge": 5, "bltu": 6, "bgeu": 7}
# pseudo-branches: name -> (real branch, swap operands)
BRANCH_SWAP = {"bgt": ("blt", True), "ble": ("bge", True), "bgtu": ("bltu", True),
               "bleu": ("bgeu", True)}
BRANCH_ZERO = {"beqz": ("beq", False), "bnez": ("bne", False), "bltz": ("blt", False),
               "bgez": ("bge", False), "blez": ("bge", True), "bgtz": ("blt", True)}


@dataclass(frozen=True)
class Image:
    """An assembled program: the instruction-memory and scratchpad images and the symbols."""
    text: bytes
    data: bytes
    symbols: dict

    def to_bytes(self) -> bytes:
        """The binary format: b'YPU1', u32 text length, u32 data length, text, data (LE)."""
        return MAGIC + struct.pack("<II", len(self.text), len(self.data)) + self.text + self.data

    @staticmethod
    def from_bytes(blob: bytes, symbols: dict | None = None) -> "Image":
        if blob[:4] != MAGIC or len(blob) < 12:
            raise UserError("not a YPU program binary (missing the 'YPU1' header)")
        nt, nd = struct.unpack("<II", blob[4:12])
        if len(blob) != 12 + nt + nd:
            raise UserError(f"YPU program binary is truncated: header says {12 + nt + nd} "
                            f"bytes, found {len(blob)}")
        return Image(blob[12:12 + nt], blob[12 + nt:], dict(symbols or {}))

    @property
    def words(self) -> list[int]:
        return list(struct.unpack(f"<{len(self.text) // 4}I", self.text))


def _strip(line: str) -> str:
    out, quote = [], False
    i = 0
    while i < len(line):
        c = line[i]
        if c == "'" and i + 2 < len(line) and line[i + 2] == "'":
            out.append(line[i:i + 3])
            i += 3
            continue
        if c == "#" or line.startswith("//", i) or c == ";":
            break
        out.append(c)
        i += 1
    return "".join(out).strip()


_LABEL = re.compile(r"^([A-Za-z_.$][\w.$]*|\d+)\s*:")
_MEM = re.compile(r"^(.*)\((\s*\w+\s*)\)$")


class _Asm:
    def __init__(self, source: str, filename: str):
        self.src = source
        self.file = filename
        self.symbols: dict[str, int] = {}
        self.line = 0
        self.stmt = 0                     # statement number (for numeric local labels)
        self.local: dict[str, list] = {}  # "1" -> [(statement, address), ...] in order

    def err(self, msg: str) -> AsmError:
        return AsmError(f"{self.file}:{self.line}: {msg}")

    # ---- operands ---------------------------------------------------------------------------
    def reg(self, tok: str) -> int:
        t = tok.strip().lower()
        if t not in ABI:
            raise self.err(f"expected a register, found {tok.strip()!r}")
        return ABI[t]

    def value(self, tok: str, *, final: bool) -> int | None:
        """Evaluate an expression; None in pass 1 when it names a symbol not yet defined."""
        t = tok.strip()
        m = re.fullmatch(r"%(hi|lo)\((.*)\)", t)
        if m:
            v = self.value(m.group(2), final=final)
            if v is None:
                return None
            v &= 0xFFFFFFFF
            lo = ((v & 0xFFF) ^ 0x800) - 0x800
            return ((v - lo) >> 12) & 0xFFFFF if m.group(1) == "hi" else lo
        if not t:
            raise self.err("missing operand")
        total, sign, pos = 0, 1, 0
        for part in re.split(r"([+-])", t):
            part = part.strip()
            if part in ("+", "-"):
                sign = -1 if part == "-" else 1
                continue
            if part == "":
                continue
            if re.fullmatch(r"\d+[fb]", part):
                v = self.local_label(part, final)
                if v is None:
                    return None
            elif re.fullmatch(r"'.'", part):
                v = ord(part[1])
            elif re.fullmatch(r"0[xX][0-9a-fA-F_]+|0[bB][01_]+|\d+", part):
                v = int(part.replace("_", ""), 0)
            elif re.fullmatch(r"[A-Za-z_.$][\w.$]*", part):
                if part in self.symbols:
                    v = self.symbols[part]
                elif final:
                    raise self.err(f"undefined symbol {part!r}")
                else:
                    return None
            else:
                raise self.err(f"cannot read the expression {t!r}")
            total += sign * v
            sign, pos = 1, pos + 1
        return total

    def local_label(self, ref: str, final: bool) -> int | None:
        """GNU-style numeric labels: `1f` is the next `1:` after this line, `1b` the last."""
        name, d = ref[:-1], ref[-1]
        defs = self.local.get(name, [])
        if d == "b":
            hits = [a for st, a in defs if st <= self.stmt]
            if hits:
                return hits[-1]
        else:
            hits = [a for st, a in defs if st > self.stmt]
            if hits:
                return hits[0]
        if final:
            raise self.err(f"no local label {name!r} {'before' if d == 'b' else 'after'} "
                           f"this line for {ref!r}")
        return None

    def imm(self, tok: str, lo: int, hi: int, what: str) -> int:
        v = self.value(tok, final=True)
        if not lo <= v <= hi:
            raise self.err(f"{what} {v} is out of range [{lo}, {hi}]")
        return v

    def mem(self, tok: str) -> tuple[int, int]:
        m = _MEM.match(tok.strip())
        if not m:
            raise self.err(f"expected a memory operand off(reg), found {tok.strip()!r}")
        off = m.group(1).strip() or "0"
        return self.imm(off, -2048, 2047, "offset"), self.reg(m.group(2))

    # ---- encodings --------------------------------------------------------------------------
    @staticmethod
    def r(f7, rs2, rs1, f3, rd, op=0b0110011):
        return (f7 << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op

    @staticmethod
    def i(imm, rs1, f3, rd, op):
        return ((imm & 0xFFF) << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op

    @staticmethod
    def s(imm, rs2, rs1, f3):
        imm &= 0xFFF
        return ((imm >> 5) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | \
            ((imm & 0x1F) << 7) | 0b0100011

    @staticmethod
    def b(off, rs2, rs1, f3):
        o = off & 0x1FFF
        return (((o >> 12) & 1) << 31) | (((o >> 5) & 0x3F) << 25) | (rs2 << 20) | \
            (rs1 << 15) | (f3 << 12) | (((o >> 1) & 0xF) << 8) | (((o >> 11) & 1) << 7) | 0b1100011

    @staticmethod
    def j(off, rd):
        o = off & 0x1FFFFF
        return (((o >> 20) & 1) << 31) | (((o >> 1) & 0x3FF) << 21) | (((o >> 11) & 1) << 20) | \
            (((o >> 12) & 0xFF) << 12) | (rd << 7) | 0b1101111

    def target(self, tok: str, pc: int, bits: int) -> int:
        off = self.value(tok, final=True) - pc
        lim = 1 << (bits - 1)
        if not -lim <= off < lim:
            raise self.err(f"branch/jump target {tok.strip()!r} is {off} bytes away; "
                           f"the range is [{-lim}, {lim - 1}]")
        if off % 2:
            raise self.err(f"branch/jump offset {off} is odd")
        return off

    def li_words(self, rd: int, v: int) -> list[int]:
        v &= 0xFFFFFFFF
        sv = v - (1 << 32) if v & 0x80000000 else v
        if -2048 <= sv <= 2047:
            return [self.i(sv, 0, 0, rd, 0b0010011)]
        lo = ((v & 0xFFF) ^ 0x800) - 0x800
        hi = ((v - lo) >> 12) & 0xFFFFF
        words = [(hi << 12) | (rd << 7) | 0b0110111]
        if lo:
            words.append(self.i(lo, rd, 0, rd, 0b0010011))
        return words

    def li_size(self, ops: list[str]) -> int:
        """li's length in words in pass 1: known for a literal or an already-defined symbol."""
        v = self.value(ops[1], final=False)
        return 2 if v is None else len(self.li_words(0, v))

    def encode(self, mn: str, ops: list[str], pc: int) -> list[int]:
        n = len(ops)

        def need(k):
            if n != k:
                raise self.err(f"{mn} takes {k} operands, found {n}")
        if mn in R_OPS:
            need(3)
            f7, f3 = R_OPS[mn]
            return [self.r(f7, self.reg(ops[2]), self.reg(ops[1]), f3, self.reg(ops[0]))]
        if mn == "hist":
            need(3)
            return [self.r(0, self.reg(ops[2]), self.reg(ops[1]), 0, self.reg(ops[0]), CUSTOM0)]
        if mn in I_ALU:
            need(3)
            return [self.i(self.imm(ops[2], -2048, 2047, "immediate"), self.reg(ops[1]),
                           I_ALU[mn], self.reg(ops[0]), 0b0010011)]
        if mn in SHIFT_I:
            need(3)
            f7, f3 = SHIFT_I[mn]
            sh = self.imm(ops[2], 0, 31, "shift amount")
            return [self.r(f7, sh, self.reg(ops[1]), f3, self.reg(ops[0]), 0b0010011)]
        if mn in LOADS:
            need(2)
            off, rs1 = self.mem(ops[1])
            return [self.i(off, rs1, LOADS[mn], self.reg(ops[0]), 0b0000011)]
        if mn in STORES:
            need(2)
            off, rs1 = self.mem(ops[1])
            return [self.s(off, self.reg(ops[0]), rs1, STORES[mn])]
        if mn in BRANCHES:
            need(3)
            return [self.b(self.target(ops[2], pc, 13), self.reg(ops[1]), self.reg(ops[0]),
                           BRANCHES[mn])]
        if mn in BRANCH_SWAP:
            need(3)
            real, _ = BRANCH_SWAP[mn]
            return [self.b(self.target(ops[2], pc, 13), self.reg(ops[0]), self.reg(ops[1]),
                           BRANCHES[real])]
        if mn in BRANCH_ZERO:
            need(2)
            real, swap = BRANCH_ZERO[mn]
            rs = self.reg(ops[0])
            rs1, rs2 = (0, rs) if swap else (rs, 0)
            return [self.b(self.target(ops[1], pc, 13), rs2, rs1, BRANCHES[real])]
        if mn in ("lui", "auipc"):
            need(2)
            v = self.imm(ops[1], 0, 0xFFFFF, "upper immediate")
            return [(v << 12) | (self.reg(ops[0]) << 7) | (0b0110111 if mn == "lui" else 0b0010111)]
        if mn == "jal":
            if n == 1:
                ops = ["ra", ops[0]]
            elif n != 2:
                raise self.err(f"jal takes 1 or 2 operands, found {n}")
            return [self.j(self.target(ops[1], pc, 21), self.reg(ops[0]))]
        if mn == "jalr":
            if n == 1:
                return [self.i(0, self.reg(ops[0]), 0, 1, 0b1100111)]
            if n == 2:
                off, rs1 = self.mem(ops[1])
                return [self.i(off, rs1, 0, self.reg(ops[0]), 0b1100111)]
            need(3)
            return [self.i(self.imm(ops[2], -2048, 2047, "offset"), self.reg(ops[1]), 0,
                           self.reg(ops[0]), 0b1100111)]
        if mn == "ecall":
            need(0)
            return [0x00000073]
        if mn == "ebreak":
            need(0)
            return [0x00100073]
        if mn == "fence":
            return [0x0FF0000F]
        # pseudo-instructions
        if mn == "nop":
            need(0)
            return [0x00000013]
        if mn == "li":
            need(2)
            words = self.li_words(self.reg(ops[0]), self.value(ops[1], final=True))
            return words
        if mn == "la":
            need(2)
            v = self.value(ops[1], final=True) & 0xFFFFFFFF
            lo = ((v & 0xFFF) ^ 0x800) - 0x800
            rd = self.reg(ops[0])
            return [((((v - lo) >> 12) & 0xFFFFF) << 12) | (rd << 7) | 0b0110111,
                    self.i(lo, rd, 0, rd, 0b0010011)]
        if mn == "mv":
            need(2)
            return [self.i(0, self.reg(ops[1]), 0, self.reg(ops[0]), 0b0010011)]
        if mn == "not":
            need(2)
            return [self.i(-1, self.reg(ops[1]), 4, self.reg(ops[0]), 0b0010011)]
        if mn == "neg":
            need(2)
            return [self.r(0x20, self.reg(ops[1]), 0, 0, self.reg(ops[0]))]
        if mn == "seqz":
            need(2)
            return [self.i(1, self.reg(ops[1]), 3, self.reg(ops[0]), 0b0010011)]
        if mn == "snez":
            need(2)
            return [self.r(0, self.reg(ops[1]), 0, 3, self.reg(ops[0]))]
        if mn == "j":
            need(1)
            return [self.j(self.target(ops[0], pc, 21), 0)]
        if mn == "call":
            need(1)
            return [self.j(self.target(ops[0], pc, 21), 1)]
        if mn == "jr":
            need(1)
            return [self.i(0, self.reg(ops[0]), 0, 0, 0b1100111)]
        if mn == "ret":
            need(0)
            return [self.i(0, 1, 0, 0, 0b1100111)]
        raise self.err(f"unknown instruction {mn!r}")

    def size(self, mn: str, ops: list[str]) -> int:
        if mn == "li":
            if len(ops) != 2:
                raise self.err(f"li takes 2 operands, found {len(ops)}")
            return 4 * self.li_size(ops)
        return 8 if mn == "la" else 4

    # ---- passes -----------------------------------------------------------------------------
    def statements(self):
        for lineno, raw in enumerate(self.src.splitlines(), 1):
            self.line = lineno
            s = _strip(raw)
            labels = []
            while True:
                m = _LABEL.match(s)
                if not m:
                    break
                labels.append(m.group(1))
                s = s[m.end():].strip()
            if s:
                parts = s.split(None, 1)
                mn = parts[0].lower()
                ops = [o.strip() for o in _split_ops(parts[1])] if len(parts) > 1 else []
            else:
                mn, ops = None, []
            yield lineno, labels, mn, ops

    def run(self) -> Image:
        sizes = {}
        for final in (False, True):
            section = "text"
            pcs = {"text": TEXT_BASE, "data": DATA_BASE}
            text, data = bytearray(), bytearray()
            for stmt, (lineno, labels, mn, ops) in enumerate(self.statements()):
                self.stmt = stmt
                for lab in labels:
                    if lab.isdigit():
                        if not final:
                            self.local.setdefault(lab, []).append((stmt, pcs[section]))
                        continue
                    if not final and lab in self.symbols:
                        raise self.err(f"label {lab!r} defined twice")
                    self.symbols[lab] = pcs[section]
                if mn is None:
                    continue
                if mn.startswith("."):
                    section = self.directive(mn, ops, section, pcs, text, data, final)
                    continue
                if section != "text":
                    raise self.err(f"instruction {mn!r} outside .text")
                pc = pcs["text"]
                if not final:
                    sizes[lineno] = self.size(mn, ops)
                    pcs["text"] += sizes[lineno]
                    continue
                words = self.encode(mn, ops, pc)
                if 4 * len(words) != sizes[lineno]:
                    # li whose symbol was defined later than its use: pass 1 reserved 2 words
                    words = words + [0x00000013] * (sizes[lineno] // 4 - len(words))
                for w in words:
                    text += struct.pack("<I", w & 0xFFFFFFFF)
                pcs["text"] += 4 * len(words)
            if len(text) > TEXT_SIZE or pcs["text"] - TEXT_BASE > TEXT_SIZE:
                raise AsmError(f"{self.file}: program text is {pcs['text'] - TEXT_BASE} bytes; "
                               f"the instruction memory holds {TEXT_SIZE}")
            if pcs["data"] - DATA_BASE > DATA_SIZE:
                raise AsmError(f"{self.file}: data is {pcs['data'] - DATA_BASE} bytes; "
                               f"the scratchpad holds {DATA_SIZE}")
        return Image(bytes(text), bytes(data), dict(self.symbols))

    def directive(self, d, ops, section, pcs, text, data, final) -> str:
        if d in (".text", ".data"):
            return d[1:]
        if d == ".section":
            name = ops[0] if ops else ""
            if name.startswith(".text"):
                return "text"
            if name.startswith((".data", ".bss", ".rodata")):
                return "data"
            raise self.err(f"unknown section {name!r}")
        if d in (".globl", ".global", ".type", ".size", ".option", ".file"):
            return section
        if d in (".equ", ".set"):
            if len(ops) != 2:
                raise self.err(f"{d} takes a name and a value")
            v = self.value(ops[1], final=final)
            if v is None:
                raise self.err(f"{d} {ops[0]}: the value must use symbols defined above it")
            self.symbols[ops[0]] = v
            return section
        buf = text if section == "text" else data
        if d in (".word", ".half", ".byte"):
            n, fmt = {".word": (4, "<I"), ".half": (2, "<H"), ".byte": (1, "<B")}[d]
            for o in ops:
                v = self.value(o, final=final) if final else 0
                if final:
                    if not -(1 << (8 * n - 1)) <= v < (1 << (8 * n)):
                        raise self.err(f"{d} value {v} does not fit in {8 * n} bits")
                    buf += struct.pack(fmt, v & ((1 << (8 * n)) - 1))
                pcs[section] += n
            return section
        if d in (".space", ".zero"):
            n = self.imm(ops[0], 0, DATA_SIZE, "size") if ops else 0
            if final:
                buf += bytes(n)
            pcs[section] += n
            return section
        if d in (".align", ".p2align", ".balign"):
            k = self.imm(ops[0], 0, 4096, "alignment") if ops else 2
            align = k if d == ".balign" else (1 << k)
            pad = (-pcs[section]) % align
            if final:
                buf += bytes(pad) if section == "data" else b"\x13\x00\x00\x00" * (pad // 4)
            pcs[section] += pad
            return section
        raise self.err(f"unknown directive {d!r}")


def _split_ops(s: str) -> list[str]:
    out, depth, cur = [], 0, []
    for c in s:
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        if c == "," and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(c)
    out.append("".join(cur))
    return out


def assemble(source: str, filename: str = "<asm>") -> Image:
    """Assemble RV32I (+ `hist`) source text into an Image."""
    return _Asm(source, filename).run()
