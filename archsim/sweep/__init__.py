"""archsim.sweep: design-space sweeps — sweep files, Dask execution, a SQLite store of Reports.

    spec = load_sweep("sweeps/l2.yaml")          # SweepSpec with its expanded Points
    summary = run_sweep(spec, workers=2)         # runs what the store lacks; see README.md
"""
from archsim.sweep.point import Job, make_job, point_key, run_job
from archsim.sweep.runner import Plan, Summary, default_workers, plan, run_sweep
from archsim.sweep.spec import Axis, Point, SweepSpec, load_sweep
from archsim.sweep.store import SCHEMA, Store

__all__ = ["Axis", "Job", "Plan", "Point", "SCHEMA", "Store", "Summary", "SweepSpec",
           "default_workers", "load_sweep", "make_job", "plan", "point_key", "run_job",
           "run_sweep"]
