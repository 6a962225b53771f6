"""Kalshi's Trade API v2: request signing, REST and WebSocket clients, wire formats."""
