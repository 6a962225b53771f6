"""Explanations formatted on their first read.

A frozen value whose text most readers never ask for (a strategy's signal reason, a risk refusal's
detail) may hold a function that formats it instead of the text: the backtest makes thousands of
them and reads none, the daemon reads each once for its log and journal. The value stands for the
text: equality, hashing and ``repr`` use it (:func:`text_of` as the attrs field's key), and the
first read replaces the function with the text it returns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

LazyText: TypeAlias = str | Callable[[], str]


def text_of(value: LazyText) -> str:
    """The text ``value`` stands for: itself, or what its function formats."""
    return value if isinstance(value, str) else value()


def text_repr(value: LazyText) -> str:
    """The ``repr`` of the text (an attrs field's ``repr``)."""
    return repr(text_of(value))


def read_once(owner: object, slot: str, value: LazyText) -> str:
    """The text ``value`` (``owner``'s field ``slot``) stands for; a function is called on this first read
    and its text kept in the field in its place (a memo: the value the field stands for is unchanged)."""
    if isinstance(value, str):
        return value
    text = value()
    object.__setattr__(owner, slot, text)
    return text
