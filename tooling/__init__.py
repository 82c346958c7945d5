"""Tooling: the command line (python -m tooling), evaluation, baselines, benchmarks, load runs,
server management and the README writers. It imports every other package and none imports it:
no server ever loads plotting, benchmark or evaluation code.
"""
