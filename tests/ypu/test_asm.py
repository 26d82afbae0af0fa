"""The assembler: encodings against LLVM's RISC-V assembler, pseudo-instructions, errors,
and the shipped binaries against the assembler's output."""
import shutil
import struct
import subprocess

import pytest

from archsim.errors import UserError
from archsim.hw.ypu import programs
from archsim.hw.ypu.asm import AsmError, Image, assemble

# Encodings printed by `llvm-mc -triple=riscv32 -show-encoding` (an independent assembler).
KNOWN = {
    "addi a0, a0, 1": 0x00150513,
    "bne a0, zero, -8": 0xFE051CE3,
    "srai t0, t1, 31": 0x41F35293,
    "sltiu a1, a2, -1": 0xFFF63593,
    "jalr ra, 1(t0)": 0x001280E7,
    "sb a0, -1(sp)": 0xFEA10FA3,
    "lhu a0, 2046(s0)": 0x7FE45503,
}

FORMS = [
    "add a0, a1, a2", "sub t0, t1, t2", "sll s1, s2, s3", "slt a3, a4, a5", "sltu x1, x2, x3",
    "xor a0, a0, a0", "srl t3, t4, t5", "sra t6, s0, s1", "or a6, a7, s2", "and s3, s4, s5",
    "addi sp, sp, -2048", "slti a0, a1, 2047", "sltiu a0, a1, -1", "xori a0, a1, -1",
    "ori a0, a1, 0x555", "andi a0, a1, 0xff", "slli a0, a1, 31", "srli a0, a1, 1",
    "srai a0, a1, 7", "lb a0, -2048(a1)", "lh a0, 2(a1)", "lw a0, 0(sp)", "lbu a0, 5(s0)",
    "lhu a0, -2(s0)", "sb a0, 7(a1)", "sh a0, -6(a1)", "sw ra, 12(sp)", "beq a0, a1, 16",
    "bne a0, a1, -16", "blt a0, a1, 4094", "bge a0, a1, -4096", "bltu a0, a1, 8",
    "bgeu a0, a1, 12", "lui a0, 0xfffff", "auipc a0, 0x12345", "jal ra, 2048",
    "jal zero, -1048576", "jalr a0, -4(a1)", "ecall", "fence",
]


def ours(line: str) -> int:
    return struct.unpack("<I", assemble(line).text[:4])[0]


@pytest.mark.parametrize("line,word", KNOWN.items())
def test_known_encodings(line, word):
    assert ours(line) == word


@pytest.mark.skipif(shutil.which("llvm-mc") is None, reason="llvm-mc not installed")
def test_every_form_matches_llvm_mc():
    res = subprocess.run(["llvm-mc", "-triple=riscv32", "-show-encoding"],
                         input="\n".join(FORMS) + "\n", capture_output=True, text=True)
    if res.returncode != 0 or "encoding" not in res.stdout:
        pytest.skip("llvm-mc has no RISC-V target")
    encs = [line.split("encoding: [")[1].rstrip("]") for line in res.stdout.splitlines()
            if "encoding:" in line]
    assert len(encs) == len(FORMS)
    for form, enc in zip(FORMS, encs):
        want = int.from_bytes(bytes(int(b, 16) for b in enc.split(",")), "little")
        assert ours(form) == want, form


def test_pseudo_instruction_expansions():
    # li of a 32-bit constant: lui + addi with the low part sign-adjusted (0x800 carries)
    im = assemble("li a0, 0x12345fff")
    lui, addi = struct.unpack("<II", im.text)
    assert lui >> 12 == 0x12346 and (addi >> 20) == 0xFFF
    assert assemble("ret").text == assemble("jalr zero, 0(ra)").text
    assert assemble("mv a0, a1").text == assemble("addi a0, a1, 0").text
    assert assemble("j 8").text == assemble("jal zero, 8").text
    assert assemble("beqz a0, 8").text == assemble("beq a0, zero, 8").text
    assert assemble("bnez a0, 8").text == assemble("bne a0, zero, 8").text
    assert assemble("nop").text == assemble("addi zero, zero, 0").text


def test_hist_encoding_is_custom0_rtype():
    w = ours("hist a0, a1, a2")
    assert w & 0x7F == 0b0001011           # custom-0
    assert (w >> 7) & 31 == 10 and (w >> 15) & 31 == 11 and (w >> 20) & 31 == 12
    assert (w >> 12) & 7 == 0 and w >> 25 == 0


def test_labels_data_and_word_directive():
    im = assemble(""".data
    a: .word 1, 2, -1
    b: .byte 7
       .align 2
    c: .word a
       .text
    start: la a0, c
       j start""")
    assert im.symbols["a"] == 0x1000_0000 and im.symbols["c"] == 0x1000_0010
    assert im.data[:12] == struct.pack("<3I", 1, 2, 0xFFFFFFFF)
    assert im.data[16:20] == struct.pack("<I", 0x1000_0000)
    j = struct.unpack("<I", im.text[8:12])[0]
    assert j == ours("jal zero, -8") or j == 0xFF9FF06F


@pytest.mark.parametrize("src,msg", [
    ("addi a0, a0, 4096", ":1: immediate 4096 is out of range"),
    ("nop\nfoo a0", ":2: unknown instruction 'foo'"),
    ("add a0, a1, q9", "expected a register"),
    ("j nowhere", "undefined symbol 'nowhere'"),
    ("slli a0, a0, 32", "shift amount 32 is out of range"),
    ("x: nop\nx: nop", "label 'x' defined twice"),
    ("lw a0, a1", "memory operand"),
    (".data\naddi a0, a0, 1", "outside .text"),
])
def test_errors_name_the_line(src, msg):
    with pytest.raises(AsmError, match=msg) as e:
        assemble(src, "prog.s")
    assert str(e.value).startswith("prog.s:")
    assert isinstance(e.value, UserError)


def test_program_too_big_for_instruction_memory():
    with pytest.raises(AsmError, match="8192"):
        assemble("nop\n" * 2049)


@pytest.mark.parametrize("name", programs.NAMES)
def test_shipped_binaries_match_the_assembler(name):
    shipped = (programs.HERE / f"{name}.bin").read_bytes()
    assert shipped == programs.assemble_program(name).to_bytes()
    im = programs.load(name)
    assert Image.from_bytes(shipped).text == im.text


def test_bad_binary_is_refused():
    with pytest.raises(UserError, match="YPU1"):
        Image.from_bytes(b"ELF\x00" + bytes(8))


def test_cli_ypu_asm(tmp_path, capsys):
    from archsim.cli import main
    src = tmp_path / "p.s"
    src.write_text("li a0, 1\necall\n")
    assert main(["ypu-asm", str(src)]) == 0
    assert (tmp_path / "p.bin").read_bytes() == assemble("li a0, 1\necall\n").to_bytes()
    bad = tmp_path / "bad.s"
    bad.write_text("nop\naddi a0, a0, 5000\n")
    assert main(["ypu-asm", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.s:2:" in err[0] and "Traceback" not in err[0]
