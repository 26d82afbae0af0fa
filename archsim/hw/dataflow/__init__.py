"""The dataflow (Kitsune) GPU: ring queues in L2, a two-arbiter grid scheduler, and the
executor running a DataflowPlan's spatial pipelines on the component GPU. See README.md.

Registers execution mode "dataflow" for machine kind "gpu" (archsim.hw.registry)."""
from archsim.hw.dataflow import arbiter  # noqa: F401  (registers the "kitsune" arbiter)
from archsim.hw.registry import register_mode


def _run(graph, cfg, exec_mode, **opts):
    from archsim.hw.dataflow.run import run_dataflow
    return run_dataflow(graph, cfg, exec_mode, **opts)


register_mode("gpu", "dataflow", _run)
