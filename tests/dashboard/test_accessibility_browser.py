"""Accessibility basics of the dashboard: every field has a label, every button a name, and the text that
carries bad news (errors, losses, the why-line when it is not trading) is readable: WCAG AA contrast
(4.5:1) against the background it is drawn on."""

from __future__ import annotations

from typing import Any

import pytest

from tests.dashboard.conftest import Console
from tests.dashboard.harness import Daemon
from tests.dashboard.test_browser import expect_text, sign_in

pytestmark = pytest.mark.browser
# The text colour of an element and the first opaque background behind it, as [r, g, b].
COLOURS = """(sel) => {
  const rgb = (c) => c.match(/[\\d.]+/g).map(Number);
  const e = document.querySelector(sel);
  let b = e;
  while (b && rgb(getComputedStyle(b).backgroundColor)[3] === 0) b = b.parentElement;
  const back = getComputedStyle(b || document.body).backgroundColor;
  return [rgb(getComputedStyle(e).color).slice(0, 3), rgb(back).slice(0, 3)];
}"""
AA = 4.5


def luminance(rgb: list[float]) -> float:
    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else float(((c + 0.055) / 1.055) ** 2.4)

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(page: Any, selector: str) -> float:
    fg, bg = page.evaluate(COLOURS, selector)
    hi, lo = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_labels_names_and_the_contrast_of_bad_news(daemon: Daemon, page: tuple[Any, Console]) -> None:
    p, console = page
    p.goto(daemon.url + "/")
    p.fill("#token", "not-the-token-0123456789")
    p.click("#signin-button")
    expect_text(p, "#signin-error", "not valid")
    assert contrast(p, "#signin-error") >= AA

    sign_in(p, daemon)
    expect_text(p, "#state", "RUNNING")
    p.wait_for_selector("#strategies input")
    unlabelled = p.evaluate("""() => [...document.querySelectorAll('input')]
      .filter((i) => !i.labels || !i.labels.length || !i.labels[0].textContent.trim()).map((i) => i.id)""")
    assert unlabelled == []
    nameless = p.evaluate("""() => [...document.querySelectorAll('button')]
      .filter((b) => !(b.textContent.trim() || b.getAttribute('aria-label'))).map((b) => b.outerHTML)""")
    assert nameless == []

    name = "kelly_volatility"
    p.fill(f"#param-{name}-kelly_fraction", "7")
    p.click(f"#save-{name}")
    expect_text(p, f"#params-error-{name}", "422")
    assert contrast(p, f"#params-error-{name}") >= AA
    # a loss in the P&L and a why-line that says it is not trading use the same red (drawn here on probes
    # the page's own refreshes leave alone)
    p.evaluate("""() => {
      const probe = (card, id, cls) => {
        const e = document.createElement('p'); e.id = id; e.className = cls; e.textContent = '−$1.00';
        document.getElementById(card).append(e);
      };
      probe('pnl-card', 'probe-loss', 'v neg');
      probe('why-card', 'probe-why', 'why bad');
    }""")
    assert contrast(p, "#probe-loss") >= AA
    assert contrast(p, "#probe-why") >= AA
    assert console.unexpected(401, 422) == [], console.errors
