"""The P&L figures fit their columns on a desktop and on a phone: no amount runs into the next one."""

from __future__ import annotations

from typing import Any

import pytest

from tests.dashboard.conftest import Console
from tests.dashboard.harness import Daemon
from tests.dashboard.test_browser import expect_text, sign_in

pytestmark = pytest.mark.browser
VIEWPORTS = ((1440, 1100), (1000, 800), (375, 667))
# Each figure's text box against its own column and the other figures' text boxes.
CLASHES = """() => {
  const boxes = [...document.querySelectorAll('.kpis .v')].map((v) => {
    const range = document.createRange();
    range.selectNodeContents(v);
    return { id: v.id, text: range.getBoundingClientRect(), cell: v.parentElement.getBoundingClientRect() };
  });
  const out = [];
  for (const b of boxes) {
    if (b.text.left < b.cell.left - 0.5 || b.text.right > b.cell.right + 0.5) out.push(`${b.id} leaves its column`);
  }
  for (const a of boxes) for (const b of boxes) {
    if (a.id < b.id && a.text.left < b.text.right && b.text.left < a.text.right
        && a.text.top < b.text.bottom && b.text.top < a.text.bottom) out.push(`${a.id} overlaps ${b.id}`);
  }
  return out;
}"""


def test_pnl_figures_never_overlap(daemon: Daemon, page: tuple[Any, Console]) -> None:
    p, console = page
    sign_in(p, daemon)
    expect_text(p, "#equity", "^\\$\\d{1,3},\\d{3}\\.\\d\\d$")  # the simulator's account: five digits
    expect_text(p, "#total", "\\$")
    for width, height in VIEWPORTS:
        p.set_viewport_size({"width": width, "height": height})
        assert p.evaluate(CLASHES) == [], (width, p.text_content("#pnl-card"))
    # a larger account and a large day still fit on a phone
    p.evaluate("""() => {
      document.getElementById('equity').textContent = '$1,234,567.89';
      for (const id of ['realised', 'total']) document.getElementById(id).textContent = '−$123,456.78';
    }""")
    for width, height in VIEWPORTS:
        p.set_viewport_size({"width": width, "height": height})
        assert p.evaluate(CLASHES) == [], (width, p.text_content("#pnl-card"))
    assert p.evaluate("document.documentElement.scrollWidth") <= 375
    assert console.unexpected() == [], console.errors
