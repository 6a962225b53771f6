"""Logging: secrets never reach a line, JSON vs console choice, stdlib loggers share the formatter."""

import io
import json
import logging
import queue
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import structlog

from kalshid import logs

KEY_ID = "7f3c9d2a-5b6e-4c1d-8e9f-0a1b2c3d4e5f"
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx1y2z3\nQWERTYuiop==\n-----END RSA PRIVATE KEY-----"
SIGNATURE = "c2lnbmF0dXJlLWJ5dGVzLWhlcmU9PQ=="
BEARER = "tok_9f8e7d6c5b4a"


class TTYStringIO(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    logs.shutdown_logging()
    for h in root.handlers[:]:
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)
    structlog.reset_defaults()


def test_redact_helper_removes_every_secret_shape() -> None:
    logs.register_secret(KEY_ID, keep_prefix=True)
    text = (f"key {PEM} sent KALSHI-ACCESS-SIGNATURE: {SIGNATURE} with Authorization: Bearer {BEARER} "
            f"for {KEY_ID}; truncated -----BEGIN PRIVATE KEY-----\nMIIEvQ")
    out = logs.redact(text)
    for secret in ("MIIEowIBAAKCAQEAx1y2z3", SIGNATURE, BEARER, KEY_ID, "MIIEvQ"):
        assert secret not in out
    assert "7f3c…" in out and "[REDACTED PEM]" in out


def test_redaction_processor_on_a_whole_line(restore_logging: None, tmp_path: Path) -> None:
    logs.register_secret(KEY_ID, keep_prefix=True)
    stream = io.StringIO()
    logs.configure_logging(fmt="json", file="off", stream=stream)
    log = logs.get_logger("test")
    log.info(f"request failed for {KEY_ID}",
             body=f"pem was {PEM}",
             headers={"KALSHI-ACCESS-KEY": KEY_ID, "KALSHI-ACCESS-SIGNATURE": SIGNATURE,
                      "Authorization": f"Bearer {BEARER}"},
             note=f"Authorization: Bearer {BEARER}",
             passphrase="hunter2-hunter2", api_token="zzz-token-zzz", private_key="raw")
    try:
        raise RuntimeError(f"signing failed: KALSHI-ACCESS-SIGNATURE={SIGNATURE}")
    except RuntimeError:
        log.exception("with traceback")
    logging.getLogger("hypercorn.error").warning("stdlib line %s", f"Bearer {BEARER}")
    logs.flush_logs()  # lines are written by the logging thread
    output = stream.getvalue()
    for secret in (KEY_ID, "MIIEowIBAAKCAQEAx1y2z3", SIGNATURE, BEARER, "hunter2", "zzz-token-zzz", '"raw"'):
        assert secret not in output
    lines = [json.loads(line) for line in output.splitlines()]
    assert [line["event"] for line in lines] == [
        "request failed for 7f3c…", "with traceback", "stdlib line Bearer [REDACTED]"]
    assert lines[0]["passphrase"] == logs.REDACTED
    assert lines[0]["headers"]["KALSHI-ACCESS-KEY"] == "7f3c…"
    assert "RuntimeError" in lines[1]["exception"]
    assert lines[2]["logger"] == "hypercorn.error"


def test_redact_value_handles_nested_and_bytes() -> None:
    value = {"outer": [{"signature": "abc"}, PEM.encode()], "count": 3, "ok": True}
    out = logs.redact_value(value)
    assert out == {"outer": [{"signature": logs.REDACTED}, "[REDACTED PEM]"], "count": 3, "ok": True}


def test_format_choice() -> None:
    tty, pipe = TTYStringIO(), io.StringIO()
    assert logs.choose_format("auto", tty, environ={}) == "console"
    assert logs.choose_format("auto", pipe, environ={}) == "json"
    assert logs.choose_format("auto", tty, environ={"JOURNAL_STREAM": "8:123"}) == "json"
    assert logs.choose_format("console", pipe, environ={}) == "console"


def test_console_format_and_daily_file(restore_logging: None, tmp_path: Path) -> None:
    stream = TTYStringIO()
    path = logs.configure_logging(fmt="auto", file="auto", file_dir=tmp_path / "logs", stream=stream,
                                  environ={})
    logs.get_logger("t").info("hello", market="KXSOL15M-26JUL011215")
    assert path == tmp_path / "logs" / "kalshid.log"
    logs.flush_logs()
    assert "hello" in stream.getvalue() and not stream.getvalue().startswith("{")
    record = json.loads(path.read_text().splitlines()[-1])
    assert record["event"] == "hello" and record["market"] == "KXSOL15M-26JUL011215"
    assert (path.stat().st_mode & 0o777) == 0o600
    assert logs.configure_logging(file="auto", file_dir=tmp_path / "x", stream=io.StringIO(),
                                  environ={"INVOCATION_ID": "abc"}) is None
    assert not (tmp_path / "x").exists()


