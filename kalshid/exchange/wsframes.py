"""The common server-to-client WebSocket frame, read without wsproto (RFC 6455 §5.2).

Why. wsproto parses a frame through a buffer object, a generator and a state machine: most of the
~10 µs a market-data message cost the feed before its JSON was even looked at. Nearly every frame an
exchange sends is the simplest kind: one whole unmasked text (or binary) message, FIN set, no
extension bits, its length minimally encoded. :class:`FrameSplitter` takes those out of the byte
stream itself and hands every other frame (pings, pongs, close, fragments, anything malformed) to
wsproto whole and in order, so wsproto's state never sees a gap: it sees a stream of whole frames
with some messages left out, and a message is never left out while a fragmented one is open.

A partial frame waits in the splitter for the rest of it. A frame declaring more than
``max_message_size`` bytes switches the splitter off for the connection: from that frame on, every
byte goes to wsproto, which reports the oversized message as before.
"""

from __future__ import annotations

_TEXT, _BINARY = 0x81, 0x82  # FIN, no RSV bits, opcode 1 / 2
_FIN = 0x80
_CONTINUATION = 0x0


def _minimal(length: int, code: int) -> bool:
    """Whether ``length`` was encoded as RFC 6455 requires (the shortest form; 63-bit at most)."""
    if code < 126:
        return True
    if code == 126:
        return length >= 126
    return 1 << 16 <= length < 1 << 63


class FrameSplitter:
    """Splits a server's byte stream into messages read here and frames for wsproto (in order)."""

    def __init__(self, max_message_size: int) -> None:
        self._max = max_message_size
        self._buf = b""
        self._fragmented = False  # wsproto holds an unfinished fragmented message
        self.bypassed = False  # every byte goes to wsproto from now on

    def feed(self, data: bytes) -> list[tuple[bool, str | bytes]]:
        """``data`` as ``(for_wsproto, item)`` pairs in stream order: ``(False, message)`` for a message
        read here (``str`` for text), ``(True, raw)`` for bytes to give wsproto (whole frames, or
        anything once bypassed). A trailing partial frame is kept for the next call."""
        if self.bypassed:
            return [(True, data)] if data else []
        buf = self._buf + data if self._buf else data
        n = len(buf)
        out: list[tuple[bool, str | bytes]] = []
        pos = 0
        raw_from = -1  # start of the frames for wsproto not yet put in ``out``
        while pos + 2 <= n:
            b0, b1 = buf[pos], buf[pos + 1]
            code = b1 & 0x7F
            head = 2
            if code == 126:
                if pos + 4 > n:
                    break
                length = int.from_bytes(buf[pos + 2:pos + 4], "big")
                head = 4
            elif code == 127:
                if pos + 10 > n:
                    break
                length = int.from_bytes(buf[pos + 2:pos + 10], "big")
                head = 10
            else:
                length = code
            masked = bool(b1 & 0x80)
            if masked:
                head += 4
            if length > self._max:  # wsproto reports it (and the stream may be garbage from here)
                self.bypassed = True
                out.append((True, buf[pos if raw_from < 0 else raw_from:]))
                self._buf = b""
                return out
            end = pos + head + length
            if end > n:
                break
            message: str | bytes | None = None
            if not self._fragmented and b0 in (_TEXT, _BINARY) and not masked and _minimal(length, code):
                payload = buf[pos + head:end]
                if b0 == _BINARY:
                    message = payload
                else:
                    try:
                        message = payload.decode("utf-8")
                    except UnicodeDecodeError:
                        message = None  # wsproto closes with 1007
            if message is not None:
                if raw_from >= 0:
                    out.append((True, buf[raw_from:pos]))
                    raw_from = -1
                out.append((False, message))
            else:
                if raw_from < 0:
                    raw_from = pos
                opcode = b0 & 0x0F
                if opcode in (1, 2) and not b0 & _FIN:
                    self._fragmented = True
                elif opcode == _CONTINUATION and b0 & _FIN:
                    self._fragmented = False
            pos = end
        if raw_from >= 0:
            out.append((True, buf[raw_from:pos]))
        self._buf = buf[pos:]
        return out
