"""Kalshi's protocol on the wire (Trade API v3.31 and its AsyncAPI): every JSON shape the client reads
or writes, converted here and nowhere else.

- :mod:`.fields`: decoding and the field conventions (exact numbers, ``*_dollars``, ``*_fp``).
- :mod:`.objects`: exchange status, markets, books, orders, fills, positions, settlements, balance.
- :mod:`.fees`: a series' fee structure and an event's override of it.
- :mod:`.orders`: order-entry bodies (the V2 routes) and their answers, batch items included.
- :mod:`.answers`: an HTTP answer's body and the typed error of a failed one.
- :mod:`.feed`: WebSocket commands and message payloads.
"""
