"""What the core counts for the operator's monitoring: the Metrics port and its default.

The port lives here rather than in `ports` (which re-exports it) so that module stays about
storage, state and delivery.
"""

from __future__ import annotations

from typing import Protocol


class Metrics(Protocol):
    """What the core counts for the operator's monitoring (Prometheus in production).

    Every label value comes from a small fixed set the core chooses (a factor, a channel, an
    algorithm, an OAuth error code), never from a request: no id, token, address or raw
    parameter may become a label. Calls must be cheap and must never raise.
    """

    def grant(self, grant_type: str, outcome: str) -> None:
        """A /oauth/token exchange ended: `outcome` is "success" or the OAuth error code."""
        ...

    def mfa_failure(self, factor: str) -> None:
        """A wrong second-factor code (otp, sms, voice, email, recovery-code)."""
        ...

    def mfa_rate_limited(self, factor: str, limit: str) -> None:
        """A 429 of the MFA flows: `limit` is "attempts" (too many failed codes) or the send
        limit that refused a message ("user", "destination", "tenant")."""
        ...

    def send_cap_tripped(self, channel: str) -> None:
        """The tenant-wide send cap of a channel (the breaker) refused a message."""
        ...

    def delivery(self, channel: str, outcome: str) -> None:
        """A message was handed to its channel: "sent", "failed", "timeout" or "unconfigured"."""
        ...

    def token_signed(self, alg: str, seconds: float) -> None:
        """One JWT signature with the current key's algorithm, and how long it took."""
        ...

    def backend_error(self, backend: str) -> None:
        """A backend ("database", "redis") was unavailable to a request."""
        ...


class NoMetrics:
    """The default: counts nothing (metrics switched off, tests, the CLI)."""

    def grant(self, grant_type: str, outcome: str) -> None:
        pass

    def mfa_failure(self, factor: str) -> None:
        pass

    def mfa_rate_limited(self, factor: str, limit: str) -> None:
        pass

    def send_cap_tripped(self, channel: str) -> None:
        pass

    def delivery(self, channel: str, outcome: str) -> None:
        pass

    def token_signed(self, alg: str, seconds: float) -> None:
        pass

    def backend_error(self, backend: str) -> None:
        pass
