"""The export room's section of config.yaml, `export:` (torch -> ONNX). Registered by export/cli.py (SETTINGS)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from segue.config import COUNT, FRACTION, NON_NEGATIVE, Range


@dataclass
class ExportConfig:
    """torch -> ONNX (export/)."""
    opset: int = 17
    parity_steps: int = 500
    int8_max_kl: float = 0.01
    int8_min_agreement: float = 0.95

    RANGES: ClassVar[dict[str, Range]] = {
        "opset": Range(17, 30),
        "parity_steps": COUNT,
        "int8_max_kl": NON_NEGATIVE,
        "int8_min_agreement": FRACTION,
    }

