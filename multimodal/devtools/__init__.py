"""Tools for developing this project, shared by the tests and the benchmarks: free ports, a child process's
environment, a local `chroma run` server, a local two-node Ray cluster, headless Chromium.

Nothing in the product imports this package; it lives in the library so that `tests/` and `benchmarks/` both
depend downward on one copy (a benchmark never imports from `tests/`).
"""
