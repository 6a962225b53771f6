"""Replay sources (see :mod:`.base` for the interface)."""
