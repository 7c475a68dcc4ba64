"""The login routes' rate limit: token buckets per client, and which address counts as the client."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import make_mocked_request

from ora.core.web import limits
from ora.core.web.limits import RateLimiter, client_address, retry_after


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_one_request_per_interval() -> None:
    clock = Clock()
    limiter = RateLimiter(6, clock=clock)  # 6 per minute: one every 10 s after a burst of 6
    assert [limiter.acquire("a") for _ in range(6)] == [0.0] * 6
    assert limiter.acquire("a") == pytest.approx(10.0)
    clock.now += 5
    assert limiter.acquire("a") == pytest.approx(5.0)
    clock.now += 5
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("a") > 0
    assert limiter.acquire("b") == 0.0  # another client has its own bucket


def test_zero_disables_the_limit() -> None:
    limiter = RateLimiter(0)
    assert all(limiter.acquire("a") == 0.0 for _ in range(1000))


def test_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_TRACKED_CLIENTS", 50)
    clock = Clock()
    limiter = RateLimiter(1, clock=clock)
    assert limiter.acquire("flooder") == 0.0
    assert limiter.acquire("flooder") > 0
    for index in range(49):
        limiter.acquire(f"client-{index}")
    assert limiter.acquire("flooder") > 0  # still tracked: 50 clients fit
    for index in range(100):
        limiter.acquire(f"other-{index}")
    assert len(limiter._buckets) == 50


def test_a_refused_client_is_logged_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    limiter = RateLimiter(60, clock=clock)  # one a second
    for _ in range(60):
        limiter.acquire("a")
    for _ in range(240):  # a flood for two minutes, 4 requests a second: 3 of them refused
        clock.now += 0.5
        limiter.acquire("a")
        limiter.acquire("a")
    reports = [record.getMessage() for record in caplog.records if "exceeds LOGIN_RATE_LIMIT" in record.getMessage()]
    assert len(reports) == 2  # at the first refusal, and a minute later with the count since
    assert "refused 1 request(s)" in reports[0]
    assert "refused 180 request(s)" in reports[1]


def test_retry_after_is_whole_seconds_at_least_one() -> None:
    assert [retry_after(0.01), retry_after(1.0), retry_after(1.2)] == ["1", "1", "2"]


def request(peer: str, forwarded: str | None = None) -> object:
    headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}

    class Transport:
        def get_extra_info(self, name: str, default: object = None) -> object:
            return (peer, 50000) if name == "peername" else default

    return make_mocked_request("GET", "/auth/discord", headers=headers, transport=Transport())


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "client"),
    [
        ("192.0.2.1", None, (), "192.0.2.1"),
        ("192.0.2.1", "203.0.113.5", (), "192.0.2.1"),  # not a trusted proxy: the header is ignored
        ("127.0.0.1", "203.0.113.5", ("127.0.0.1",), "203.0.113.5"),
        ("127.0.0.1", "198.51.100.1, 203.0.113.5", ("127.0.0.1",), "203.0.113.5"),  # the proxy's own hop
        ("127.0.0.1", "203.0.113.5, 10.0.0.2", ("127.0.0.1", "10.0.0.2"), "203.0.113.5"),  # two proxies
        ("127.0.0.1", "not-an-address", ("127.0.0.1",), "127.0.0.1"),
        ("127.0.0.1", None, ("127.0.0.1",), "127.0.0.1"),
        ("2001:db8:1:2:3:4:5:6", None, (), "2001:db8:1:2::/64"),  # one bucket per IPv6 /64
        ("::ffff:192.0.2.7", None, (), "192.0.2.7"),
    ],
)
def test_client_address(peer: str, forwarded: str | None, trusted: tuple[str, ...], client: str) -> None:
    assert client_address(request(peer, forwarded), trusted) == client  # type: ignore[arg-type]
