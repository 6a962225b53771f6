"""structlog, configured once: JSON lines under systemd or when piped, pretty lines on a terminal.

Every line passes :func:`redaction_processor`, which removes secrets by *shape* (PEM blocks,
``KALSHI-ACCESS-SIGNATURE`` values, bearer tokens), by *value* (strings registered with
:func:`register_secret`, e.g. the API key id, which keeps its first 4 characters) and by *key name*
(``signature``, ``token``, ``passphrase``, ``private_key``, ``authorization``, ``password``).
stdlib loggers (hypercorn, httpx) go through the same formatter and the same redaction.
Use :func:`redact` for strings that leave the process another way (error messages, API responses).

Lines are written by a thread, not by the caller. A call on a :func:`get_logger` logger takes only
what must be taken at the call (level check, wall time, the fields, the exception text if any) and
queues it as one tuple; a listener thread turns it into a record, redacts, renders and writes it. So a
slow journald, a full disk or a blocked pipe never holds trading up, and an order's hot path pays a few
microseconds per line, not structlog's processor chain, a ``LogRecord``, a render and a ``write``
(loggers from ``structlog.get_logger`` and stdlib loggers go through the whole chain; their records
share the queue, so lines stay in call order). Until logging is configured (and after
:func:`shutdown_logging`), :func:`get_logger` loggers hand every call to structlog as it is
configured, and while ``structlog.testing.capture_logs`` captures. The queue
is bounded (:data:`QUEUE_LINES`): past that, lines are dropped and counted, and the next line written
says how many were lost. :func:`flush_logs` waits until every queued line is written; the listener is
stopped (and drained) at interpreter exit and when logging is configured again.
"""

import atexit
import datetime
import functools
import logging
import logging.handlers
import os
import queue
import re
import sys
import threading
import time
from collections.abc import Callable, Mapping, MutableMapping
from pathlib import Path
from typing import Any, Literal, TextIO

import structlog

from kalshid import threads
from kalshid.exchange.kalshi.auth import redact_key_id

REDACTED = "[REDACTED]"
SECRET_KEY_PARTS = ("signature", "token", "passphrase", "private_key", "authorization", "password", "secret")

