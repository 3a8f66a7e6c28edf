"""The shared request memory: Redis, so any replica can continue a conversation another one mediated."""

from __future__ import annotations

import logging
import time

from intent_mediator.stores.base import RequestMemory, StoreError, redacted_url

logger = logging.getLogger(__name__)

# Store one request, index it by time, and evict the oldest beyond the capacity: atomically, in one round trip.
_PUT = """
redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[2]))
redis.call('ZADD', KEYS[2], tonumber(ARGV[3]), KEYS[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', tonumber(ARGV[3]) - tonumber(ARGV[2]))
local extra = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[4])
if extra > 0 then
  local old = redis.call('ZPOPMIN', KEYS[2], extra)
  for i = 1, #old, 2 do redis.call('DEL', old[i]) end
end
return extra
"""


class RedisRequestMemory(RequestMemory):
    """Requests in Redis, each with a TTL, at most `capacity` of them, none over `max_request_bytes`.

    A Redis error never fails a user's request: a lookup that fails is a miss (the Mediator then reads the full
    transcript) and a store that fails is skipped; both are logged, and `errors` counts them.

    Args:
        url: `redis://[:password@]host:port/db` (or `rediss://`).
        ttl: Seconds a request is remembered after it was last written or read.
        capacity: Most requests kept; the least recently used go first.
        max_request_bytes: Larger requests are not remembered.
        prefix: Key prefix, so several deployments can share one Redis.
        timeout: Socket timeout in seconds.
    """

    def __init__(
        self,
        url: str,
        *,
        ttl: int = 24 * 3600,
        capacity: int = 100_000,
        max_request_bytes: int = 64_000,
        prefix: str = "intent-mediator",
        timeout: float = 2.0,
    ):
        import redis

        if ttl < 1 or capacity < 1 or max_request_bytes < 1:
            raise ValueError("ttl, capacity and max_request_bytes must be positive")
        self.url, self.ttl, self.capacity, self.max_request_bytes = url, ttl, capacity, max_request_bytes
        self.prefix = prefix
        self.errors = 0
        self._redis_error = redis.RedisError
        self._client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self._put = self._client.register_script(_PUT)
        self.ping()

    def _key(self, key: str) -> str:
        return f"{self.prefix}:request:{key}"

    @property
    def _index(self) -> str:
        return f"{self.prefix}:requests-by-time"

    def get(self, key: str) -> str | None:
        try:
            with self._client.pipeline() as pipe:
                pipe.get(self._key(key))
                pipe.expire(self._key(key), self.ttl, xx=False)
                pipe.zadd(self._index, {self._key(key): time.time()}, xx=True)
                value, _, _ = pipe.execute()
        except self._redis_error as exc:
            self.errors += 1
            logger.warning("request memory: lookup failed (%s); mediating from the full transcript", type(exc).__name__)
            return None
        return value.decode() if value is not None else None

    def put(self, key: str, request: str) -> None:
        data = request.encode()
        if len(data) > self.max_request_bytes:
            logger.info(
                "request memory: a %d-byte request is over the %d-byte bound; not kept",
                len(data),
                self.max_request_bytes,
            )
            return
        try:
            self._put(keys=[self._key(key), self._index], args=[data, self.ttl, time.time(), self.capacity])
        except self._redis_error as exc:
            self.errors += 1
            logger.warning("request memory: store failed (%s)", type(exc).__name__)

    def __len__(self) -> int:
        return int(self._client.zcard(self._index))

    def ping(self) -> None:
        try:
            self._client.ping()
        except self._redis_error as exc:
            raise StoreError(f"request memory {redacted_url(self.url)}: {type(exc).__name__}") from None

    def close(self) -> None:
        self._client.close()
