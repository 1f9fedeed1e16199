"""X-Forwarded-For believed only as an address: `ProxyHeaders`, in place of uvicorn's middleware
of the same purpose. From a trusted proxy (`FORWARDED_ALLOW_IPS`, as with uvicorn), the client
address is read from the right of `X-Forwarded-For`, past the trusted proxies, and taken only
when the entry they vouch for is an IP address (IPv4-mapped IPv6 as IPv4); anything else keeps
the peer's address.
"""

from __future__ import annotations

import ipaddress
import logging

from starlette.types import ASGIApp, Receive, Scope, Send

from twofold.web.parsing import canonical_ip

log = logging.getLogger("twofold.serving")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    """`FORWARDED_ALLOW_IPS`: "*", or comma-separated addresses and networks."""

    def __init__(self, spec: str | list[str]) -> None:
        items = [i.strip() for i in spec.split(",")] if isinstance(spec, str) else spec
        self.everyone = "*" in items
        self.networks: list[Network] = []
        for item in items:
            if item and item != "*":
                try:
                    self.networks.append(ipaddress.ip_network(item, strict=False))
                except ValueError:
                    log.warning("FORWARDED_ALLOW_IPS: ignoring %r, not an address", item[:64])

    def __contains__(self, host: str | None) -> bool:
        if self.everyone:
            return True
        address = canonical_ip(host) if host else None
        if address is None:
            return False
        ip = ipaddress.ip_address(address)
        return any(ip.version == net.version and ip in net for net in self.networks)


def _forwarded_entry(entry: str) -> tuple[str, int] | None:
    """One X-Forwarded-For entry as (address, port): "a.b.c.d", "a.b.c.d:port", an IPv6
    address, or "[v6]:port". None for anything else."""
    text = entry.strip()
    port = 0
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return None
        port = int(rest[1:]) if rest else 0
        text = host
    elif text.count(":") == 1:
        text, _, digits = text.partition(":")
        if not digits.isdigit():
            return None
        port = int(digits)
    if port > 65_535:
        return None
    address = canonical_ip(text)
    return (address, port) if address is not None else None


def forwarded_client(header: str, trusted: TrustedProxies) -> tuple[str, int] | None:
    """The client a chain of trusted proxies vouches for, or None when it is not an address.

    Proxies append, so the entries are read from the right: the first one that is not itself a
    trusted proxy is the client. When that entry is not a valid address the header is not
    believed at all (an entry further left was written by the client, not by a proxy).
    """
    entries = header.split(",")
    for entry in reversed(entries):
        parsed = _forwarded_entry(entry)
        if parsed is None:
            return None
        if parsed[0] not in trusted:
            return parsed
    # Every entry is a trusted proxy: the left-most one is the client (as uvicorn does).
    return _forwarded_entry(entries[0])


class ProxyHeaders:
    """Pure ASGI middleware: X-Forwarded-For / X-Forwarded-Proto from trusted proxies only."""

    def __init__(self, app: ASGIApp, trusted: str | list[str] = "127.0.0.1") -> None:
        self.app = app
        self.trusted = TrustedProxies(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            client = scope.get("client")
            if client and client[0] in self.trusted:
                self._apply(scope)
        await self.app(scope, receive, send)

    def _apply(self, scope: Scope) -> None:
        forwarded: list[str] = []
        proto: str | None = None
        for name, value in scope["headers"]:
            if name == b"x-forwarded-for":
                forwarded.append(value.decode("latin-1"))
            elif name == b"x-forwarded-proto":
                proto = value.decode("latin-1").strip().lower()
        if proto in ("http", "https"):
            scope["scheme"] = proto if scope["type"] == "http" else proto.replace("http", "ws")
        if forwarded:
            client = forwarded_client(",".join(forwarded), self.trusted)
            if client is not None:
                # In place: uvicorn's access log reads the same scope.
                scope["client"] = client
