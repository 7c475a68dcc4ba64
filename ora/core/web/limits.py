"""Per-client rate limit of the login routes: a token bucket per client address.

The client address is the socket peer. Behind a reverse proxy every request comes from the proxy, so
`WEB_TRUSTED_PROXIES` names the proxies whose `X-Forwarded-For` header is believed: the client is then the
right-most address in that header that is not itself a trusted proxy. IPv6 clients share one bucket per /64
(one host usually holds a whole /64).
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Collection

import attrs
from aiohttp import web

log = logging.getLogger(__name__)

MAX_TRACKED_CLIENTS = 10_000
REFUSAL_LOG_INTERVAL = 60.0  # a refused client is logged at most once per interval


def client_address(request: web.BaseRequest, trusted_proxies: Collection[str] = ()) -> str:
    """The address the rate limit counts a request against (see the module docstring)."""
    peer = request.remote or "unknown"
    if peer not in trusted_proxies:
        return _bucket_key(peer)
    forwarded = [hop.strip() for hop in ",".join(request.headers.getall("X-Forwarded-For", [])).split(",")]
    for hop in reversed(forwarded):
        try:
            address = str(ipaddress.ip_address(hop))
        except ValueError:
            break  # a malformed hop: nothing left of it can be believed
        if address not in trusted_proxies:
            return _bucket_key(address)
    return _bucket_key(peer)


def _bucket_key(address: str) -> str:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


@attrs.define
class _Bucket:
    tokens: float
    updated: float
    refused: int = 0  # refusals not logged yet
    logged_at: float | None = None


class RateLimiter:
    """`per_minute` requests per client, in bursts of up to `per_minute`; 0 disables the limit.

    At most `MAX_TRACKED_CLIENTS` buckets are kept (the least recently seen are forgotten), so the limiter's
    memory is bounded whatever the number of clients.
    """

    def __init__(
        self,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        routes: str = "login routes",
        setting: str = "LOGIN_RATE_LIMIT",
    ) -> None:
        self.per_minute = per_minute
        self._routes = routes  # named in the refusal log line
        self._setting = setting
        self._rate = per_minute / 60.0
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def acquire(self, client: str) -> float:
        """0 if `client` may proceed now (one request counted); else the seconds until it may."""
        if self.per_minute <= 0:
            return 0.0
        now = self._clock()
        bucket = self._buckets.pop(client, None)
        if bucket is None:
            bucket = _Bucket(tokens=float(self.per_minute), updated=now)
        else:
            bucket.tokens = min(float(self.per_minute), bucket.tokens + (now - bucket.updated) * self._rate)
            bucket.updated = now
        self._buckets[client] = bucket
        while len(self._buckets) > MAX_TRACKED_CLIENTS:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        bucket.refused += 1
        if bucket.logged_at is None or now - bucket.logged_at >= REFUSAL_LOG_INTERVAL:
            log.warning(
                "%s: client %s exceeds %s (%d/min); refused %d request(s) since the last report",
                self._routes,
                client,
                self._setting,
                self.per_minute,
                bucket.refused,
            )
            bucket.logged_at, bucket.refused = now, 0
        return (1.0 - bucket.tokens) / self._rate


def retry_after(seconds: float) -> str:
    """The Retry-After header value for a wait of `seconds` (whole seconds, at least 1)."""
    return str(max(1, math.ceil(seconds)))
