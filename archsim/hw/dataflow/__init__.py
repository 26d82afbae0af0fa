"""The dataflow (Kitsune) GPU: ring queues in L2, a two-arbiter grid scheduler, and the
executor running a DataflowPlan's spatial pipelines on the component GPU. See README.md."""
