"""archsim's built-in workload library: the models of the research archsim reproduces.

Each module registers its own workloads with `archsim.graph.register_workload` when it is
imported. Importing this package only declares which module holds which workload
(`register_lazy`), so looking one up imports just its module (the science workloads pull in
scipy and the solvers; a transformer does not need them). archsim finds the package through
the `archsim.workloads` entry point. `tests/workloads` checks this index against what the
modules register. See README.md for the list and `archsim list workloads` for parameters.
"""
import importlib

from archsim.graph.registry import register_lazy

MODULES = ("dlrm", "flow_cnn", "graphcast", "llama", "meshgraphnets", "nerf", "resnet", "rnnt",
           "science", "ssd", "transformers", "unet3d")

register_lazy({
    "bert-base": "workloads.transformers", "bert-large": "workloads.transformers",
    "roberta-small": "workloads.transformers", "gpt2": "workloads.transformers",
    "llama3-8b": "workloads.llama", "resnet50": "workloads.resnet", "dlrm": "workloads.dlrm",
    "flow-cnn": "workloads.flow_cnn", "graphcast": "workloads.graphcast",
    "meshgraphnets": "workloads.meshgraphnets", "nerf": "workloads.nerf",
    "rnnt": "workloads.rnnt", "ssd-resnet34": "workloads.ssd", "unet3d": "workloads.unet3d",
    "cg": "workloads.science", "jacobi": "workloads.science", "amp": "workloads.science",
    "vamp": "workloads.science", "cg-vamp": "workloads.science",
    "tumour-stiff": "workloads.science", "tumour-scan": "workloads.science",
    "flow-cnn-numpy": "workloads.science",
})

__all__ = list(MODULES)


def __getattr__(name):   # `workloads.llama` and friends, imported on first use
    if name in MODULES:
        return importlib.import_module(f"workloads.{name}")
    raise AttributeError(f"module 'workloads' has no attribute {name!r}")
