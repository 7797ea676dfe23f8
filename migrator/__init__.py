"""ms-migrate: convert PyTorch programs to MindSpore."""
__version__ = "0.1.0"
