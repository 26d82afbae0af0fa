"""The RV32I core, instruction by instruction, on both backends (Cython and the Python twin).

Expected values are worked out from the RISC-V unprivileged spec by hand (two's complement
arithmetic written out in the comments), not produced by the core under test.
"""
import pytest

from archsim.hw.ypu.asm import assemble
from archsim.hw.ypu.pycore import PyRv32Core, YpuFault

BACKENDS = [PyRv32Core]
try:
    from archsim.hw.ypu._core import Rv32Core
    BACKENDS.append(Rv32Core)
except ImportError:  # pragma: no cover - no compiler
    pass

M32 = 0xFFFFFFFF
REG = {"t0": 5, "t1": 6, "t2": 7, "a0": 10, "a1": 11, "a2": 12, "a3": 13, "a4": 14, "a5": 15,
       "ra": 1, "s1": 9}


def run(core_cls, src, **kw):
    im = assemble(src)
    c = core_cls(im.text, im.data)
    cycles = c.run(kw.get("max_cycles", 10_000))
    return c, cycles


@pytest.fixture(params=BACKENDS, ids=lambda c: c.backend)
def core(request):
    return request.param


CASES = [  # (source, {register: expected value})
    # add / sub wrap modulo 2^32 (signed overflow is not trapped)
    ("li a0, 0x7fffffff\n addi a0, a0, 1", {"a0": 0x80000000}),
    ("li a0, -1\n li a1, 1\n add a2, a0, a1", {"a2": 0}),
    ("li a0, 0x80000000\n li a1, 1\n sub a2, a0, a1", {"a2": 0x7FFFFFFF}),
    ("li a0, 0\n li a1, 1\n sub a2, a0, a1", {"a2": M32}),
    ("li a0, 5\n addi a1, a0, -2048", {"a1": (5 - 2048) & M32}),
    # logic, with sign-extended immediates
    ("li a0, 0x0f0f0f0f\n li a1, 0x00ff00ff\n and a2, a0, a1\n or a3, a0, a1\n xor a4, a0, a1",
     {"a2": 0x000F000F, "a3": 0x0FFF0FFF, "a4": 0x0FF00FF0}),
    ("li a0, 0x12345678\n andi a1, a0, -16\n ori a2, a0, 0x7ff\n xori a3, a0, -1",
     {"a1": 0x12345670, "a2": 0x123457FF, "a3": 0xEDCBA987}),
    # shifts: register shift amounts use only the low 5 bits (33 -> 1, 32 -> 0, -1 -> 31)
    ("li a0, 3\n li a1, 33\n sll a2, a0, a1", {"a2": 6}),
    ("li a0, 3\n li a1, 32\n sll a2, a0, a1", {"a2": 3}),
    ("li a0, 0x80000000\n li a1, -1\n srl a2, a0, a1\n sra a3, a0, a1", {"a2": 1, "a3": M32}),
    ("li a0, 0x80000010\n li a1, 36\n srl a2, a0, a1\n sra a3, a0, a1",
     {"a2": 0x08000001, "a3": 0xF8000001}),
    ("li a0, 0x80000000\n srai a1, a0, 31\n srli a2, a0, 31\n slli a3, a0, 1",
     {"a1": M32, "a2": 1, "a3": 0}),
    # slt / sltu edge cases: -1 < 1 signed but not unsigned; INT_MIN
    ("li a0, -1\n li a1, 1\n slt a2, a0, a1\n sltu a3, a0, a1", {"a2": 1, "a3": 0}),
    ("li a0, 0x80000000\n li a1, 0x7fffffff\n slt a2, a0, a1\n sltu a3, a0, a1",
     {"a2": 1, "a3": 0}),
    ("li a0, 5\n slt a2, a0, a0\n sltu a3, a0, a0", {"a2": 0, "a3": 0}),
    # sltiu sign-extends its immediate, then compares unsigned: x < 0xFFFFFFFF for x != -1
    ("li a0, 7\n sltiu a1, a0, -1\n slti a2, a0, -1\n seqz a3, a0\n snez a4, a0",
     {"a1": 1, "a2": 0, "a3": 0, "a4": 1}),
    ("li a0, 0\n sltiu a1, a0, 1\n seqz a2, a0", {"a1": 1, "a2": 1}),
    # lui / auipc
    ("lui a0, 0xfffff\n auipc a1, 1", {"a0": 0xFFFFF000, "a1": 4 + 0x1000}),
    # pseudo-instructions
    ("li a0, 42\n mv a1, a0\n neg a2, a0\n not a3, a0\n nop",
     {"a1": 42, "a2": (-42) & M32, "a3": (~42) & M32}),
    ("li a0, -2049", {"a0": (-2049) & M32}),
    ("li a0, 0x800", {"a0": 0x800}),
    # x0 stays zero
    ("li zero, 5\n addi a0, zero, 0", {"a0": 0}),
]


