"""The trading vocabulary is defined once (``kalshid.core.vocab``) and a member is its wire string."""

from __future__ import annotations

import ast
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kalshid.core.vocab import Action, BookSide, Side, TimeInForce, book_side_of
from kalshid.exchange.types import Fill, OrderRequest

PACKAGE = Path(__file__).resolve().parents[2] / "kalshid"
SHARED_NAMES = ("Action", "BookSide", "Side", "TimeInForce")


def _definitions(name: str) -> list[str]:
    """Every ``module:line`` under kalshid/ that defines ``name`` (a class or an assignment)."""
    found: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.ClassDef):
                names = [node.name]
            elif isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names = [node.target.id]
            else:
                continue
            if name in names:
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    return found


@pytest.mark.parametrize("name", SHARED_NAMES)
def test_each_name_is_defined_once_in_vocab(name: str) -> None:
    assert _definitions(name) == [f"kalshid/core/vocab.py:{_line_of(name)}"], (
        f"{name} must be defined only in kalshid/core/vocab.py; import it from there")


def _line_of(name: str) -> int:
    tree = ast.parse((PACKAGE / "core" / "vocab.py").read_text(encoding="utf-8"))
    return next(n.lineno for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name)


def test_a_member_is_its_wire_string() -> None:
    assert Side("yes") is Side.YES and Side.YES == "yes" and {"yes": 1}[Side.YES] == 1
    assert json.dumps({"side": Side.NO, "action": Action.SELL}) == '{"side": "no", "action": "sell"}'
    assert f"{TimeInForce.IMMEDIATE_OR_CANCEL}" == "immediate_or_cancel"
    with pytest.raises(ValueError, match="'maybe' is not a valid Side"):
        Side("maybe")


def test_book_side_of_accepts_members_and_wire_strings() -> None:
    assert [book_side_of(s, a) for s in Side for a in Action] == [
        BookSide.BID, BookSide.ASK, BookSide.ASK, BookSide.BID]
    assert book_side_of("no", "buy") is BookSide.ASK  # what the simulator's parser passes
    assert Side.YES.other is Side.NO and Side.NO.other is Side.YES


def test_exchange_types_hold_members_whatever_they_were_built_from() -> None:
    fill = Fill(fill_id="f", order_id="o", ticker="T", side="no", action="sell", count=1, yes_price_cc=4000,
                no_price_cc=6000, is_taker=True, fee_cc=0, ts=datetime(2026, 7, 8, tzinfo=UTC), book_side="bid")
    assert (fill.side, fill.action, fill.book_side) == (Side.NO, Action.SELL, BookSide.BID)
    assert fill.with_intent(Side.YES, Action.BUY).side is Side.YES
    req = OrderRequest(ticker="T", side=Side.YES, action="buy", count=1, price_cc=4000, client_order_id="c",
                       time_in_force="immediate_or_cancel")
    assert req.time_in_force is TimeInForce.IMMEDIATE_OR_CANCEL and req.book_side is BookSide.BID
    with pytest.raises(ValueError, match="'sideways' is not a valid Side"):
        OrderRequest(ticker="T", side="sideways", action="buy", count=1, price_cc=4000, client_order_id="c")
