"""kalshid: a trading daemon for Kalshi's 15-minute Solana markets, and a Kalshi-compatible simulator."""

__version__ = "0.1.0"
