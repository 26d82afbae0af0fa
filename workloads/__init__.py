"""archsim's built-in workload library: the models of the research archsim reproduces.

Importing this package registers every workload (each module registers its own with
`archsim.graph.register_workload`); archsim finds it through the `archsim.workloads`
entry point. See README.md for the list and `archsim list workloads` for parameters.
"""
from workloads import (dlrm, flow_cnn, graphcast, llama, meshgraphnets, nerf,  # noqa: F401
                       lookupffn,
                       resnet, rnnt, science, ssd, transformers, unet3d)

__all__ = ["dlrm", "flow_cnn", "graphcast", "llama", "lookupffn", "meshgraphnets", "nerf", "resnet", "rnnt",
           "science", "ssd", "transformers", "unet3d"]
