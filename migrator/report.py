"""The account of a run: a summary on stderr and the machine-readable JSON report."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from . import __version__
from .convert import FileResult

EXIT_OK, EXIT_UNTRANSLATED, EXIT_ERROR = 0, 1, 2


@dataclass
class Report:
    files: list[FileResult] = field(default_factory=list)
    copied: int = 0  # non-Python files mirrored
    generated: list[str] = field(default_factory=list)  # helper modules written (helper_module)

    @property
    def apis_found(self) -> int:
        return sum(f.apis_found for f in self.files)

    @property
    def apis_translated(self) -> int:
        return sum(f.apis_translated for f in self.files)

    @property
    def errors(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "error"]

    @property
    def rate(self) -> float:
        return self.apis_translated / self.apis_found if self.apis_found else 1.0

    def exit_code(self) -> int:
        if self.errors:
            return EXIT_ERROR
        if any(f.untranslated for f in self.files):
            return EXIT_UNTRANSLATED
        return EXIT_OK

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.files:
            out[f.status] = out.get(f.status, 0) + 1
        return out

    def summary_lines(self, limit: int = 50) -> list[str]:
        lines = []
        for f in self.files:
            if f.error:
                lines.append(f"{f.path}: error: {f.error}")
        shown = 0
        untranslated = [(f, u) for f in self.files for u in f.untranslated]
        for f, u in untranslated:
            if shown == limit:
                lines.append(f"... and {len(untranslated) - limit} more untranslated uses (see the JSON report)")
                break
            lines.append(f"{_where(f.path, u)}: untranslated {u.api}: {u.reason}")
            shown += 1
        notes = [(f, n) for f in self.files for n in f.findings if n.kind == "warning"]
        for i, (f, n) in enumerate(notes):
            if i == limit:
                lines.append(f"... and {len(notes) - limit} more notes (see the JSON report)")
                break
            lines.append(f"{_where(f.path, n)}: note {n.api}: {n.reason}")
        c = self.counts()
        parts = [f"{c.get(k)} {k}" for k in ("converted", "unchanged", "no-torch", "error") if c.get(k)]
        notebooks = sum(f.path.endswith(".ipynb") for f in self.files)
        kinds = []
        if len(self.files) > notebooks or not notebooks:
            kinds.append(f"{len(self.files) - notebooks} Python files")
        if notebooks:
            kinds.append(f"{notebooks} notebook" + ("s" if notebooks != 1 else ""))
        lines.append(
            f"ms-migrate: {' and '.join(kinds)} ({', '.join(parts) or 'none'})"
            + (f", {self.copied} other files copied" if self.copied else "")
            + (f", helper module {os.path.relpath(self.generated[0])} written" if len(self.generated) == 1 else
               f", {len(self.generated)} helper modules written" if self.generated else "")
            + f"; {self.apis_found} torch API uses, {self.apis_translated} translated, "
            f"{self.apis_found - self.apis_translated} untranslated; conversion rate {self.rate:.1%}")
        return lines

    def to_json(self) -> dict:
        return {
            "tool": "ms-migrate",
            "version": __version__,
            "summary": {
                "files": len(self.files),
                "by_status": self.counts(),
                "other_files_copied": self.copied,
                "helper_modules_written": self.generated,
                "apis_found": self.apis_found,
                "apis_translated": self.apis_translated,
                "apis_untranslated": self.apis_found - self.apis_translated,
                "conversion_rate": round(self.rate, 4),
                "exit_code": self.exit_code(),
            },
            "files": [f.to_json() for f in self.files],
        }

    def write_json(self, path: str) -> None:
        from .fileio import write_atomic
        write_atomic(path, (json.dumps(self.to_json(), indent=2) + "\n").encode())


def _where(path: str, finding) -> str:
    """`path:line:col`, or `path:cell N:line:col` in a notebook (cells from 1, as ruff counts them)."""
    cell = getattr(finding, "cell", None)
    return f"{path}:cell {cell}:{finding.line}:{finding.col}" if cell else f"{path}:{finding.line}:{finding.col}"
