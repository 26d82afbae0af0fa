# value_hist.s - histograms of tensor values (fp32) by sign and binary exponent.
# Tap (mode "change"): IN0 = the value stream (pulse; amount = the fp32 bit pattern),
# IN1 = the id of the tensor being written (level).
# A value event counts bin = bits >> 23 (sign and exponent: 512 bins) with `hist`. When the
# tensor id changes, and at the final job, the previous tensor's non-zero bins are written as
# two words each, (tensor << 16 | bin) then count, and cleared.
        .equ IO, 0x20000000
        .equ KIND, 0x8C
        .equ SIG, 0x90
        .equ OUT, 0x98
        .data
bins:   .space 2048
        .text
_start:
        li   s0, IO
        la   s7, bins
        li   s1, 0               # tensor id being counted
        li   s2, 0               # bins used since the last dump (0 = nothing to dump)
loop:
        ecall
        lw   t0, KIND(s0)
        bnez t0, dump
        lw   t1, SIG(s0)
        bnez t1, dump
        lw   t2, 0(s0)
        srli t2, t2, 23
        hist t3, s7, t2
        li   s2, 1
        j    loop
dump:
        beqz s2, 3f
        mv   t3, s7
        addi t5, s7, 2047
        li   t6, 0
        slli t1, s1, 16
1:      bgeu t3, t5, 3f
        lw   t4, 0(t3)
        beqz t4, 2f
        or   t2, t1, t6
        sw   t2, OUT(s0)
        sw   t4, OUT(s0)
        sw   zero, 0(t3)
2:      addi t3, t3, 4
        addi t6, t6, 1
        j    1b
3:      li   s2, 0
        lw   s1, 4(s0)           # the new tensor id
        j    loop
