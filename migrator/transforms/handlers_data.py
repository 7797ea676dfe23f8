"""Handlers for data rules (registered with @handler)."""
from __future__ import annotations

from ..context import Untranslated  # noqa: F401
from .handlers import handler  # noqa: F401
