# nextline.s - a next-line prefetcher emulated "in the wild" on the LLC miss stream.
# Tap (mode "change"): IN0 = llc.miss_addr (pulse; amount = the missing line's byte address,
# 64-byte lines, low 32 bits; any trigger address range applies before the unit sees it).
# A direct-mapped table of 1024 prefetched-line tags stands for the prefetch buffer, indexed by
# slot(L) = (L ^ L >> 10 ^ L >> 20) mod 1024 (XOR-folded, so streams 2^k lines apart do not
# collide). On a miss to line A: if table[slot(A)] holds A, the prefetch would have covered the
# miss (useful); then line A+1 is prefetched (issued) into table[slot(A+1)]. A tag of 0 means
# empty, so tags are stored as line + 1.
# The timer and the final job write three words: misses, useful, issued (since the last record).
        .equ IO, 0x20000000
        .equ KIND, 0x8C
        .equ OUT, 0x98
        .data
tags:   .space 4096
        .text
_start:
        li   s0, IO
        la   s7, tags
        li   s1, 0               # misses
        li   s2, 0               # useful prefetches (covered misses)
        li   s3, 0               # prefetches issued
        li   s4, 1023
loop:
        ecall
        lw   t0, KIND(s0)
        bnez t0, record
        lw   t1, 0(s0)
        srli t1, t1, 6           # A: the line number
        addi s1, s1, 1
        addi t2, t1, 1           # tag of A
        srli t3, t1, 10
        xor  t3, t3, t1
        srli t5, t1, 20
        xor  t3, t3, t5
        and  t3, t3, s4
        slli t3, t3, 2
        add  t3, t3, s7
        lw   t4, 0(t3)
        bne  t4, t2, 1f
        addi s2, s2, 1
        sw   zero, 0(t3)
1:      srli t3, t2, 10          # slot of A+1
        xor  t3, t3, t2
        srli t5, t2, 20
        xor  t3, t3, t5
        and  t3, t3, s4
        slli t3, t3, 2
        add  t3, t3, s7
        addi t4, t2, 1           # tag of A+1
        lw   t5, 0(t3)
        beq  t5, t4, loop        # already prefetched: nothing issued
        sw   t4, 0(t3)
        addi s3, s3, 1
        j    loop
record:
        sw   s1, OUT(s0)
        sw   s2, OUT(s0)
        sw   s3, OUT(s0)
        li   s1, 0
        li   s2, 0
        li   s3, 0
        j    loop
