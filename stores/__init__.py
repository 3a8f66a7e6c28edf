"""Where the server keeps what must outlive a request, chosen by URL.

Two kinds of state, each behind one small interface:

- `LogStore`: served conversations and the feedback on them, which `compile --from-logs` mines.
  `sqlite:///path/logs.db` or a plain path (the embedded default: nothing to start) or
  `postgresql://user@host:port/db` (shared by every replica).
- `RequestMemory`: the requests the Mediator wrote, so incremental mediation can continue a conversation whose
  next turn lands on another replica. `memory://` (this process only, bounded LRU) or
  `redis://host:port/db` (shared, every entry with a TTL, bounded in count and size).
"""

from intent_mediator.stores.base import LogStore, RequestMemory, StoreError, conversation_key
from intent_mediator.stores.urls import open_log_store, open_request_memory

__all__ = [
    "LogStore",
    "RequestMemory",
    "StoreError",
    "conversation_key",
    "open_log_store",
    "open_request_memory",
]
