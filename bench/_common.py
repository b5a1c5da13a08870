"""Shared plumbing for benchmarks: arguments, the result table, and the JSON file.

Every benchmark prints a readable table and, with ``--json PATH``, writes
``{"metrics": {name: number}, "meta": {"machine": ..., "data": ..., "date": ...}}``.
``--quick`` runs for seconds on tiny data so a test can keep every benchmark from rotting.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"

# Let `python bench/x.py` import the engine from a source checkout.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the flags every benchmark shares."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--json", metavar="PATH", help="write metrics and meta as JSON to PATH")
    p.add_argument("--quick", action="store_true", help="a seconds-long smoke run on tiny data")
    return p


def machine() -> dict[str, Any]:
    """A description of this machine for the meta block."""
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }


def require_data(path: Path, what: str) -> bool:
    """True if ``path`` exists; otherwise print why the benchmark is skipped."""
    if path.exists():
        return True
    print(f"skipped: {what} not found at {path} (reference data is not shipped with the engine)")
    return False


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a plain, aligned table."""
    cells = [[_fmt(v) for v in row] for row in rows]
    widths = [
        max(len(str(h)), *(len(r[i]) for r in cells)) if cells else len(str(h))
        for i, h in enumerate(headers)
    ]
    print(f"\n{title}")
    print("  ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def write(path: str | None, metrics: dict[str, float], data: Any = None, **meta: Any) -> None:
    """Write the result object to ``path`` (if given)."""
    if not path:
        return
    result = {
        "metrics": {k: float(v) for k, v in metrics.items()},
        "meta": {
            "machine": machine(),
            "data": data,
            "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            **meta,
        },
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"\nwrote {path}")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)
