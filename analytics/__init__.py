"""Analyses of archsim Reports (JSON): comparison tables and plots. Reads reports only."""
