"""Failed-attempt buckets, atomic on the StateStore.

A generic cell rate algorithm: one number per key, the "theoretical arrival time" (TAT). Each
attempt pushes it one refill interval later; the bucket is empty when the TAT is more than
(capacity - 1) intervals ahead of now. An attempt is reserved before anything is done with what
its code was worth (the MFA grants compare the code first, in constant time, then reserve the
attempt and act in one transaction) and given back when the code was good, so successes cost
nothing while a concurrent burst of guesses still gets at most `capacity` of them answered.

How it is reserved depends on where the bucket lives (`Attempts.hold`). On a store outside the
grant's transaction (Redis) it is taken at once (`gcra_take`, one atomic operation, exact across
requests and nodes without locks) and refunded on success (`gcra_refund`). On a store whose writes
join the grant's unit of work (SQL) the bucket's entry is locked and read instead
(`gcra_hold`), and the attempt is written only when the unit commits without it being given back:
a success writes nothing, and the lock keeps a concurrent guess waiting until then.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from twofold.core.clock import Clock
from twofold.core.errors import AddressThrottled, TooManyAttempts
from twofold.core.ports import StateStore


@dataclass(frozen=True, slots=True)
class Bucket:
    capacity: int
    refill_seconds: float

    @property
    def tolerance(self) -> float:
        return (self.capacity - 1) * self.refill_seconds


class Attempts:
    def __init__(self, state: StateStore, clock: Clock, bucket: Bucket, prefix: str) -> None:
        self._state = state
        self._clock = clock
        self._bucket = bucket
        self._prefix = prefix

    def _key(self, subject: str) -> str:
        return f"{self._prefix}:{subject}"

    async def remaining(self, subject: str) -> tuple[int, float]:
        """(attempts left, seconds until the next one is refilled)."""
        now = self._clock.now()
        raw = await self._state.get(self._key(subject))
        tat = max(float(raw), now) if raw else now
        ahead = tat - now
        left = self._bucket.capacity - math.ceil(ahead / self._bucket.refill_seconds - 1e-9)
        next_refill = ahead % self._bucket.refill_seconds if ahead > 0 else 0.0
        return max(0, left), next_refill

    def _exhausted(self) -> TooManyAttempts:
        now = self._clock.now()
        retry = max(1, math.ceil(self._bucket.refill_seconds))
        return TooManyAttempts(
            headers={
                "Retry-After": str(retry),
                "X-RateLimit-Limit": str(self._bucket.capacity),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(math.ceil(now + retry)),
            }
        )

    async def take(self, subject: str) -> None:
        """Reserve one attempt before a code is looked at, or raise 429.

        Taking first is what makes the limit hold under concurrency: a burst of guesses can
        have at most `capacity` of them checked, however many arrive at once. A caller whose
        code turns out good gives the attempt back with `refund`.
        """
        bucket = self._bucket
        refused = await self._state.gcra_take(
            self._key(subject), bucket.refill_seconds, bucket.tolerance
        )
        if refused is not None:
            raise self._exhausted()

    async def refund(self, subject: str) -> None:
        """Give back an attempt taken for a code that was good (or a replay of one)."""
        await self._state.gcra_refund(self._key(subject), self._bucket.refill_seconds)

    async def refund_consuming(self, subject: str, key: str) -> str | None:
        """`refund(subject)` and `consume(key)` from the same store, in one operation."""
        return await self._state.consume_refunding(
            key, self._key(subject), self._bucket.refill_seconds
        )

    @property
    def state(self) -> StateStore:
        return self._state

    async def hold(self, subject: str) -> Hold:
        """Reserve one attempt before a code is acted on, or raise 429 with nothing written.

        On a transactional store, call it inside the unit of work the outcome commits in, and
        `settle` the hold at the end of that unit; on any other store, before the unit opens
        (which must not wait on the store's round trip), and `abandon` it if the unit fails.
        """
        if not self._state.transactional:
            await self.take(subject)
            return _Taken(self, subject)
        bucket = self._bucket
        stored = await self._state.gcra_hold(self._key(subject))
        now = self._clock.now()
        tat = max(stored, now) if stored is not None else now
        if tat - now > bucket.tolerance:
            raise self._exhausted()
        return _Locked(self._state, self._clock, self._key(subject), tat + bucket.refill_seconds)


class Hold(Protocol):
    """One reserved attempt: it counts as a failed one unless given back, so a path that forgets
    to decide counts a guess rather than forgiving one."""

    async def give_back(self) -> None:
        """The code was good, or a replay of a good one: not a guess, it costs nothing."""
        ...

    async def give_back_consuming(self, key: str) -> str | None:
        """`give_back`, and `consume(key)` from the state store, together: one round trip
        where the bucket lives in a remote store. The attempt goes back whatever `consume`
        finds (a race lost for `key` is no guess either)."""
        ...

    async def settle(self) -> None:
        """The unit of work is about to commit: write what the attempt cost, if anything."""
        ...

    async def abandon(self) -> None:
        """The unit of work failed (a race lost, an outage): not a guess, undo what it cost."""
        ...


class _Taken:
    """Taken from a bucket outside the unit of work: only a refund undoes it."""

    __slots__ = ("_attempts", "_given_back", "_subject")

    def __init__(self, attempts: Attempts, subject: str) -> None:
        self._attempts = attempts
        self._subject = subject
        self._given_back = False

    async def give_back(self) -> None:
        if not self._given_back:
            self._given_back = True
            await self._attempts.refund(self._subject)

    async def give_back_consuming(self, key: str) -> str | None:
        if self._given_back:
            return await self._attempts.state.consume(key)
        # Marked only once the store answered: if it did not (an outage), `abandon` gives the
        # attempt back again, as it did when the spend and the refund were two commands.
        value = await self._attempts.refund_consuming(self._subject, key)
        self._given_back = True
        return value

    async def settle(self) -> None:
        return None

    async def abandon(self) -> None:
        await self.give_back()


class _Locked:
    """The bucket's entry locked in the unit of work, its attempt not written yet: written at
    `settle` unless given back; a failed unit rolls back nothing, as nothing was written."""

    __slots__ = ("_clock", "_given_back", "_key", "_state", "_taken")

    def __init__(self, state: StateStore, clock: Clock, key: str, taken: float) -> None:
        self._state = state
        self._clock = clock
        self._key = key
        # The TAT the attempt leaves, computed when it was reserved, as `gcra_take` would have.
        self._taken = taken
        self._given_back = False

    async def give_back(self) -> None:
        self._given_back = True

    async def give_back_consuming(self, key: str) -> str | None:
        self._given_back = True
        return await self._state.consume(key)

    async def settle(self) -> None:
        if not self._given_back:
            # What `gcra_take` stores: the new TAT, living until one second past itself.
            ttl = self._taken + 1 - self._clock.now()
            await self._state.put(self._key, repr(self._taken), ttl)

    async def abandon(self) -> None:
        return None


class _Nothing:
    """For a proof that is no guess (a push approval): no bucket, nothing to give back."""

    __slots__ = ("_state",)

    def __init__(self, state: StateStore) -> None:
        self._state = state

    async def give_back(self) -> None:
        return None

    async def give_back_consuming(self, key: str) -> str | None:
        return await self._state.consume(key)

    async def settle(self) -> None:
        return None

    async def abandon(self) -> None:
        return None


def nothing_held(state: StateStore) -> Hold:
    """The hold of a proof that is no guess, on `state` (where `give_back_consuming` consumes)."""
    return _Nothing(state)


def mfa_attempts(state: StateStore, clock: Clock, capacity: int, refill: float) -> Attempts:
    return Attempts(state, clock, Bucket(capacity, refill), "attempts:mfa")


# Password attempts, after Auth0's attack protection: brute-force protection counts failures per
# user and source address and blocks that pair (20, then 10 a minute: Auth0's "same-user login
# attempts"); suspicious IP throttling counts one address's failures across all users (Auth0's
# default: 100, then 100 a day). A third bucket per user, across all addresses, only stops a
# spread-out guessing campaign: its threshold takes dozens of addresses to reach, so no single
# attacker can lock a user out of password logins, and a user's right password from an address
# that is not blocked keeps working below it. All three refill; failures only (a good password
# gives its attempts back).
PASSWORD_PER_IP_USER = Bucket(capacity=20, refill_seconds=6.0)
PASSWORD_PER_ADDRESS = Bucket(capacity=100, refill_seconds=864.0)
PASSWORD_PER_USER = Bucket(capacity=500, refill_seconds=60.0)


class PasswordAttempts:
    """The three password buckets, taken together before the password is checked."""

    def __init__(
        self,
        state: StateStore,
        clock: Clock,
        *,
        per_address: Bucket = PASSWORD_PER_ADDRESS,
        per_user: Bucket = PASSWORD_PER_USER,
    ) -> None:
        self.per_ip = Attempts(state, clock, PASSWORD_PER_IP_USER, "attempts:pw-ip")
        self.per_address = Attempts(state, clock, per_address, "attempts:pw-addr")
        self.per_user = Attempts(state, clock, per_user, "attempts:pw-user")

    @staticmethod
    def _ip_subject(subject: str, ip: str | None) -> str:
        return f"{subject}:{ip or '-'}"

    async def take(self, subject: str, ip: str | None) -> None:
        """Reserve one attempt in each bucket, or raise 429 having taken none.

        `AddressThrottled` when the address's own bucket is empty. Without an address (no peer
        address at all) there is no per-address bucket to take from.
        """
        await self.per_ip.take(self._ip_subject(subject, ip))
        try:
            if ip is not None:
                try:
                    await self.per_address.take(ip)
                except TooManyAttempts as exc:
                    raise AddressThrottled(headers=exc.headers) from None
            try:
                await self.per_user.take(subject)
            except TooManyAttempts:
                if ip is not None:
                    await self.per_address.refund(ip)
                raise
        except TooManyAttempts:
            await self.per_ip.refund(self._ip_subject(subject, ip))
            raise

    async def refund(self, subject: str, ip: str | None) -> None:
        await self.per_ip.refund(self._ip_subject(subject, ip))
        if ip is not None:
            await self.per_address.refund(ip)
        await self.per_user.refund(subject)