@pytest.mark.parametrize("src,expect", CASES)
def test_alu(core, src, expect):
    c, _ = run(core, src + "\n ecall")
    for r, v in expect.items():
        assert c.x[REG[r]] == v, (r, hex(c.x[REG[r]]), hex(v))


BRANCHES = [  # (op, a, b, taken)
    ("beq", 5, 5, True), ("beq", 5, 6, False), ("bne", 5, 6, True), ("bne", 5, 5, False),
    ("blt", -1, 1, True), ("blt", 1, -1, False), ("bge", -1, -1, True), ("bge", -2, -1, False),
    ("bltu", 1, -1, True), ("bltu", -1, 1, False), ("bgeu", -1, 1, True), ("bgeu", 1, 2, False),
    ("bgt", 2, 1, True), ("ble", 2, 1, False), ("bgtu", -1, 1, True), ("bleu", -1, 1, False),
]


@pytest.mark.parametrize("op,a,b,taken", BRANCHES)
def test_branches(core, op, a, b, taken):
    src = f"""li a0, {a}
        li a1, {b}
        li a2, 0
        {op} a0, a1, yes
        li a2, 1
        ecall
    yes:
        li a2, 2
        ecall"""
    c, _ = run(core, src)
    assert c.x[12] == (2 if taken else 1)


def test_zero_branches_and_backward_loop(core):
    src = """li a0, 10
        li a1, 0
    1:  addi a1, a1, 3
        addi a0, a0, -1
        bnez a0, 1b
        beqz a0, 2f
        li a1, 0
    2:  bltz a0, bad
        bgez a0, ok
    bad: li a1, 0
    ok: ecall"""
    c, _ = run(core, src)
    assert c.x[11] == 30


def test_jal_jalr_links_and_clears_bit0(core):
    src = """jal ra, f          # pc 0: ra = 4
        li a1, 7           # pc 4 (returned to)
        la t0, g           # pc 8, 12
        addi t0, t0, 1     # pc 16: an odd target; jalr clears bit 0
        jalr s1, 0(t0)     # pc 20: s1 = 24
        ecall              # pc 24
    f:  li a0, 1
        ret
    g:  li a2, 9
        ecall"""
    c, _ = run(core, src)
    assert c.x[10] == 1 and c.x[11] == 7 and c.x[12] == 9
    assert c.x[9] == 24 and c.x[1] == 4


def test_jalr_to_misaligned_target_faults(core):
    src = """la t0, g
        addi t0, t0, 2     # bit 1 set: not a 4-byte boundary, and RV32I has no C extension
        jalr zero, 0(t0)
    g:  ecall"""
    with pytest.raises(YpuFault, match="instruction fetch"):
        run(core, src)


def test_loads_stores_all_widths_and_sign_extension(core):
    src = """.data
    buf: .word 0x8081f0ff, 0
        .text
        la s1, buf
        lb a0, 0(s1)       # 0xff -> -1
        lbu a1, 0(s1)      # 0xff
        lh a2, 2(s1)       # 0x8081 -> 0xffff8081
        lhu a3, 2(s1)      # 0x8081
        lw a4, 0(s1)
        li t0, 0x12345678
        sw t0, 4(s1)
        sb t0, 4(s1)       # low byte 0x78 over 0x78
        li t1, 0xab
        sb t1, 5(s1)       # 0x1234ab78
        li t1, 0xcdef
        sh t1, 6(s1)       # 0xcdefab78
        lw a5, 4(s1)
        ecall"""
    c, _ = run(core, src)
    assert c.x[10:16] == [M32, 0xFF, 0xFFFF8081, 0x8081, 0x8081F0FF, 0xCDEFAB78]
    assert c.read_word(0x1000_0004) == 0xCDEFAB78


@pytest.mark.parametrize("ins,what", [
    ("lw a0, 2(s1)", "misaligned 4-byte load"), ("lh a0, 1(s1)", "misaligned 2-byte load"),
    ("sw a0, 1(s1)", "misaligned 4-byte store"), ("sh a0, 3(s1)", "misaligned 2-byte store"),
])
def test_misaligned_access_faults(core, ins, what):
    with pytest.raises(YpuFault, match=what):
        run(core, f"li s1, 0x10000000\n {ins}\n ecall")


