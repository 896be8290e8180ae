"""Traffic simulator: six weeks of model-API traffic with planted campaigns and ground truth.

`generate(out_dir, preset, seed, scale)` writes account and request files in the log format
(shared/spec/log-format.md) plus `ground_truth.json`.  Pure Python, no Django, no database.
"""

from __future__ import annotations

from .presets import PRESETS, Preset, get_preset
from .runner import OutputDirError, generate

__all__ = ["PRESETS", "OutputDirError", "Preset", "generate", "get_preset"]
