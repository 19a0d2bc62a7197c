"""Rate limits per trusted network: a clinic behind one address may send more (issue 12).

``RATE_LIMIT_NETWORKS`` (environment, ``;``-separated) maps networks to scope rates, e.g.
``10.20.0.0/16=submission:600/hour,status:6000/hour;192.0.2.7/32=submission:300/hour``.
A client address inside a listed network gets that network's rate for the scopes it names
(the most specific network wins); everyone else gets ``RATE_LIMITS``.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings


@lru_cache(maxsize=8)
def _parse(spec: str) -> tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, dict], ...]:
    networks = []
    for entry in filter(None, (part.strip() for part in spec.split(";"))):
        cidr, _, rates = entry.partition("=")
        scopes = {}
        for item in filter(None, (r.strip() for r in rates.split(","))):
            scope, _, rate = item.partition(":")
            scopes[scope.strip()] = rate.strip()
        networks.append((ipaddress.ip_network(cidr.strip(), strict=False), scopes))
    # Most specific first, so a /32 inside a /16 takes precedence.
    return tuple(sorted(networks, key=lambda n: n[0].prefixlen, reverse=True))


def network_rate(*, address: str | None, scope: str) -> str:
    """The rate of ``scope`` for a client address."""
    default = settings.RATE_LIMITS[scope]
    spec = getattr(settings, "RATE_LIMIT_NETWORKS", "")
    if not spec or not address:
        return default
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return default
    for network, scopes in _parse(spec):
        if ip.version == network.version and ip in network and scope in scopes:
            return scopes[scope]
    return default
