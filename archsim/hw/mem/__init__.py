"""Memory-system models — where they live now (README.md here).

The GPU L2 is the shared cache component (`archsim.hw.cache.Cache`, Cython, with its twin
`PyCache`) configured by `archsim.hw.gpu.l2.GpuL2`; HBM channels are `archsim.hw.gpu.machine.Hbm`;
the CPU's caches and DRAM are in `archsim.hw.cpu`. This package holds no model of its own.
"""
