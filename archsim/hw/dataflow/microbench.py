"""The queue microbenchmark as a pipeline: P producer CTAs feeding P consumer CTAs through
2-entry rings, no compute (benchmarks/device/queue.cu on the H200; the paper's Fig. 5 on A100).
Used to calibrate QueueParams and to show the model beside the measurements."""
from __future__ import annotations

from archsim.hw.dataflow.executor import PipelineCost, QueueCost, StageCost, build_dataflow
from archsim.hw.dataflow.queue import H200_FIT, QueueParams
from archsim.hw.gpu.model import GpuModel
from archsim.lower.program import Program


def queue_pipeline(pairs: int, payload: int, messages: int, threads: int = 512,
                   smem: int = 160 << 10) -> PipelineCost:
    tiles = pairs * messages
    prod = StageCost("producer", "simt", tiles, pairs, 0.0, block=threads, regs=32, smem=smem)
    cons = StageCost("consumer", "simt", tiles, pairs, 0.0, block=threads, regs=32, smem=smem)
    q = QueueCost("q", 0, (1,), payload, tiles, entries=2)
    return PipelineCost(f"queues-{pairs}x{payload}", (prod, cons), (q,))


def queue_bandwidth(cfg, pairs: int, payload: int, *, messages: int = 48, threads: int = 512,
                    params: QueueParams = H200_FIT, monitors=()) -> dict:
    """Simulate the microbenchmark; payload bytes (counted once) per second, as the measurement
    counts them, and the machine's event count."""
    pc = queue_pipeline(pairs, payload, messages, threads)
    prog = Program("queue-microbench", cfg.name, "dataflow", (), {}, ())
    model = GpuModel(cfg)
    model.prepare(prog, "cold")
    m = build_dataflow(cfg, prog, model=model, pipelines=[pc], params=params,
                       stream=[("pipeline", 0)])
    for fn in monitors:
        fn(m.signals, cfg.clocks.boost)
    m.start()
    m.run()
    rep = m.reports[0]
    t = rep["time_s"]
    return {"gbps": pairs * messages * payload / t / 1e9, "time_s": t, "events": m.sim.events_processed,
            "spill": rep["spill_fraction"], "report": rep}
