# cycle_stack.s - per-op cycle stacks (PICS-style, after TEA), for one CPU core.
# Tap (mode "change"): IN0 = core[i].state (0 idle, 1 compute, 2 stall_l1, 3 stall_l2,
# 4 stall_llc, 5 stall_dram, 6 sync), IN1 = core[i].op (op index + 1; 0 idle).
# Every event charges the host cycles since the previous event to the (op, state) the core was
# in, in a table of 32-bit counters: table[(op << 3) | state], op clamped to 1023.
# The timer (every interval_cycles host cycles, e.g. 400 000 as in the paper) and the final job
# write every non-zero counter as two words, (op << 3 | state) then cycles, and clear it.
        .equ IO, 0x20000000
        .equ KIND, 0x8C
        .equ TIME, 0x84
        .equ OUT, 0x98
        .equ MAXOP, 1023
        .data
table:  .space 32768 - 64        # 1024 ops x 8 states x 4 bytes, less the last 16 words
        .text
_start:
        li   s0, IO
        la   s7, table
        li   s1, 0               # time of the last event
        li   s2, 0               # index (op << 3 | state) being charged
        li   s3, 0               # highest op seen since the last dump
        li   s8, MAXOP
loop:
        ecall
        lw   t0, KIND(s0)
        lw   t1, TIME(s0)
        sub  t2, t1, s1
        mv   s1, t1
        beqz t2, 1f
        slli t3, s2, 2
        add  t3, t3, s7
        lw   t4, 0(t3)
        add  t4, t4, t2
        sw   t4, 0(t3)
1:      bnez t0, dump
        lw   t3, 4(s0)           # op
        bleu t3, s8, 2f
        mv   t3, s8
2:      bleu t3, s3, 3f
        mv   s3, t3
3:      lw   t4, 0(s0)           # state
        andi t4, t4, 7
        slli t3, t3, 3
        or   s2, t3, t4
        j    loop
dump:
        mv   t3, s7              # walk table[0 .. (s3 + 1) * 8)
        addi t5, s3, 1
        slli t5, t5, 5
        add  t5, t5, s7
        li   t6, 0               # index
5:      bgeu t3, t5, 7f
        lw   t4, 0(t3)
        beqz t4, 6f
        sw   t6, OUT(s0)
        sw   t4, OUT(s0)
        sw   zero, 0(t3)
6:      addi t3, t3, 4
        addi t6, t6, 1
        j    5b
7:      srli s3, s2, 3
        j    loop
