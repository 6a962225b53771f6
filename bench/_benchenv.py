"""What every bench that runs a whole daemon sets so it stays inside its temporary directory."""

from __future__ import annotations

from pathlib import Path


def isolated_env(tmp: Path, token: str) -> dict[str, str]:
    """The journal and control socket under ``tmp``, the API on a free port with ``token``, JSON logs
    and no log file: nothing touches the checkout or another daemon."""
    return {
        "KALSHID_JOURNAL__DIR": str(tmp / "var"),
        "KALSHID_CONTROL__SOCKET_PATH": str(tmp / "kalshid.sock"),
        "KALSHID_API__PORT": "0",
        "KALSHID_API__TOKEN": token,
        "KALSHID_LOG__FILE": "off",
        "KALSHID_LOG__FORMAT": "json",
    }
