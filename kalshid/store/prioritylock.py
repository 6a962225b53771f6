"""The journal's lock: fair, with urgent waiters (an order's intent) served before ordinary ones."""

from __future__ import annotations

import trio


class PriorityLock:
    """A fair lock with two queues: an urgent waiter is served before every ordinary one (the holder
    still finishes first). Ownership passes straight to the next waiter on release, so a task woken
    holds the lock; a waiter cancelled in the queue never gets it."""

    def __init__(self) -> None:
        self._held = False
        self._urgent = trio.lowlevel.ParkingLot()
        self._normal = trio.lowlevel.ParkingLot()

    async def acquire(self, *, urgent: bool = False) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._held or self._urgent or self._normal:
            await (self._urgent if urgent else self._normal).park()  # woken as the owner
        else:
            self._held = True
            await trio.lowlevel.cancel_shielded_checkpoint()

    def release(self) -> None:
        if not self._held:
            raise RuntimeError("PriorityLock released while not held")
        if self._urgent:
            self._urgent.unpark()
        elif self._normal:
            self._normal.unpark()
        else:
            self._held = False

    @property
    def locked(self) -> bool:
        return self._held

    @property
    def waiting(self) -> int:
        return len(self._urgent) + len(self._normal)
