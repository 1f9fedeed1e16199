"""The bench tools are scripts in bench/, run with the venv's python; their tests import them the
way the scripts import each other, with bench/ on the path."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))