def test_lines_are_written_by_a_thread_and_a_full_queue_is_counted_not_blocking(
        restore_logging: None, monkeypatch: pytest.MonkeyPatch) -> None:
    class Blocked(io.StringIO):
        """A log output that cannot be written to until released (a stalled journald)."""

        def __init__(self) -> None:
            super().__init__()
            self.release = threading.Event()
            self.writer: str | None = None

        def write(self, text: str) -> int:
            self.writer = threading.current_thread().name
            self.release.wait(10)
            return super().write(text)

    monkeypatch.setattr(logs, "QUEUE_LINES", 3)
    stream = Blocked()
    logs.configure_logging(fmt="json", file="off", stream=stream)
    log = logs.get_logger("t")
    for n in range(20):  # the first blocks the writer; 3 wait in the queue; the rest are dropped
        log.info("line", n=n)
    assert stream.getvalue() == ""  # the caller never waited for the output
    stream.release.set()
    logs.flush_logs()
    log.info("after")
    logs.flush_logs()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert stream.writer != threading.current_thread().name
    kept = [line["n"] for line in lines if line["event"] == "line"]
    assert kept == sorted(kept) and 0 < len(kept) < 20
    [report] = [line for line in lines if "dropped" in line["event"]]
    assert report["event"] == f"{20 - len(kept)} log lines dropped: the log output could not keep up"
    assert report["level"] == "warning"
    assert logs.lines_dropped() == 20 - len(kept)  # cumulative, for the metric
    assert lines[-1]["event"] == "after"


def test_a_get_logger_line_is_shaped_like_structlogs_and_keeps_call_order(restore_logging: None) -> None:
    stream = io.StringIO()
    logs.configure_logging(level="info", fmt="json", file="off", stream=stream)
    fast = logs.get_logger("kalshid.t").bind(market="KXSOL15M-26JUL011215")
    fast.info("fast", count=3)
    structlog.get_logger("kalshid.t").info("whole chain", market="KXSOL15M-26JUL011215", count=3)
    logging.getLogger("kalshid.t").warning("stdlib %d", 7)
    fast.debug("below the level")  # filtered on the caller's side
    with structlog.contextvars.bound_contextvars(request_id="r-1"):  # taken on the caller's side too
        fast.warning("bound fields", market="override")
    logs.flush_logs()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [x["event"] for x in lines] == ["fast", "whole chain", "stdlib 7", "bound fields"]
    assert lines[0].keys() == lines[1].keys() == {"event", "level", "logger", "timestamp", "market", "count"}
    assert lines[0]["level"] == "info" and lines[0]["logger"] == "kalshid.t"
    stamps = [datetime.fromisoformat(x["timestamp"].removesuffix("Z") + "+00:00") for x in lines[:2]]
    assert all(x["timestamp"].endswith("Z") for x in lines) and stamps[0] <= stamps[1]
    assert lines[3]["level"] == "warning" and lines[3]["market"] == "override" and lines[3]["request_id"] == "r-1"
    # while capture_logs captures, calls go through structlog (the configured chain is swapped out)
    with structlog.testing.capture_logs() as captured:
        fast.info("captured", n=1)
    assert captured == [{"event": "captured", "n": 1, "market": "KXSOL15M-26JUL011215", "log_level": "info"}]


def test_a_line_does_not_wake_the_writer_but_flush_and_stop_do(
        restore_logging: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer thread looks at its queue every WRITER_PERIOD_S instead of blocking on it, so a line
    logged on the event loop does not wake it mid-order; flush_logs and shutdown wake it at once."""
    blocking_gets: list[str] = []
    real_get = queue.Queue.get

    def get(self: queue.Queue[Any], block: bool = True, timeout: float | None = None) -> Any:
        if block:
            blocking_gets.append(threading.current_thread().name)
        return real_get(self, block, timeout)

    monkeypatch.setattr(queue.Queue, "get", get)
    monkeypatch.setattr(logs, "WRITER_PERIOD_S", 30.0)  # only a flush or a stop could get it written soon
    stream = io.StringIO()
    logs.configure_logging(fmt="json", file="off", stream=stream)
    log = logs.get_logger("t")
    log.info("one")
    start = time.monotonic()
    logs.flush_logs()
    assert time.monotonic() - start < 10  # woken by the flush, not by its 30 s period
    assert [json.loads(line)["event"] for line in stream.getvalue().splitlines()] == ["one"]
    log.info("two")
    start = time.monotonic()
    logs.shutdown_logging()  # the line queued before the stop is written first
    assert time.monotonic() - start < 10
    assert [json.loads(line)["event"] for line in stream.getvalue().splitlines()] == ["one", "two"]
    assert blocking_gets == []  # the writer never waited on the queue itself
