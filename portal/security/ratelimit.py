"""Rate limits shared by the HTML pages and the API, counted in the cache (Redis when deployed).

One function decides (``rate_limit_hit``); the DRF throttle and the HTML views both call it, so a
limit holds however a client reaches the portal and across every web process and host sharing the
cache. Counters are fixed windows incremented atomically (``cache.incr``), keyed on the client's
real address (``portal.security.client.client_ip``).

Scopes and their rates are ``settings.RATE_LIMITS`` (``"60/hour"`` ...):

- ``submission``: patient submissions (form and API),
- ``status``: wrong, expired or revoked tokens on the status link, page and API (token
  guessing; ``patient_access.patient_screening_for_request`` counts failures only),
- ``recovery``: the lost-link recovery form.

Callers that count only accepted requests (e.g. submissions) use ``rate_limit_check`` before the
work and ``rate_limit_record`` after it succeeded; everything else uses ``rate_limit_hit``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from redis.exceptions import RedisError
from rest_framework.throttling import BaseThrottle

from .client import client_ip
from .networks import network_rate

logger = logging.getLogger(__name__)
# A cache backend that cannot reach its server (Redis down or restarting).
CACHE_UNREACHABLE = (ConnectionError, TimeoutError, OSError, RedisError)

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class RateLimitDecision:
    scope: str
    allowed: bool
    limit: int
    count: int
    retry_after: int  # seconds until the current window ends


def rate_parse(rate: str) -> tuple[int, int]:
    """``"60/hour"`` -> ``(60, 3600)``; ``"5/10m"`` -> ``(5, 600)``; ``"5/3600"`` (seconds)
    -> ``(5, 3600)``."""
    number, _, period = rate.strip().partition("/")
    digits = "".join(ch for ch in period if ch.isdigit()) or "1"
    unit = period.lstrip("0123456789")[:1].lower() or "s"
    if unit not in PERIODS:
        raise ValueError(f"Unknown rate period in {rate!r}.")
    return int(number), int(digits) * PERIODS[unit]


def _window(*, request: HttpRequest, scope: str) -> tuple[str, int, int, int]:
    ident = client_ip(request) or "unknown"
    # A trusted network (a clinic behind one address) may have its own rate (issue 12).
    limit, period = rate_parse(network_rate(address=ident, scope=scope))
    now = time.time()
    window = int(now // period)
    retry_after = max(1, math.ceil((window + 1) * period - now))
    return f"ratelimit:{scope}:{ident}:{window}", limit, retry_after, period


def _decision(scope: str, count: int, limit: int, retry_after: int) -> RateLimitDecision:
    return RateLimitDecision(
        scope=scope, allowed=count <= limit, limit=limit, count=count, retry_after=retry_after
    )


def rate_limit_record(*, request: HttpRequest, scope: str) -> int:
    """Count one request of ``scope`` for the client; returns the window's count."""
    key, _, _, period = _window(request=request, scope=scope)
    try:
        if cache.add(key, 1, timeout=period + 1):
            return 1
        try:
            return cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=period + 1)
            return 1
    except CACHE_UNREACHABLE as exc:
        # Fail open: a Redis outage must not turn patients' uploads away (they are kept in
        # PostgreSQL and queued once Redis is back; tests/ops/test_faults.py).
        logger.warning(
            "rate limit %s not counted: cache unreachable (%s)", scope, type(exc).__name__
        )
        return 1


def rate_limit_check(*, request: HttpRequest, scope: str) -> RateLimitDecision:
    """Would one more request of ``scope`` be allowed? Counts nothing."""
    key, limit, retry_after, _ = _window(request=request, scope=scope)
    try:
        count = (cache.get(key) or 0) + 1
    except CACHE_UNREACHABLE:  # fail open, as in rate_limit_record
        count = 1
    decision = _decision(scope, count, limit, retry_after)
    request._rate_limit = decision  # type: ignore[attr-defined]  # read by RetryAfterMiddleware
    return decision


def rate_limit_hit(*, request: HttpRequest, scope: str) -> RateLimitDecision:
    """Count this request and say whether it is within the limit (the usual call)."""
    _, limit, retry_after, _ = _window(request=request, scope=scope)
    count = rate_limit_record(request=request, scope=scope)
    decision = _decision(scope, count, limit, retry_after)
    request._rate_limit = decision  # type: ignore[attr-defined]
    return decision


class ScopedRateThrottle(BaseThrottle):
    """DRF throttle on ``rate_limit_hit``; DRF turns a refusal into 429 with ``Retry-After``."""

    scope = ""

    def allow_request(self, request, view) -> bool:
        django_request = getattr(request, "_request", request)  # DRF or plain Django request
        self.decision = rate_limit_hit(request=django_request, scope=self.scope)
        return self.decision.allowed

    def wait(self) -> float | None:
        return self.decision.retry_after


class SubmissionRateThrottle(ScopedRateThrottle):
    scope = "submission"


class StatusRateThrottle(ScopedRateThrottle):
    scope = "status"


class RecoveryRateThrottle(ScopedRateThrottle):
    scope = "recovery"


def rate_limited(scope: str, *, template: str = "screening/too_many.html"):
    """Decorator for an HTML view: 429 page (with ``Retry-After``) over the limit."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            decision = rate_limit_hit(request=request, scope=scope)
            if not decision.allowed:
                return too_many_requests(request, decision=decision, template=template)
            return view(request, *args, **kwargs)

        wrapped.__name__ = getattr(view, "__name__", "view")
        wrapped.__doc__ = view.__doc__
        return wrapped

    return decorate


def too_many_requests(
    request: HttpRequest,
    *,
    decision: RateLimitDecision,
    template: str = "screening/too_many.html",
) -> HttpResponse:
    from django.shortcuts import render

    response = render(request, template, {"retry_after": decision.retry_after}, status=429)
    response["Retry-After"] = str(decision.retry_after)
    return response


class RetryAfterMiddleware:
    """Adds ``Retry-After`` to a 429 made by any view that asked ``rate_limit_*`` first."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        decision = getattr(request, "_rate_limit", None)
        if response.status_code == 429 and decision is not None and "Retry-After" not in response:
            response["Retry-After"] = str(decision.retry_after)
        return response
