"""The parameter map: how each converted model's torch state_dict names become MindSpore names."""
from __future__ import annotations


def extract(module, ctx) -> dict:
    return {}


def write_param_map(report, path: str) -> bool:
    return False
