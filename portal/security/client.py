"""The client's real address: the one rule used by rate limits, lockout and the audit trail.

``X-Forwarded-For`` is written by whoever sends the request, so it is only believed for the hops
added by proxies we run ourselves: ``TRUSTED_PROXY_COUNT`` (0 by default: the socket's address).
With N trusted proxies the client is the N-th address from the right; anything further left was
supplied by the client and is ignored.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def _valid(address: str | None) -> str | None:
    if not address:
        return None
    try:
        return str(ipaddress.ip_address(address.strip()))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str | None:
    """The address that opened the connection, or the one our trusted proxies saw."""
    remote = _valid(request.META.get("REMOTE_ADDR"))
    proxies = settings.TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if proxies <= 0 or not forwarded:
        return remote
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    if not hops:
        return remote
    return _valid(hops[-min(proxies, len(hops))]) or remote
