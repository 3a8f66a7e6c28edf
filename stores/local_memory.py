"""The in-process request memory: a bounded LRU, for one server process."""

from __future__ import annotations

import threading
from collections import OrderedDict

from intent_mediator.stores.base import RequestMemory


class LocalRequestMemory(RequestMemory):
    """Requests kept in this process; least recently used entries go first.

    Args:
        capacity: Conversations remembered.
    """

    url = "memory://"

    def __init__(self, capacity: int = 10_000):
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._lock = threading.Lock()
        self._requests: OrderedDict[str, str] = OrderedDict()

    def get(self, key: str) -> str | None:
        with self._lock:
            if key in self._requests:
                self._requests.move_to_end(key)
            return self._requests.get(key)

    def put(self, key: str, request: str) -> None:
        with self._lock:
            self._requests[key] = request
            self._requests.move_to_end(key)
            while len(self._requests) > self.capacity:
                self._requests.popitem(last=False)

    def __len__(self) -> int:
        return len(self._requests)
