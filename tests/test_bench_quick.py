"""Every benchmark runs in --quick mode and writes the agreed JSON shape, so none rots."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCHES = sorted(p for p in (ROOT / "bench").glob("*.py") if not p.name.startswith("_"))


@pytest.mark.slow
@pytest.mark.parametrize("script", BENCHES, ids=[p.stem for p in BENCHES])
def test_benchmark_quick_run_writes_metrics(script: Path, tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    proc = subprocess.run(
        [sys.executable, str(script), "--quick", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    if "skipped:" in proc.stdout and not out.exists():
        pytest.skip(proc.stdout.strip().splitlines()[-1])
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["metrics"], "a benchmark must report at least one metric"
    assert all(isinstance(v, int | float) for v in result["metrics"].values())
    assert {"machine", "data", "date"} <= set(result["meta"])
