"""Dataflow (Kitsune) lowering: spatial pipelines of fused ops joined by L2 ring queues.
See README.md; the plan types are in plan.py."""
from archsim.lower.dataflow.plan import (PIPE_TYPES, TOPOLOGIES, Allocation, DataflowPlan,
                                         Pipeline, Queue, Stage)

__all__ = ["PIPE_TYPES", "TOPOLOGIES", "Allocation", "DataflowPlan", "Pipeline", "Queue", "Stage"]
