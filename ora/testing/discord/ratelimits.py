"""Discord's rate limits: per-route buckets, a global limit per bot token, 429s with Discord's headers.

Like Discord (developers/topics/rate-limits): every response of a bucketed route carries
``X-RateLimit-Limit/Remaining/Reset/Reset-After/Bucket``; a bucket is one route (its operation, or a named
group of routes sharing a bucket) per top-level resource (``channel_id``, ``guild_id``,
``webhook_id + webhook_token``, the interaction id + token). Buckets are leaky, as Discord's have been since
2022 (hikari's ``impl/buckets.py`` documents it and computes with it): ``limit`` requests at once, then one
more every ``window / limit`` seconds; ``Reset-After`` is the time until the bucket is full again.

A request on an empty bucket gets 429 with ``retry_after``, ``X-RateLimit-Scope: user`` and the headers,
and the announced time is enforced: a request before it gets another 429 and is counted in
:attr:`RateLimiter.early_retries` (Discord counts such invalid requests toward a Cloudflare ban). Requests
with the bot token share a global limit (50 per second); interaction endpoints (the callback and the
interaction webhook) are not bound to it.

Defaults are generous (50 requests per second per bucket) so tests and benchmarks are not slowed; a test
makes them strict with :meth:`RateLimiter.configure`. The interaction callback carries no bucket headers
unless configured (Discord sends none: hikari treats the route as unlimited and logs an error on a bucket
header there). :meth:`RateLimiter.inject` answers the next matching request with a 429 of any scope
(``shared`` is the per-resource limit, which Discord does not count as an invalid request).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import attrs

from ora.testing.discord.openapi import Operation

__all__ = [
    "INTERACTION_CALLBACK",
    "INTERACTION_WEBHOOK",
    "Decision",
    "Limit",
    "RateLimitEvent",
    "RateLimitScope",
    "RateLimiter",
]

RateLimitScope = Literal["user", "shared", "global"]

#: Routes of the interaction webhook (follow-ups, ``@original`` and follow-up messages).
INTERACTION_WEBHOOK = frozenset(
    {
        "execute_webhook",
        "get_original_webhook_message",
        "update_original_webhook_message",
        "delete_original_webhook_message",
        "get_webhook_message",
        "update_webhook_message",
        "delete_webhook_message",
    }
)
INTERACTION_CALLBACK = frozenset({"create_interaction_response"})
_NOT_GLOBAL = INTERACTION_WEBHOOK | INTERACTION_CALLBACK
_GROUPS: dict[str, frozenset[str]] = {
    "interaction_webhook": INTERACTION_WEBHOOK,
    "interaction_callback": INTERACTION_CALLBACK,
}
_MAJOR = (("channel_id",), ("guild_id",), ("webhook_id", "webhook_token"), ("interaction_id", "interaction_token"))


@attrs.frozen
class Limit:
    """``limit`` requests at once, refilled at ``limit`` per ``window`` seconds."""

    limit: int
    window: float

    @property
    def interval(self) -> float:
        """Seconds until one more request is allowed."""
        return self.window / self.limit


_UNLIMITED = Limit(1_000_000, 1.0)


@attrs.frozen
class RateLimitEvent:
    """A 429 the emulator sent, or a request that came back before the time a 429 announced."""

    at: float
    method: str
    path: str
    bucket: str
    scope: RateLimitScope
    #: seconds until the request would have been allowed
    retry_after: float


@attrs.define
class _Bucket:
    limit: Limit
    #: when the bucket is full again (GCRA's theoretical arrival time)
    full_at: float = 0.0
    #: a 429 announced no request before this time
    blocked_until: float = 0.0
    blocked_scope: RateLimitScope = "user"

    def used(self, now: float) -> float:
        return max(0.0, self.full_at - now)

    def remaining(self, now: float) -> int:
        return max(0, math.floor((self.limit.window - self.used(now)) / self.limit.interval + 1e-9))


@attrs.frozen
class _Injection:
    route_substring: str
    retry_after: float
    method: str | None
    scope: RateLimitScope


@attrs.frozen
class Decision:
    """What to do with a request: pass it on with ``headers``, or answer ``rejection`` (a 429)."""

    headers: Mapping[str, str]
    rejection: tuple[int, Mapping[str, str], dict[str, Any]] | None = None


def _bucket_hash(name: str) -> str:
    return hashlib.sha256(f"ora-emulator:{name}".encode()).hexdigest()[:32]


class RateLimiter:
    """Buckets, the global limit, injected 429s and what happened (``responses_429``, ``early_retries``)."""

    def __init__(self) -> None:
        #: per-route limit of routes not configured otherwise
        self.default = Limit(50, 1.0)
        #: requests with the bot token (Discord: 50 per second), interaction endpoints excepted
        self.global_limit = Limit(50, 1.0)
        self._rules: dict[str, tuple[Limit, str]] = {}
        self._buckets: dict[tuple[str, tuple[str, ...]], _Bucket] = {}
        self._global: dict[str, _Bucket] = {}
        self._injections: list[_Injection] = []
        #: every 429 sent, in order
        self.responses_429: list[RateLimitEvent] = []
        #: requests that arrived before the time a 429 had announced (the client did not wait it out)
        self.early_retries: list[RateLimitEvent] = []
        #: requests admitted per bucket name
        self.admitted: dict[str, int] = {}

    # ------------------------------------------------------------------ configuration

    def configure(
        self, operations: str | Iterable[str], *, limit: int, window: float, shared_bucket: str | None = None
    ) -> None:
        """Limit routes to ``limit`` requests per ``window`` seconds.

        ``operations``: operation ids of the OpenAPI document, or ``"interaction_webhook"`` (follow-ups and
        message edits with the interaction token) / ``"interaction_callback"``. ``shared_bucket`` names one
        bucket for all of them (still per top-level resource, e.g. per interaction token).
        """
        if limit < 1 or window <= 0:
            msg = f"a rate limit needs limit >= 1 and window > 0 (got {limit}, {window})"
            raise ValueError(msg)
        names = [operations] if isinstance(operations, str) else list(operations)
        ids: set[str] = set()
        for name in names:
            ids |= _GROUPS.get(name, frozenset({name}))
        for op_id in ids:
            self._rules[op_id] = (Limit(limit, window), shared_bucket or op_id)

    def inject(self, route_substring: str, retry_after: float, *, method: str | None, scope: RateLimitScope) -> None:
        """Answer the next request whose path contains ``route_substring`` with a 429 of ``scope``."""
        self._injections.append(_Injection(route_substring, retry_after, method.upper() if method else None, scope))

    # ------------------------------------------------------------------ admission

    def _rule(self, op: Operation) -> tuple[Limit, str, bool]:
        """``(limit, bucket name, whether answers carry bucket headers)``."""
        rule = self._rules.get(op.operation_id)
        if rule is not None:
            return rule[0], rule[1], True
        if op.operation_id in INTERACTION_CALLBACK:
            return _UNLIMITED, op.operation_id, False
        return self.default, op.operation_id, True

    @staticmethod
    def _major(params: Mapping[str, str]) -> tuple[str, ...]:
        for names in _MAJOR:
            if all(n in params for n in names):
                return tuple(params[n] for n in names)
        return ()

    @staticmethod
    def _bucket(store: dict[Any, _Bucket], key: Any, limit: Limit) -> _Bucket:
        bucket = store.get(key)
        if bucket is None or bucket.limit != limit:
            bucket = _Bucket(limit=limit)
            store[key] = bucket
        return bucket

    def _take_injection(self, method: str, path: str) -> _Injection | None:
        for injection in self._injections:
            if injection.route_substring in path and injection.method in {None, method}:
                self._injections.remove(injection)
                return injection
        return None

    def admit(self, op: Operation, method: str, path: str, params: Mapping[str, str], auth: str | None) -> Decision:
        """Count the request against its buckets; a 429 if one is empty or a 429 is injected."""
        now = time.monotonic()
        limit, name, with_headers = self._rule(op)
        bucket = self._bucket(self._buckets, (name, self._major(params)), limit)
        held = (
            self._bucket(self._global, auth, self.global_limit) if auth and op.operation_id not in _NOT_GLOBAL else None
        )
        for blocked, label in ((held, "global"), (bucket, name)):
            if blocked is not None and now < blocked.blocked_until:
                wait = blocked.blocked_until - now
                self.early_retries.append(RateLimitEvent(now, method, path, label, blocked.blocked_scope, wait))
                return self._reject(blocked, label, method, path, now, wait, with_headers=with_headers)
        injection = self._take_injection(method, path)
        if injection is not None:
            target = held if injection.scope == "global" and held is not None else bucket
            target.blocked_until, target.blocked_scope = now + injection.retry_after, injection.scope
            label = "global" if target is held else name
            return self._reject(target, label, method, path, now, injection.retry_after, with_headers=with_headers)
        for step, label in ((held, "global"), (bucket, name)):
            if step is None:
                continue
            wait = step.used(now) + step.limit.interval - step.limit.window
            if wait > 1e-9:
                step.blocked_until, step.blocked_scope = now + wait, "global" if step is held else "user"
                return self._reject(step, label, method, path, now, wait, with_headers=with_headers)
        for step in (held, bucket):
            if step is not None:
                step.full_at = max(step.full_at, now) + step.limit.interval
        self.admitted[name] = self.admitted.get(name, 0) + 1
        return Decision(headers=self._headers(bucket, name, now) if with_headers else {})

    # ------------------------------------------------------------------ answers

    @staticmethod
    def _headers(bucket: _Bucket, name: str, now: float, *, counting: int = 0) -> dict[str, str]:
        """The bucket headers; ``counting`` requests more are shown as used (a refused request still counts
        in the headers, so they never say "all remaining, resets now", which clients read as no limit)."""
        interval = bucket.limit.interval
        reset_after = min(bucket.limit.window, bucket.used(now) + counting * interval)
        remaining = max(0, math.floor((bucket.limit.window - reset_after) / interval + 1e-9))
        return {
            "X-RateLimit-Limit": str(bucket.limit.limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": _bucket_hash(name),
        }

    def _reject(
        self,
        bucket: _Bucket,
        name: str,
        method: str,
        path: str,
        now: float,
        retry_after: float,
        *,
        with_headers: bool,
    ) -> Decision:
        scope = bucket.blocked_scope
        retry_after = max(0.001, retry_after)
        self.responses_429.append(RateLimitEvent(now, method, path, name, scope, retry_after))
        body: dict[str, Any] = {"message": "You are being rate limited.", "retry_after": retry_after, "global": False}
        if scope == "global":
            headers = {"X-RateLimit-Global": "true"}
            body["global"] = True
        else:
            headers = self._headers(bucket, name, now, counting=1) if with_headers else {}
        if scope == "user" and with_headers:
            # Nothing remains, and the headers say when one request is allowed again: a leaky bucket whose
            # full reset is ``limit`` slots of ``retry_after`` (what hikari computes its wait from).
            headers["X-RateLimit-Remaining"] = "0"
            headers["X-RateLimit-Reset-After"] = f"{retry_after * bucket.limit.limit:.3f}"
            headers["X-RateLimit-Reset"] = f"{time.time() + retry_after * bucket.limit.limit:.3f}"
        if scope == "shared":
            body["message"] = "The resource is being rate limited."
        headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
        headers["X-RateLimit-Scope"] = scope
        return Decision(headers={}, rejection=(429, headers, body))
