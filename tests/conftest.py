"""SEGUE_BLOCK_TORCH=1 runs the tests as on a machine without torch: importing it fails, and the tests that need it
skip (pytest.importorskip). tests/core/test_house_rules.py checks that the torch-free folders still collect so."""
import os
import sys

if os.environ.get("SEGUE_BLOCK_TORCH") == "1":
    sys.modules["torch"] = None
