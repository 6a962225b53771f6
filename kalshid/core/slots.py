"""Filling a frozen attrs slots instance without its constructor's checks.

A frozen attrs class refuses ``setattr``; its generated ``__init__`` fills each field through
``object.__setattr__`` and then runs the checks. Where a value is built on every strategy evaluation
from inputs that already passed those checks, a builder sets the slots through their descriptors
instead (about half the constructor's cost). The public constructors keep every check; a builder is
for a caller that can show each check holds by construction (and a test compares the two).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs


def slot_setters(cls: type) -> tuple[Callable[[Any, Any], None], ...]:
    """The slot setters of the attrs slots class ``cls``, in field order (``attrs.fields``)."""
    return tuple(cls.__dict__[a.name].__set__ for a in attrs.fields(cls))
