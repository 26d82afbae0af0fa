"""Numerical-science solvers that archsim workloads trace and simulate.

Sub-packages own one problem each (``solvers.cs``: compressed-sensing message passing).
Solvers never import archsim: the dependency runs one way, workloads -> solvers.
"""
