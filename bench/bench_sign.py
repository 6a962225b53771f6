"""Cost of one Kalshi request signature (RSA-PSS/SHA-256, 2048-bit) and of loading the key.
Prints figures; not a test. Run: ``.venv/bin/python bench/bench_sign.py``
"""

from __future__ import annotations

import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from kalshid.exchange.kalshi.auth import Signer, verify

N = 500


def main() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    t0 = time.perf_counter()
    loaded = serialization.load_pem_private_key(pem, password=None)
    print(f"load RSA-2048 PKCS#8 PEM: {(time.perf_counter() - t0) * 1e3:.1f} ms (once at startup)")
    assert isinstance(loaded, rsa.RSAPrivateKey)
    signer = Signer("key-id", loaded)
    t0 = time.perf_counter()
    for i in range(N):
        h = signer.headers(1_783_551_000_000 + i, "POST", "/trade-api/v2/portfolio/events/orders")
    dt = (time.perf_counter() - t0) / N
    print(f"sign one request (RSA-2048 PSS + base64): {dt * 1e6:.0f} µs")
    t0 = time.perf_counter()
    for _ in range(N):
        assert verify(
            key.public_key(),
            1_783_551_000_000 + N - 1,
            "POST",
            "/trade-api/v2/portfolio/events/orders",
            h["KALSHI-ACCESS-SIGNATURE"],
        )
    print(f"verify one signature: {(time.perf_counter() - t0) / N * 1e6:.0f} µs")


if __name__ == "__main__":
    main()
