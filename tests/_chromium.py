"""The browser tests' Chromium: the project's one launcher (scripts/browser.py); the tests skip, saying why, where
Chromium or playwright is missing."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from browser import CHROMIUM, FLAGS, chromium, serve  # noqa: E402,F401
