"""No code path writes to a retired Kalshi order route (``POST /portfolio/orders``, ``DELETE
/portfolio/orders/{id}``, ``…/amend``, ``…/decrease``, ``POST|DELETE /portfolio/orders/batched``: they
answer 410 ``deprecated_v1_order_endpoint``).

Three angles: every request method of the REST client is driven and every write it makes is under
``/portfolio/events/orders``; the order lane and the presigner sign and send only there; and no source
file of the daemon (the simulator aside, which must *answer* the legacy routes) hands a legacy order
path to anything that writes.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

from kalshid.exchange.kalshi import presign
from kalshid.exchange.kalshi.auth import Signer
from kalshid.exchange.kalshi.rest import KalshiRest
from kalshid.exchange.kalshi.wire import orders as orderwire
from tests.exchange.kalshi.client_drive import drive_everything

PACKAGE = Path(__file__).resolve().parents[3] / "kalshid"
LEGACY_WRITE = re.compile(r"^/trade-api/v2/portfolio/orders(/[^/]+(/amend|/decrease)?|/batched)?/?$")
V2 = re.compile(r"^/trade-api/v2/portfolio/events/orders(/batched|/[^/]+(/amend|/decrease)?)?$")
WRITERS = {"_write", "_send", "_modify_once", "_post_order", "post", "put", "patch", "delete", "request",
           "build_request", "send", "headers", "sign"}


async def test_every_write_the_client_makes_is_a_v2_route(rsa_key: rsa.RSAPrivateKey) -> None:
    sent = await drive_everything(rsa_key)
    writes = [(r.method, r.path) for r in sent if r.method != "GET"]
    assert writes, "the drive made no write at all"
    assert not [w for w in writes if LEGACY_WRITE.match(w[1])], writes
    assert all(V2.match(path) for _, path in writes), writes
    reads = [r.path for r in sent if r.method == "GET"]
    assert any(LEGACY_WRITE.match(p) for p in reads)  # the legacy *reads* stay in use, and that is right


def test_the_order_lane_and_presigner_use_the_v2_route(rsa_key: rsa.RSAPrivateKey) -> None:
    assert presign.ORDERS_PATH == orderwire.ORDERS_V2_PATH == "/portfolio/events/orders"
    rest = KalshiRest("https://api.example/trade-api/v2", Signer("k", rsa_key))
    presigned = rest.presigner()
    assert presigned.path == "/trade-api/v2/portfolio/events/orders"
    lane = rest.order_lane()
    assert lane is not None  # a direct connection: the lane's requests go to presigned.path (rest._lane_send)
    assert rest._orders_url.path == presigned.path


def _legacy_literals(node: ast.AST) -> list[str]:
    found = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            text = sub.value
            if "/portfolio/orders" in text and "/portfolio/events/orders" not in text:
                found.append(text)
    return found


def _offenders(tree: ast.AST, where: str) -> list[str]:
    """Calls of a writer with a legacy order-path literal (and a write method, or a write-only helper)."""
    offenders = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if name not in WRITERS:
            continue
        args = [*node.args, *(k.value for k in node.keywords)]
        methods = {a.value for a in args
                   if isinstance(a, ast.Constant) and a.value in ("POST", "DELETE", "PUT", "PATCH")}
        legacy = [t for a in args for t in _legacy_literals(a)]
        if legacy and (methods or name in {"_write", "_modify_once", "_post_order", "post", "delete"}):
            offenders.append(f"{where}:{node.lineno}: {name}({legacy})")
    return offenders


def test_no_source_hands_a_legacy_order_path_to_a_writer() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "sim" in path.relative_to(PACKAGE).parts:
            continue  # the simulator serves the legacy routes (with 410); it never calls them
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        offenders += _offenders(tree, str(path.relative_to(PACKAGE.parent)))
    assert not offenders, offenders


def test_the_source_scan_has_teeth() -> None:
    legacy = ast.parse(
        'async def f(self, oid):\n'
        '    await self._modify_once(oid, "DELETE", f"/portfolio/orders/{oid}", template="x")\n'
        '    await self._write("POST", "/portfolio/orders/batched", {})\n'
        '    await self._get(f"/portfolio/orders/{oid}")\n')
    assert len(_offenders(legacy, "snippet")) == 2  # the two writes; the read is fine


def test_the_legacy_pattern_is_right() -> None:
    for p in ("/trade-api/v2/portfolio/orders", "/trade-api/v2/portfolio/orders/o-1",
              "/trade-api/v2/portfolio/orders/o-1/amend", "/trade-api/v2/portfolio/orders/o-1/decrease",
              "/trade-api/v2/portfolio/orders/batched"):
        assert LEGACY_WRITE.match(p) and not V2.match(p), p
    for p in ("/trade-api/v2/portfolio/events/orders", "/trade-api/v2/portfolio/events/orders/o-1/amend",
              "/trade-api/v2/portfolio/events/orders/batched"):
        assert V2.match(p) and not LEGACY_WRITE.match(p), p
