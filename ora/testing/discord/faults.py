"""Injected REST failures: 5xx answers and dropped connections, one request at a time.

``500``, ``502``, ``503`` and ``504`` answer with Discord's error JSON before the request does anything;
``"drop"`` aborts the TCP connection before the request does anything (it never reached Discord);
``"drop_after"`` applies the request, then aborts the connection instead of answering (the client cannot
know it went through).
"""

from __future__ import annotations

from typing import Literal

import attrs

__all__ = ["RestFault", "RestFaultKind", "RestFaults"]

RestFaultKind = Literal[500, 502, 503, 504, "drop", "drop_after"]
_REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


@attrs.define
class RestFault:
    """A failure for the next ``times`` requests (optionally of ``method``) whose path contains a substring."""

    route_substring: str
    fault: RestFaultKind
    method: str | None
    times: int

    @property
    def status_body(self) -> tuple[int, dict[str, object]] | None:
        """``(status, body)`` for the 5xx kinds."""
        if isinstance(self.fault, int):
            return self.fault, {"message": f"{self.fault}: {_REASONS[self.fault]}", "code": 0}
        return None


@attrs.define
class RestFaults:
    """Pending faults and the ``(method, path, fault)`` of each one applied."""

    pending: list[RestFault] = attrs.field(factory=list)
    applied: list[tuple[str, str, RestFaultKind]] = attrs.field(factory=list)

    def add(self, route_substring: str, fault: RestFaultKind, *, method: str | None, times: int) -> None:
        """Queue a fault."""
        if fault not in {500, 502, 503, 504, "drop", "drop_after"}:
            msg = f"unknown REST fault {fault!r}"
            raise ValueError(msg)
        self.pending.append(RestFault(route_substring, fault, method.upper() if method else None, times))

    def take(self, method: str, path: str) -> RestFault | None:
        """The fault for this request, if any (counted down)."""
        for fault in self.pending:
            if fault.route_substring in path and fault.method in {None, method}:
                fault.times -= 1
                if fault.times <= 0:
                    self.pending.remove(fault)
                self.applied.append((method, path, fault.fault))
                return fault
        return None
