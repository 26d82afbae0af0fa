# value_hist.s - histograms of tensor values (fp32) by sign and binary exponent.
# Tap (mode "change"): IN0 = the value stream (pulse; amount = the fp32 bit pattern),
# IN1 = the id of the tensor being written (level; it changes before the tensor's first value).
# A value event counts bin = bits >> 23 (sign and exponent: 512 bins) with `hist`. Whenever an
# event shows a tensor id other than the one being counted (even if the change event itself
# was dropped), and at the final job, the counted tensor's non-zero bins are written as two
# words each, (tensor << 16 | bin) then count, and cleared.
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
        li   s2, 0               # 1 if a bin was counted since the last dump
loop:
        ecall
        lw   t0, KIND(s0)
        bnez t0, final
        lw   s3, 4(s0)           # tensor id now
        beq  s3, s1, 1f
        jal  ra, dump
        mv   s1, s3
1:      lw   t1, SIG(s0)
        bnez t1, loop            # the tensor-change event carries no value
        lw   t2, 0(s0)
        srli t2, t2, 23
        hist t3, s7, t2
        li   s2, 1
        j    loop
final:
        jal  ra, dump
        j    loop
dump:                            # write and clear the non-zero bins of tensor s1
        beqz s2, 3f
        mv   t3, s7
        addi t5, s7, 2047
        li   t6, 0
        slli t1, s1, 16
2:      bgeu t3, t5, 3f
        lw   t4, 0(t3)
        beqz t4, 4f
        or   t2, t1, t6
        sw   t2, OUT(s0)
        sw   t4, OUT(s0)
        sw   zero, 0(t3)
4:      addi t3, t3, 4
        addi t6, t6, 1
        j    2b
3:      li   s2, 0
        ret
