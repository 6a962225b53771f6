"""Fixtures for the simulator tests live in ``simkit`` (a uniquely named module, so test files can
import its helpers without clashing with other folders' ``conftest``)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from simkit import client, private_key, signer, sim  # noqa: F401  (fixtures)