_PEM = re.compile(r"-----BEGIN [A-Z0-9 ]+-----.*?(?:-----END [A-Z0-9 ]+-----|\Z)", re.DOTALL)
_SIGNATURE = re.compile(r"(KALSHI-ACCESS-SIGNATURE['\"]?\s*[:=]\s*['\"]?)[A-Za-z0-9+/=_-]+", re.IGNORECASE)
_BEARER = re.compile(r"(\bBearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)

# Any of the shapes above; one search decides whether the three substitutions are needed (redaction
# runs on every value of every log line, and almost no value contains a secret).
_SHAPES = re.compile(r"-----BEGIN |KALSHI-ACCESS-SIGNATURE|\bBearer\s", re.IGNORECASE)

_lock = threading.Lock()
_secrets: dict[str, str] = {}  # secret -> what replaces it
_secret_pairs: tuple[tuple[str, str], ...] = ()  # the same, longest first; replaced whole, read without the lock


def register_secret(secret: str, *, keep_prefix: bool = False) -> None:
    """Never show ``secret`` in a log line or in :func:`redact` output again.

    ``keep_prefix`` shows its first 4 characters (for API key ids, so operators can tell keys apart).
    Strings shorter than 4 characters are ignored: redacting them would mangle ordinary text.
    """
    if len(secret) < 4:
        return
    global _secret_pairs
    with _lock:
        _secrets[secret] = redact_key_id(secret) if keep_prefix else REDACTED
        _secret_pairs = tuple(sorted(_secrets.items(), key=lambda kv: -len(kv[0])))  # no partial leaks


def redact(text: str) -> str:
    """``text`` with PEM blocks, signature values, bearer tokens and registered secrets removed."""
    if _SHAPES.search(text) is not None:
        text = _PEM.sub("[REDACTED PEM]", text)
        text = _SIGNATURE.sub(r"\1" + REDACTED, text)
        text = _BEARER.sub(r"\1" + REDACTED, text)
    for secret, replacement in _secret_pairs:
        if secret in text:
            text = text.replace(secret, replacement)
    return text


@functools.lru_cache(maxsize=4096)  # log keys are a small fixed vocabulary
def _is_secret_key(key: str) -> bool:
    lowered = key.lower().replace("-", "_")
    return any(part in lowered for part in SECRET_KEY_PARTS)


def redact_value(value: Any, key: str = "") -> Any:
    """A copy of ``value`` with secrets removed, recursing into mappings, lists and tuples."""
    if key and _is_secret_key(key) and value not in (None, "", False):
        return REDACTED
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bytes):
        return redact(value.decode("utf-8", "replace"))
    if isinstance(value, Mapping):
        return {k: redact_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return redact(str(value))


def redaction_processor(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Any:
    """structlog processor: redact every value of the event (runs after exception formatting)."""
    for key in list(event_dict):
        if key.startswith("_"):  # structlog/stdlib internals (_record, _from_structlog)
            continue
        event_dict[key] = redact_value(event_dict[key], "" if key == "event" else key)
    return event_dict


def under_systemd(environ: Mapping[str, str] | None = None) -> bool:
    """True when stdout goes to the journal (systemd sets these for services)."""
    env = os.environ if environ is None else environ
    return bool(env.get("JOURNAL_STREAM") or env.get("INVOCATION_ID"))


def choose_format(fmt: Literal["auto", "json", "console"], stream: TextIO,
                  environ: Mapping[str, str] | None = None) -> Literal["json", "console"]:
    if fmt != "auto":
        return fmt
    env = os.environ if environ is None else environ
    if env.get("JOURNAL_STREAM") or not stream.isatty():
        return "json"
    return "console"


QUEUE_LINES = 10_000  # records waiting for the writer thread; past this they are dropped and counted
# The writer thread looks at its queue this often instead of being woken by each line (see _Listener)
WRITER_PERIOD_S = 0.02


class _QueueHandler(logging.handlers.QueueHandler):
    """Queues the record as it is: formatting (redaction, rendering) happens in the listener thread.
    A full queue drops the record and counts it; the listener reports the count."""

    def __init__(self, q: "queue.Queue[logging.LogRecord]") -> None:
        super().__init__(q)
        self.dropped_total = 0
        self._dropped_lock = threading.Lock()  # any thread may log

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record  # the event dict / args stay as they are: nothing mutates a record once emitted

    def enqueue(self, record: logging.LogRecord) -> None:
        try:
            self.queue.put_nowait(record)
        except queue.Full:
            with self._dropped_lock:
                self.dropped_total += 1


# what a get_logger() call queues: logger name, level, method name, wall time, the event dict
_Entry = tuple[str, int, str, float, MutableMapping[str, Any]]
_LEVEL_NAMES = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warning",
                logging.ERROR: "error", logging.CRITICAL: "critical"}


def _entry_record(entry: _Entry) -> logging.LogRecord:
    """The record structlog's ``wrap_for_formatter`` would have made, with the fields its processors
    add on the caller's side (level, logger name, ISO-8601 UTC timestamp)."""
    name, level, method, ts, ev = entry
    ev["level"] = method
    ev["logger"] = name
    ev["timestamp"] = datetime.datetime.fromtimestamp(ts, datetime.UTC).isoformat().replace("+00:00", "Z")
    record = logging.LogRecord(name, level, "", 0, ev, (), None)
    record.created = ts
    record._logger = logging.getLogger(name)  # ProcessorFormatter's keys (wrap_for_formatter's extra)
    record._name = method
    return record


class _Listener(logging.handlers.QueueListener):
    def __init__(self, q: "queue.Queue[logging.LogRecord]", source: _QueueHandler,
                 *handlers: logging.Handler) -> None:
        super().__init__(q, *handlers, respect_handler_level=True)
        self.pending = q
        self.source = source
        self._reported = 0  # dropped lines already reported
        self.wake = threading.Event()  # set by flush_logs and stop: look at the queue now

    def dequeue(self, block: bool) -> Any:
        """The next queued line. When there is none the writer sleeps ``WRITER_PERIOD_S`` and looks
        again, rather than wait on the queue: a line logged on the event loop then never wakes this
        thread at once, in the middle of an order's hot path, where it would take the GIL at the
        loop's next system call (the socket send) and hold the order back while it renders. Lines are
        written in batches, at most ``WRITER_PERIOD_S`` late; :func:`flush_logs` still waits for all."""
        threads.background_thread()  # this listener's thread: never preempts the event loop
        while True:
            try:
                return self.pending.get_nowait()
            except queue.Empty:
                if not block:
                    raise
                self.wake.wait(WRITER_PERIOD_S)
                self.wake.clear()

    def enqueue_sentinel(self) -> None:
        super().enqueue_sentinel()
        self.wake.set()  # stop() is not kept waiting for the period

    def handle(self, record: logging.LogRecord | _Entry) -> None:
        super().handle(_entry_record(record) if isinstance(record, tuple) else record)
        total = self.source.dropped_total
        lost, self._reported = total - self._reported, total
        if lost:
            super().handle(logging.LogRecord(
                "kalshid.logs", logging.WARNING, __file__, 0,
                "%d log lines dropped: the log output could not keep up", (lost,), None))


# Taken on the caller's thread for every line, by either path: context variables, and the stack and the
# exception being handled (both are the caller thread's). Tracebacks become text *before* redaction so
# secrets in exception messages are caught too.
_CONTEXT = structlog.contextvars.merge_contextvars
_STACK_AND_EXCEPTION = (structlog.processors.StackInfoRenderer(), structlog.processors.format_exc_info)

_listener: _Listener | None = None
_sink: Callable[[Any], None] | None = None  # queues a get_logger() entry; None: hand calls to structlog
_chain: list[Any] = []  # the processor list given to structlog (capture_logs swaps its contents in place)
_WRAP = structlog.stdlib.ProcessorFormatter.wrap_for_formatter


def lines_dropped() -> int:
    """Log lines dropped since logging was configured (the queue was full); 0 when not configured."""
    listener = _listener
    return 0 if listener is None else listener.source.dropped_total


def flush_logs() -> None:
    """Until every line logged so far has been written (no-op when logging is not configured)."""
    if _listener is not None:
        _listener.wake.set()
        _listener.pending.join()
        for h in _listener.handlers:
            h.flush()


def shutdown_logging() -> None:
    """Write what is queued, stop the writer thread and detach its handlers (idempotent)."""
    global _listener, _sink
    listener, _listener = _listener, None
    _sink = None
    if listener is None:
        return
    root = logging.getLogger()
    for h in root.handlers[:]:
        if isinstance(h, _QueueHandler):
            root.removeHandler(h)
    listener.stop()
    for h in listener.handlers:
        h.close()


atexit.register(shutdown_logging)


def configure_logging(
    *,
    level: str = "info",
    fmt: Literal["auto", "json", "console"] = "auto",
    file: Literal["auto", "on", "off"] = "off",
    file_dir: str | Path = "logs",
    stream: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> Path | None:
    """Configure structlog and the stdlib root logger; safe to call again (it replaces handlers).

    ``file="auto"`` writes ``<file_dir>/kalshid.log`` (rotated at UTC midnight, 14 days kept) unless
    running under systemd, where the journal already keeps everything. Returns the log file path, if any.
    """
    stream = sys.stdout if stream is None else stream
    # In the caller's thread: what must be taken at the call (context, time, the exception being
    # handled, the stack). Redaction and rendering run in the writer thread (the formatter's chain).
    # BoundLogger's fast path takes the same, adding level, logger and time in the writer thread.
    shared: list[Any] = [
        _CONTEXT,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        *_STACK_AND_EXCEPTION,
    ]
    global _chain
    _chain = [structlog.stdlib.filter_by_level, *shared, _WRAP]
    structlog.configure(
        # filter first: a disabled level costs a level check, not the whole chain
        processors=_chain,
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    json_renderer = structlog.processors.JSONRenderer()

    def formatter(renderer: Any) -> logging.Formatter:
        return structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, redaction_processor,
                        renderer],
        )

    console = choose_format(fmt, stream, environ) == "console"
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter(
        structlog.dev.ConsoleRenderer(colors=True, exception_formatter=structlog.dev.plain_traceback)
        if console else json_renderer
    ))
    handlers: list[logging.Handler] = [handler]
    log_path: Path | None = None
    if file == "on" or (file == "auto" and not under_systemd(environ)):
        log_dir = Path(file_dir)
        log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        log_path = log_dir / "kalshid.log"
        fh = logging.handlers.TimedRotatingFileHandler(log_path, when="midnight", utc=True, backupCount=14)
        os.chmod(log_path, 0o600)
        fh.setFormatter(formatter(json_renderer))
        handlers.append(fh)
    global _listener, _sink
    shutdown_logging()
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
        old.close()
    q: queue.Queue[logging.LogRecord] = queue.Queue(QUEUE_LINES)
    source = _QueueHandler(q)
    _listener = _Listener(q, source, *handlers)
    _listener.start()
    _sink = source.enqueue
    root.addHandler(source)
    root.setLevel(level.upper())
    # httpx logs every request at INFO; hypercorn's access log is noise for a trading daemon.
    for noisy in ("httpx", "httpcore", "hypercorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return log_path


class BoundLogger:
    """What :func:`get_logger` returns: ``log.info("order placed", order_id=...)``, ``log.bind(...)``,
    and ``debug``/``warning``/``error``/``critical``/``exception`` like structlog's bound loggers, at a
    fraction of the cost on the caller's thread (see the module docstring)."""

    __slots__ = ("_context", "_name", "_std")

    def __init__(self, name: str, context: dict[str, Any] | None = None) -> None:
        self._name = name
        self._std = logging.getLogger(name)
        self._context = context or {}

    def bind(self, **fields: Any) -> "BoundLogger":
        return BoundLogger(self._name, {**self._context, **fields})

    def debug(self, event: str, **fields: Any) -> None:
        self._log(logging.DEBUG, event, fields)

    def info(self, event: str, **fields: Any) -> None:
        self._log(logging.INFO, event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._log(logging.WARNING, event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._log(logging.ERROR, event, fields)

    def critical(self, event: str, **fields: Any) -> None:
        self._log(logging.CRITICAL, event, fields)

    def exception(self, event: str, **fields: Any) -> None:
        fields.setdefault("exc_info", True)
        self._log(logging.ERROR, event, fields)

    def _log(self, level: int, event: str, fields: dict[str, Any]) -> None:
        method = _LEVEL_NAMES[level]
        sink = _sink
        chain = structlog.get_config()["processors"]
        if sink is None or chain is not _chain or chain[-1] is not _WRAP:  # not ours, or being captured
            std = structlog.stdlib.get_logger(self._name, **self._context)
            getattr(std, method)(event, **fields)  # structlog's configuration decides, level included
            return
        if not self._std.isEnabledFor(level):  # as structlog.stdlib.filter_by_level
            return
        ev: MutableMapping[str, Any] = {**self._context, **fields} if self._context else fields
        ev["event"] = event
        ev = _CONTEXT(None, method, ev)
        if "exc_info" in ev or "stack_info" in ev:
            for processor in _STACK_AND_EXCEPTION:
                ev = processor(None, method, ev)
        sink((self._name, level, method, time.time(), ev))


def get_logger(name: str | None = None, **initial: Any) -> BoundLogger:
    """A bound logger for ``name`` (``log.info("order placed", order_id=...)``)."""
    return BoundLogger(name or "kalshid", initial)
