"""The instructor's solutions (scripts/solutions.py, kept out of the package), for the tests: ``value(key)``."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from solutions import SETUP, SOLUTIONS, name, namespace, source, value  # noqa: E402,F401
