"""What ``kalshid run`` runs: the trading components, then the control plane that serves them."""

from __future__ import annotations

import functools

from kalshid.daemon.supervisor import Component, Runtime
from kalshid.trading.controlplane import api_task, control_task, watchdog_component
from kalshid.trading.reload import reload_on_signal
from kalshid.trading.wiring import TradingDaemon


def components(daemon: TradingDaemon) -> list[Component]:
    """Every component of ``daemon`` in dependency order, each living inside the one before it:
    exchange → feed → markets → risk → execution (reconciles first) → api → control socket → watchdog
    → strategy. A graceful stop ends them in the reverse order (:mod:`kalshid.trading.wiring`)."""
    return daemon.components(control_plane=[
        Component("api", functools.partial(api_task, daemon)),
        Component("control", functools.partial(control_task, daemon)),
        Component("watchdog", functools.partial(watchdog_component, daemon)),
    ])


def components_for(runtime: Runtime) -> list[Component]:
    """The components ``kalshid run`` starts; a configuration reload applies to the daemon they share."""
    daemon = TradingDaemon(runtime)
    runtime.on_reload = functools.partial(reload_on_signal, daemon)
    return components(daemon)
