"""A data-only stand-in for torchvision, used by benchmarks/real_programs.py to run the ORIGINAL programs.

torchvision does not import beside torch 2.13 on this machine. This shim supplies only what the
originals need to read the synthetic data the runner writes (datasets, the common transforms,
save_image/make_grid), with torchvision's semantics for those uses. It is never on the path of
a converted program.
"""
from . import datasets, transforms, utils  # noqa: F401

__version__ = "0.0-shim"
