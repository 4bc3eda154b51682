"""SMS storage: one store per memory name ("SM" SIM, "ME" phone, "SR" status reports), 1-based slots."""

from __future__ import annotations

import threading

from .messages import StoredSms

DEFAULT_CAPACITY = {"SM": 30, "ME": 100, "SR": 30}


class StorageFull(RuntimeError):
    """No free slot in the chosen memory."""


class SmsStorage:
    """Thread-safe: the modem thread serves AT+CMGL/CMGR/CMGD, tests inject from their own thread."""

    def __init__(self, capacity: dict[str, int] | None = None) -> None:
        self._capacity = dict(capacity or DEFAULT_CAPACITY)
        self._slots: dict[str, dict[int, StoredSms]] = {name: {} for name in self._capacity}
        self._lock = threading.Lock()

    @property
    def memories(self) -> tuple[str, ...]:
        return tuple(self._capacity)

    def capacity(self, memory: str) -> int:
        return self._capacity[memory]

    def used(self, memory: str) -> int:
        with self._lock:
            return len(self._slots[memory])

    def store(self, memory: str, sms: StoredSms) -> int:
        """Put `sms` in the lowest free slot; returns its index."""
        with self._lock:
            slots = self._slots[memory]
            for index in range(1, self._capacity[memory] + 1):
                if index not in slots:
                    slots[index] = sms
                    return index
        raise StorageFull(f"{memory} storage is full")

    def get(self, memory: str, index: int) -> StoredSms | None:
        with self._lock:
            return self._slots[memory].get(index)

    def mark_read(self, memory: str, index: int) -> None:
        with self._lock:
            sms = self._slots[memory].get(index)
            if sms is not None and sms.status == 0:
                self._slots[memory][index] = sms._replace(status=1)

    def delete(self, memory: str, index: int) -> None:
        with self._lock:
            self._slots[memory].pop(index, None)

    def delete_where(self, memory: str, statuses: set[int]) -> None:
        with self._lock:
            slots = self._slots[memory]
            for index in [i for i, s in slots.items() if s.status in statuses]:
                del slots[index]

    def items(self, memory: str) -> dict[int, StoredSms]:
        with self._lock:
            return dict(sorted(self._slots[memory].items()))
