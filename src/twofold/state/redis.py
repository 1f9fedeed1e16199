"""StateStore on Redis: short-lived state shared by every node of a scale-out deployment.

Semantics are the SQL store's exactly (the contract suite runs both): time is the core's Clock,
not Redis's, so an entry expires when `clock.now() >= expires_at`, frozen clocks work in tests and
every node judges expiry the same way as on SQL. Each key holds `"<expires_at>|<value>"`; the
Redis TTL set next to it is only garbage collection (the clock's remaining lifetime plus a grace
second), so an expired entry never lingers in memory and no sweeper is needed.

Every operation is one Redis command or one Lua script, and Redis runs each of those atomically:

- get and gcra_hold: GET; put: SET … PX; delete: DEL
- consume: GETDEL, so exactly one of many concurrent callers gets the value
- add (and cas from None): a script doing the SET only when there is no live entry; a plain
  SET NX would refuse a key whose clock expiry has passed but whose grace second has not
- cas, incr: scripts; incr keeps the expiry of the window's first hit (KEEPTTL)
- gcra_take, gcra_refund: scripts doing the bucket arithmetic where the entry lives
- consume_refunding: one script doing GETDEL and a refund, so a grant's end is one round trip

Keys are the core's keys behind a configurable prefix, so several deployments (or test runs) can
share one Redis.

When Redis cannot be reached or does not answer within the timeout, every operation raises the
core's `BackendUnavailable` (503 with Retry-After) instead of the client library's error. The pool
opens fresh connections for the next commands, so the store works again as soon as Redis is back.
"""

from __future__ import annotations

import asyncio
import functools
import math
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from twofold.core.clock import Clock
from twofold.core.errors import BackendUnavailable

# Garbage collection lags the clock by this much; reads never see an entry past its expiry.
GRACE_MS = 1_000
_SEP = "|"

# KEYS[1] key; ARGV[1] now. Returns the live value or false. (Shared by the scripts below.)
_LIVE = """
local function live(raw, now)
  if not raw then return nil end
  local sep = string.find(raw, '|', 1, true)
  if not sep then return nil end
  local expires_at = tonumber(string.sub(raw, 1, sep - 1))
  if not expires_at or expires_at <= now then return nil end
  return string.sub(raw, sep + 1)
end
"""

# ARGV: now, encoded entry, px. 1 when written.
_ADD = (
    _LIVE
    + """
if live(redis.call('GET', KEYS[1]), tonumber(ARGV[1])) then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""
)

# ARGV: now, expected value, encoded entry, px. 1 when written.
_CAS = (
    _LIVE
    + """
if live(redis.call('GET', KEYS[1]), tonumber(ARGV[1])) ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
return 1
"""
)

# ARGV: now, expires_at of a new window, px of a new window. The new count.
_INCR = (
    _LIVE
    + """
local raw = redis.call('GET', KEYS[1])
local current = live(raw, tonumber(ARGV[1]))
if current then
  local count = tonumber(current) + 1
  local sep = string.find(raw, '|', 1, true)
  redis.call('SET', KEYS[1], string.sub(raw, 1, sep) .. string.format('%d', count), 'KEEPTTL')
  return count
end
redis.call('SET', KEYS[1], ARGV[2] .. '|1', 'PX', ARGV[3])
return 1
"""
)


# ARGV: now, interval, tolerance, grace ms. false when taken, else the TAT that refused it.
_GCRA_TAKE = (
    _LIVE
    + """
local now = tonumber(ARGV[1])
local tat = tonumber(live(redis.call('GET', KEYS[1]), now) or '') or now
if tat < now then tat = now end
if tat - now > tonumber(ARGV[3]) then return tostring(tat) end
local new = tat + tonumber(ARGV[2])
local px = math.ceil((new + 1 - now) * 1000) + tonumber(ARGV[4])
redis.call('SET', KEYS[1], string.format('%.17g|%.17g', new + 1, new), 'PX', px)
return false
"""
)

# Gives one cell back to the bucket at `key`: a live entry moves `interval` earlier, never
# before `now`; an absent one stays absent. (Shared by the scripts below.)
_REFUND = (
    _LIVE
    + """
local function refund(key, now, interval, grace)
  local current = live(redis.call('GET', key), now)
  if not current then return 0 end
  local new = (tonumber(current) or now) - interval
  if new < now then new = now end
  local px = math.ceil((new + 1 - now) * 1000) + grace
  redis.call('SET', key, string.format('%.17g|%.17g', new + 1, new), 'PX', px)
  return 1
end
"""
)

# ARGV: now, interval, grace ms.
_GCRA_REFUND = (
    _REFUND
    + """
return refund(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))
"""
)

# KEYS: the entry to consume, the bucket; ARGV as _GCRA_REFUND's. The consumed entry as GETDEL
# returns it, undecoded.
_CONSUME_REFUNDING = (
    _REFUND
    + """
