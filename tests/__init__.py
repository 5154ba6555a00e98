import os

# As the CLI and the UI set it (multimodal/openmp.py), before any test module loads torch.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
