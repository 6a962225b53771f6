"""The local control socket: a Unix stream socket speaking `kalshid.control.protocol`.

Trio has no Unix listener, so `open_unix_listener` builds one: it refuses to start when
another daemon holds the socket's lock or answers on it, removes a stale socket file left by a crash,
binds under a 0177 umask so the socket is never world-accessible (then chmods 0600), and
`control_socket_task` unlinks it on exit. Authentication is the file mode: only the daemon's user (and
root) can connect, so requests carry no token.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import stat
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from typing import Final

import trio

from kalshid.config.schema import ControlConfig
from kalshid.control.api import ControlError, DaemonControl
from kalshid.control.commands import CommandError, execute
from kalshid.control.protocol import LineSplitter, encode_error, encode_result, parse_request
from kalshid.daemon.audit import acting_as

log = logging.getLogger("kalshid.control")

SOCKET_NAME: Final = "kalshid.sock"
FALLBACK_SOCKET_PATH: Final = "/run/kalshid/kalshid.sock"
PROBE_TIMEOUT_S: Final = 1.0


class ControlSocketError(Exception):
    """The control socket cannot be opened at its path (in use, not a socket, unwritable)."""


LOCAL_SOCKET_PATH: Final = ControlConfig().socket_path  # a daemon started here on the embedded defaults


class AmbiguousSocket(Exception):
    """More than one daemon's socket is present where ``kalshid ctl`` looks: it will not guess."""


def default_socket_path(environ: Mapping[str, str] | None = None,
                        exists: Callable[[str], bool] = os.path.exists) -> str:
    """Where ``kalshid ctl`` finds the daemon without ``--socket``: ``$KALSHID_SOCKET``; else the
    daemon's own setting ``$KALSHID_CONTROL__SOCKET_PATH``; else ``$RUNTIME_DIRECTORY/kalshid.sock``
    (systemd); else whichever is present of the systemd unit's socket (:data:`FALLBACK_SOCKET_PATH`)
    and ``control.socket_path``'s default (:data:`LOCAL_SOCKET_PATH`, relative to this directory: a
    daemon started here by ``make run``), the unit's when neither is. Both present:
    :class:`AmbiguousSocket` (a kill switch must not reach the wrong daemon)."""
    env = os.environ if environ is None else environ
    for name in ("KALSHID_SOCKET", "KALSHID_CONTROL__SOCKET_PATH"):
        if env.get(name):
            return env[name]
    runtime = env.get("RUNTIME_DIRECTORY", "")
    if runtime:
        # systemd joins several RuntimeDirectory= entries with ':'; ours is the first.
        return os.path.join(runtime.split(":")[0], SOCKET_NAME)
    present = [path for path in (FALLBACK_SOCKET_PATH, LOCAL_SOCKET_PATH) if exists(path)]
    if len(present) > 1:
        raise AmbiguousSocket(f"a control socket at {' and at '.join(present)}: choose one with --socket PATH")
    return present[0] if present else FALLBACK_SOCKET_PATH


async def socket_is_live(path: str, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """True if something accepts connections on the Unix socket at ``path``."""
    with trio.move_on_after(timeout_s):
        try:
            stream = await trio.open_unix_socket(path)
        except OSError:
            return False
        await stream.aclose()
        return True
    # A listener that accepts but stalls still owns the path.
    return True


@contextlib.contextmanager
def _instance_lock(path: str) -> Iterator[None]:
    """Hold an exclusive flock on ``<path>.lock`` so two daemons never race for one socket path."""
    try:
        fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise ControlSocketError(f"cannot open lock file {path}.lock: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EACCES):
                raise ControlSocketError(
                    f"another kalshid holds {path}.lock; refusing to start a second instance"
                ) from None
            raise
        yield
    finally:
        os.close(fd)


def _existing_socket(path: str) -> bool:
    """True if a socket file exists at ``path``; ControlSocketError if something else does."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return False
    if not stat.S_ISSOCK(mode):
        raise ControlSocketError(f"{path} exists and is not a socket; refusing to replace it")
    return True


def _ensure_parent(path: str) -> None:
    parent = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(parent, mode=0o700, exist_ok=True)
    except OSError as exc:
        raise ControlSocketError(f"cannot create control socket directory {parent}: {exc.strerror}") from None


async def open_unix_listener(path: str, *, backlog: int = 16) -> trio.SocketListener:
    """Bind and listen on ``path`` with mode 0600, replacing only a *stale* socket file.

    Raises ControlSocketError if a live daemon answers on ``path`` or ``path`` is not a socket.
    """
    if _existing_socket(path):
        if await socket_is_live(path):
            raise ControlSocketError(f"a kalshid is already answering on {path}; refusing to start")
        log.warning("removing stale control socket %s", path)
        os.unlink(path)
    sock = trio.socket.socket(trio.socket.AF_UNIX, trio.socket.SOCK_STREAM)
    try:
        # umask (not a later chmod alone) so the socket never exists with wider permissions.
        old_umask = os.umask(0o177)
        try:
            await sock.bind(path)
        finally:
            os.umask(old_umask)
        os.chmod(path, 0o600)
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return trio.SocketListener(sock)


async def respond(control: DaemonControl, line: bytes) -> bytes:
    """The response line for one request line. Never raises for bad input or a refused command."""
    try:
        request = parse_request(line)
    except CommandError as exc:
        return encode_error(exc.request_id, exc.to_json())
    try:
        with acting_as("ctl"):
            result = await execute(control, request.command)
        return encode_result(request.id, result)
    except ControlError as exc:
        return encode_error(request.id, exc.to_json())
    except Exception:
        # A pipeline bug must not take the daemon down through its control socket; log it in full and
        # tell the client, as the HTTP API does with a 500.
        log.exception("control command %s failed", request.command.name)
        return encode_error(request.id, {"code": "internal_error", "message": "internal error; see the log"})


async def handle_connection(stream: trio.abc.Stream, control: DaemonControl) -> None:
    """Serve requests on one connection until the client closes it or sends an oversized line."""
    splitter = LineSplitter()
    async with stream:
        try:
            while chunk := await stream.receive_some(4096):
                try:
                    lines = splitter.feed(bytes(chunk))
                except CommandError as exc:
                    await stream.send_all(encode_error(None, exc.to_json()))
                    return
                for line in lines:
                    await stream.send_all(await respond(control, line))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return  # the client went away mid-reply


async def control_socket_task(
    control: DaemonControl, path: str, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED
) -> None:
    """Serve the control socket at ``path`` until cancelled; reports ``path`` once listening.

    Raises ControlSocketError (before reporting started) if another instance owns the path. The socket
    file is removed on exit, but only if it is still the one this task created.
    """
    _ensure_parent(path)
    with _instance_lock(path):
        try:
            listener = await open_unix_listener(path)
        except ControlSocketError:
            raise
        except OSError as exc:
            raise ControlSocketError(f"cannot listen on control socket {path}: {exc.strerror}") from None
        ours = os.stat(path).st_ino
        try:
            async with listener, trio.open_nursery() as nursery:
                await nursery.start(
                    trio.serve_listeners, partial(handle_connection, control=control), [listener]
                )
                log.info("control socket listening on %s", path)
                task_status.started(path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                if os.stat(path).st_ino == ours:
                    os.unlink(path)
