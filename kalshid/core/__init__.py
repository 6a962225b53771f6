"""The functional core: pure, synchronous, deterministic.

Nothing under ``kalshid.core`` may import trio, httpx, quart, hypercorn, sqlite3 or read a clock;
``tests/core/test_purity.py`` enforces it. The shell passes data and ``now`` in and acts on what
comes back.
"""