@pytest.mark.parametrize("addr,ins,what", [
    (0x10008000, "lw a0, 0(s1)", "unmapped"),        # one past the 32 KB scratchpad
    (0x10007ffe, "lw a0, 0(s1)", "misaligned"),
    (0x10007ffc, "lw a0, 4(s1)", "unmapped"),
    (0x00000000, "lw a0, 0(s1)", "unmapped"),        # instruction memory is not data
    (0x20000000, "sw a0, 0(s1)", "read-only"),       # the tap's input registers
    (0x20000000, "lb a0, 0(s1)", "word access"),
    (0x30000000, "sw a0, 0(s1)", "unmapped"),
])
def test_out_of_range_access_faults(core, addr, ins, what):
    with pytest.raises(YpuFault, match=what):
        run(core, f"li s1, {addr}\n {ins}\n ecall")


def test_last_scratchpad_word_is_usable(core):
    c, _ = run(core, "li s1, 0x10007ffc\n li a0, 77\n sw a0, 0(s1)\n lw a1, 0(s1)\n ecall")
    assert c.x[11] == 77


def test_illegal_instruction_and_runaway(core):
    with pytest.raises(YpuFault, match="illegal instruction 0x00000000"):
        run(core, ".word 0")
    with pytest.raises(YpuFault, match="runaway"):
        run(core, "1: j 1b", max_cycles=100)
    with pytest.raises(YpuFault, match="illegal"):
        run(core, "ebreak")


def test_hist_instruction_counts_in_scratchpad(core):
    src = """.data
    h: .space 16
        .text
        la s1, h
        li a0, 3
        hist a1, s1, a0
        hist a1, s1, a0
        li a0, 0
        hist a2, s1, a0
        ecall"""
    c, _ = run(core, src)
    assert c.x[11] == 2 and c.x[12] == 1
    assert c.read_word(0x1000_000C) == 2 and c.read_word(0x1000_0000) == 1


def test_cycle_counts_follow_the_documented_table(core):
    # li(1 word)=1, lw=2, sw=1, not-taken branch=1, taken branch=3, jal=2, jalr=3, hist=2,
    # ecall=1
    src = """li s1, 0x10000000
        lw a0, 0(s1)
        sw a0, 0(s1)
        bnez a0, x
        beqz a0, y
    x:  nop
    y:  jal ra, f
        hist a1, s1, zero
        ecall
    f:  ret"""
    _, cycles = run(core, src)
    assert cycles == 1 + 2 + 1 + 1 + 3 + 2 + 3 + 2 + 1


def test_out_register_collects_words_and_io_registers_read(core):
    im = assemble("""li s0, 0x20000000
    1:  ecall
        lw a0, 0(s0)
        lw a1, 0x84(s0)
        add a0, a0, a1
        sw a0, 0x98(s0)
        lw a2, 0x98(s0)     # OUT reads as 0
        sw a2, 0x98(s0)
        j 1b""")
    c = core(im.text, im.data)
    c.run()
    c.job([5, 0, 0], 1, 100, 0, 0, 0, 0, 1000)
    c.job([7, 0, 0], 1, 1000, 0, 0, 0, 1, 1000)
    assert c.take_out() == [105, 0, 1007, 0]


def test_backends_agree_on_a_long_program():
    if len(BACKENDS) < 2:
        pytest.skip("Cython core not compiled")
    src = """.data
    arr: .space 256
        .text
        la s1, arr
        li a0, 0
        li a1, 12345
    1:  slli t0, a1, 13
        xor a1, a1, t0
        srli t0, a1, 17
        xor a1, a1, t0
        slli t0, a1, 5
        xor a1, a1, t0
        andi t1, a1, 63
        hist t2, s1, t1
        andi t3, a1, 255
        add t3, t3, s1
        lb t4, 0(t3)
        add a2, a2, t4
        sra a3, a1, t4
        sltu a4, a3, a1
        add a5, a5, a4
        addi a0, a0, 1
        li t5, 5000
        blt a0, t5, 1b
        ecall"""
    py, cy = [run(b, src, max_cycles=10**7) for b in BACKENDS]
    assert py[1] == cy[1]
    assert py[0].x == cy[0].x
    assert bytes(py[0].dmem) == bytes(cy[0].dmem)
