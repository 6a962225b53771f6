"""The recorder process: :class:`~kalshid.research.recorder.Recorder` fed from its stdin.

Started by :class:`~kalshid.research.recorder_link.RecorderLink` as
``python -m kalshid.research.recorder_main DIR [--flush-seconds S] [--retention-days D] [--queue-size N]``.
Its stdin carries frames: a 4-byte big-endian length, then a pickled list of ``(event, recv_epoch)``
pairs (the daemon's own objects, from the daemon's own pipe). Each event is handed to the recorder with
its receive time; the recorder encodes and writes the Parquet files as ``kalshid record`` does.

It stops on end of input: the daemon closed the pipe, or died (it holds the only write end), so the
process dies with the daemon after writing everything it received. SIGINT and SIGTERM are ignored
(a terminal's Ctrl-C or a service manager's stop reaches the whole process group): the daemon's own
shutdown closes the pipe once it has sent the last batch. A damaged frame ends it with status 3 and a
message on stderr; the daemon sees the exit, says so and starts another.
"""

from __future__ import annotations

import argparse
import pickle
import signal
import struct
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from kalshid.research.recorder import Recorder

HEADER = struct.Struct(">I")
MAX_FRAME = 256 * 1024 * 1024


class FrameError(ValueError):
    """The input is not a sequence of length-prefixed pickled batches."""


def read_exact(stream: BinaryIO, n: int) -> bytes | None:
    """``n`` bytes, or ``None`` at a clean end of input before the first byte."""
    chunks: list[bytes] = []
    got = 0
    while got < n:
        chunk = stream.read(n - got)
        if not chunk:
            if got == 0:
                return None
            raise FrameError(f"input ended inside a frame ({got} of {n} bytes)")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_batches(stream: BinaryIO) -> list[tuple[object, float]] | None:
    """The next batch, or ``None`` at the end of input."""
    header = read_exact(stream, HEADER.size)
    if header is None:
        return None
    (size,) = HEADER.unpack(header)
    if size > MAX_FRAME:
        raise FrameError(f"frame of {size} bytes exceeds {MAX_FRAME}")
    body = read_exact(stream, size)
    if body is None:
        raise FrameError("input ended after a frame header")
    batch = pickle.loads(body)
    if not isinstance(batch, list):
        raise FrameError(f"a frame holds {type(batch).__name__}, not a list of (event, time) pairs")
    return batch


def serve(stream: BinaryIO, recorder: Recorder) -> int:
    """Feed ``recorder`` from ``stream`` until its end; returns the number of events received."""
    n = 0
    while (batch := read_batches(stream)) is not None:
        for event, recv in batch:
            recorder.put(event, datetime.fromtimestamp(recv, UTC))
            n += 1
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m kalshid.research.recorder_main", description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", type=Path)
    ap.add_argument("--flush-seconds", type=float, default=2.0)
    ap.add_argument("--retention-days", type=float, default=14.0)
    ap.add_argument("--queue-size", type=int, default=65_536)
    args = ap.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    recorder = Recorder(args.dir, flush_seconds=args.flush_seconds, retention_days=args.retention_days,
                        queue_size=args.queue_size).start()
    try:
        serve(sys.stdin.buffer, recorder)
    except (ValueError, TypeError, pickle.UnpicklingError, EOFError, struct.error) as exc:
        print(f"kalshid recorder: bad input from the daemon: {exc}", file=sys.stderr)
        return 3
    finally:
        recorder.close(timeout=60.0)
    return 0 if recorder.error is None else 1


if __name__ == "__main__":
    sys.exit(main())