local raw = redis.call('GETDEL', KEYS[1])
refund(KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))
return raw
"""
)


_P = ParamSpec("_P")
_T = TypeVar("_T")


def _guarded(
    method: Callable[Concatenate[RedisStateStore, _P], Coroutine[Any, Any, _T]],
) -> Callable[Concatenate[RedisStateStore, _P], Coroutine[Any, Any, _T]]:
    """One command in flight per pooled connection, waiting for a free one when all are busy;
    Redis unreachable, or no answer or free connection in time: BackendUnavailable, never the
    library's error."""

    @functools.wraps(method)
    async def guarded(store: RedisStateStore, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        slots = store._slots
        try:
            if slots is None:
                return await method(store, *args, **kwargs)
            if slots.locked():
                async with asyncio.timeout(store._wait_timeout):
                    await slots.acquire()
            else:
                await slots.acquire()  # a free slot: taken without waiting
            try:
                return await method(store, *args, **kwargs)
            finally:
                slots.release()
        except (RedisConnectionError, RedisTimeoutError, TimeoutError) as exc:
            raise BackendUnavailable("redis", debug=type(exc).__name__) from exc

    return guarded


def _px(ttl: float) -> int:
    """Redis TTL in milliseconds for an entry that lives `ttl` seconds by the clock."""
    return max(1, math.ceil(ttl * 1000)) + GRACE_MS


class RedisStateStore:
    transactional = False

    def __init__(
        self,
        client: aioredis.Redis,
        clock: Clock,
        *,
        prefix: str = "twofold:",
        max_in_flight: int | None = None,
        wait_timeout: float | None = None,
    ) -> None:
        """`max_in_flight`: at most this many commands at once (the client's pool size), the
        next waiting up to `wait_timeout` seconds for one to finish; None: the client's pool
        decides."""
        self._redis = client
        self._clock = clock
        self._prefix = prefix
        self._slots = None if max_in_flight is None else asyncio.Semaphore(max_in_flight)
        self._wait_timeout = wait_timeout
        self._add = client.register_script(_ADD)
        self._cas = client.register_script(_CAS)
        self._incr = client.register_script(_INCR)
        self._gcra_take = client.register_script(_GCRA_TAKE)
        self._gcra_refund = client.register_script(_GCRA_REFUND)
        self._consume_refunding = client.register_script(_CONSUME_REFUNDING)

    @classmethod
    def from_url(
        cls,
        url: str,
        clock: Clock,
        *,
        prefix: str = "twofold:",
        timeout: float = 5.0,
        max_connections: int = 50,
    ) -> RedisStateStore:
        """A store on its own connection pool; `close()` releases it.

        With `max_connections` commands in flight, the next one waits up to `timeout` seconds
        for one to finish instead of failing at once. The store counts them itself rather than
        using redis-py's BlockingConnectionPool, which waits under a timeout on every command,
        a free connection or not: a sixth of a command's CPU.
        """
        pool = aioredis.ConnectionPool.from_url(
            url,
            decode_responses=True,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            max_connections=max_connections,
            health_check_interval=30,
        )
        return cls(
            aioredis.Redis.from_pool(pool),
            clock,
            prefix=prefix,
            max_in_flight=max_connections,
            wait_timeout=timeout,
        )

    def _key(self, key: str) -> bytes:
        # Redis keys are bytes; "surrogatepass" keeps even a lone surrogate a distinct key.
        return (self._prefix + key).encode("utf-8", "surrogatepass")

    def _decode(self, raw: Any) -> str | None:
        if raw is None:
            return None
        expires_at, sep, value = str(raw).partition(_SEP)
        try:
            live = bool(sep) and float(expires_at) > self._clock.now()
        except ValueError:  # not ours (or damaged): absent, like an expired entry
            return None
        return value if live else None

    @_guarded
    async def get(self, key: str) -> str | None:
        return self._decode(await self._redis.get(self._key(key)))

    @_guarded
    async def put(self, key: str, value: str, ttl: float) -> None:
        expires_at = self._clock.now() + ttl
        await self._redis.set(self._key(key), f"{expires_at!r}{_SEP}{value}", px=_px(ttl))

    @_guarded
    async def add(self, key: str, value: str, ttl: float) -> bool:
        now = self._clock.now()
        entry = f"{now + ttl!r}{_SEP}{value}"
        return bool(await self._add(keys=[self._key(key)], args=[repr(now), entry, _px(ttl)]))

    @_guarded
    async def consume(self, key: str) -> str | None:
        # GETDEL removes an expired entry too, which is what its grace second would do anyway.
        return self._decode(await self._redis.getdel(self._key(key)))

    @_guarded
    async def cas(self, key: str, expected: str | None, value: str, ttl: float) -> bool:
        if expected is None:
            return await self.add(key, value, ttl)
        now = self._clock.now()
        entry = f"{now + ttl!r}{_SEP}{value}"
        args: list[str | int] = [repr(now), expected, entry, _px(ttl)]
        return bool(await self._cas(keys=[self._key(key)], args=args))

    @_guarded
    async def incr(self, key: str, ttl: float) -> int:
        now = self._clock.now()
        args: list[str | int] = [repr(now), repr(now + ttl), _px(ttl)]
        return int(await self._incr(keys=[self._key(key)], args=args))

    @_guarded
    async def gcra_take(self, key: str, interval: float, tolerance: float) -> float | None:
        args: list[str | int] = [repr(self._clock.now()), repr(interval), repr(tolerance), GRACE_MS]
        refused = await self._gcra_take(keys=[self._key(key)], args=args)
        return None if refused is None else float(refused)

    @_guarded
    async def gcra_refund(self, key: str, interval: float) -> None:
        args: list[str | int] = [repr(self._clock.now()), repr(interval), GRACE_MS]
        await self._gcra_refund(keys=[self._key(key)], args=args)

    @_guarded
    async def consume_refunding(self, key: str, bucket: str, interval: float) -> str | None:
        args: list[str | int] = [repr(self._clock.now()), repr(interval), GRACE_MS]
        raw = await self._consume_refunding(keys=[self._key(key), self._key(bucket)], args=args)
        return self._decode(raw)

    @_guarded
    async def gcra_hold(self, key: str) -> float | None:
        # Not transactional: there is no unit to lock for, and the grants take and refund here.
        value = self._decode(await self._redis.get(self._key(key)))
        return None if value is None else float(value)

    @_guarded
    async def delete(self, key: str) -> None:
        await self._redis.delete(self._key(key))

    @_guarded
    async def ping(self) -> bool:
        """Whether Redis answers; for readiness checks."""
        return bool(await self._redis.ping())

    async def close(self) -> None:
        await self._redis.aclose()
