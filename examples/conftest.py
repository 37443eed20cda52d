"""Make the example app importable as ``chatapp`` without installing it."""

from __future__ import annotations

import sys
from pathlib import Path

_EXAMPLES = str(Path(__file__).resolve().parent)
if _EXAMPLES not in sys.path:
    sys.path.insert(0, _EXAMPLES)
