# sm_util.s - GPU SM utilisation per window (the paper's case study 3).
# Tap (mode "change"): IN0 = sm[i].simt_busy, IN1 = sm[i].tensor_busy, IN2 = sm[i].mem_outstanding
# (a unit is "active" while its input is non-zero). The timer closes a window every
# interval_cycles host cycles (256 in the case study; at most 511, the record's field width).
# Each window: a unit is "high" if active > 25 % of the window (4*active > length); the window's
# bin (0 all-low, 1 one-high, 2 two-or-more-high) is counted with `hist` in `bins`, and one
# output record is written:  simt | tensor << 9 | mem << 18 | bin << 27  (active cycles, 9 bits).
# The host is assumed idle before the first event (true at the start of a simulation).
        .equ IO, 0x20000000
        .equ KIND, 0x8C
        .equ TIME, 0x84
        .equ OUT, 0x98
        .data
bins:   .word 0, 0, 0            # windows per bin: all-low, one-high, >=2-high
        .text
_start:
        li   s0, IO
        la   s7, bins
        li   s1, 0               # time of the last event (host cycles)
        li   s2, 0               # start of the current window
        li   s3, 0               # active cycles of IN0 in this window
        li   s4, 0               # ... IN1
        li   s5, 0               # ... IN2
        li   s6, 0               # active mask since the last event
loop:
        ecall                    # wait for the next event / timer
        lw   t0, KIND(s0)
        lw   t1, TIME(s0)
        sub  t2, t1, s1          # cycles since the last event, all with mask s6
        beqz s6, 3f
        andi t3, s6, 1
        beqz t3, 1f
        add  s3, s3, t2
1:      andi t3, s6, 2
        beqz t3, 2f
        add  s4, s4, t2
2:      andi t3, s6, 4
        beqz t3, 3f
        add  s5, s5, t2
3:      mv   s1, t1
        bnez t0, window
        lw   t3, 0(s0)           # new active mask from the held levels
        snez t3, t3
        lw   t4, 4(s0)
        snez t4, t4
        slli t4, t4, 1
        or   t3, t3, t4
        lw   t4, 8(s0)
        snez t4, t4
        slli t4, t4, 2
        or   s6, t3, t4
        j    loop
window:
        sub  t5, t1, s2          # window length (the last one may be partial)
        beqz t5, reset
        li   a0, 0
        slli t3, s3, 2
        sltu t4, t5, t3          # high if 4*active > length
        add  a0, a0, t4
        slli t3, s4, 2
        sltu t4, t5, t3
        add  a0, a0, t4
        slli t3, s5, 2
        sltu t4, t5, t3
        add  a0, a0, t4
        li   t6, 2
        bleu a0, t6, 4f
        mv   a0, t6
4:      hist t6, s7, a0
        slli t3, s4, 9
        or   t3, t3, s3
        slli t4, s5, 18
        or   t3, t3, t4
        slli t4, a0, 27
        or   t3, t3, t4
        sw   t3, OUT(s0)
reset:
        li   s3, 0
        li   s4, 0
        li   s5, 0
        mv   s2, t1
        j    loop
