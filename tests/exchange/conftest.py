"""Make the helpers beside these tests importable (the tests directory has no packages)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
