"""Requests, responses and dispatches checked against Discord's published contract.

:func:`check_request` matches ``METHOD /path`` to an operation of the OpenAPI document and validates its path
and query parameters and its body (JSON, or a multipart ``payload_json``); :func:`check_response` validates
what the emulator answers; :func:`check_interaction` validates an INTERACTION_CREATE payload. Problems come
back as :class:`Problem` (where, Discord-style code, message); :func:`error_body` turns them into Discord's
400 answer (code 50035 "Invalid Form Body" with an ``errors`` tree).

Every check is counted, and every :class:`Violation` recorded, in the process-wide :data:`LOG`: the test
suite fails a test that leaves a violation behind (``tests/conftest.py``) and prints the counts at the end.
A test that provokes violations on purpose takes them with ``DiscordEmulator.take_violations()``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import attrs
import jsonschema_rs

from ora.testing.discord.openapi import INTERACTION_URI, Operation, document

__all__ = [
    "LOG",
    "ContractLog",
    "Problem",
    "RequestCheck",
    "Violation",
    "check_interaction",
    "check_request",
    "check_response",
    "error_body",
]

Where = tuple[str | int, ...]
_Kind = jsonschema_rs.ValidationErrorKind
_BOOLEAN_QUERY = {"true": True, "false": False, "True": True, "False": False, "1": True, "0": False}


@attrs.frozen
class Problem:
    """One thing wrong: where (body path or parameter name), a Discord-style code, and a message."""

    where: Where
    code: str
    message: str

    def __str__(self) -> str:
        place = ".".join(str(p) for p in self.where) or "(body)"
        return f"{place}: {self.code}: {self.message}"


@attrs.frozen
class Violation:
    """A request the bot sent (or a response/dispatch the emulator made) that breaks the contract."""

    kind: Literal["request", "response", "dispatch"]
    method: str
    path: str
    operation: str | None
    problems: tuple[Problem, ...]

    def describe(self) -> str:
        """One line per problem, headed by the request."""
        head = f"{self.kind} {self.method} {self.path}" + (f" ({self.operation})" if self.operation else "")
        return head + "".join(f"\n    {p}" for p in self.problems)


@attrs.define
class ContractLog:
    """Counts of checks and the violations not yet taken, for the whole process."""

    requests: int = 0
    responses: int = 0
    dispatches: int = 0
    #: seconds spent checking requests (matching, parameters, bodies), not counting compiling schemas
    request_seconds: float = 0.0
    violations: list[Violation] = attrs.field(factory=list)

    def record(self, violation: Violation) -> None:
        """Keep a violation until a test takes it (or the session reports it)."""
        self.violations.append(violation)

    def forget(self, taken: Iterable[Violation]) -> None:
        """Drop violations a test took on purpose."""
        ids = {id(v) for v in taken}
        self.violations = [v for v in self.violations if id(v) not in ids]


#: The process-wide log (the emulator, the test suite's hooks and the benchmarks read it).
LOG = ContractLog()


@attrs.frozen
class RequestCheck:
    """The result of checking one request: its operation (``None`` if the document has none) and problems."""

    operation: Operation | None
    problems: tuple[Problem, ...]


# ---------------------------------------------------------------------------------------------------- errors


def _snippet(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _problem(error: jsonschema_rs.ValidationError) -> list[Problem]:
    where: Where = tuple(error.instance_path)
    kind = error.kind
    value = error.instance
    if isinstance(kind, _Kind.Required):
        return [Problem((*where, kind.property), "BASE_TYPE_REQUIRED", "This field is required")]
    if isinstance(kind, _Kind.UnevaluatedProperties):
        return [
            Problem((*where, name), "UNKNOWN_FIELD", "Not a field of this object in Discord's API documentation.")
            for name in kind.unexpected
        ]
    if isinstance(kind, _Kind.Type):
        types = [t for t in kind.types if t != "null"]
        if types and types[0] in {"integer", "number"}:
            label = "int" if types[0] == "integer" else "float"
            return [Problem(where, "NUMBER_TYPE_COERCE", f'Value "{_snippet(value)}" is not {label}.')]
        readable = {"string": "a string", "boolean": "a boolean", "array": "a list", "object": "an object"}
        expected = " or ".join(readable.get(t, t) for t in types) or "null"
        return [Problem(where, f"BASE_TYPE_{(types or ['null'])[0].upper()}", f"Must be {expected}.")]
    if isinstance(kind, (_Kind.MaxLength, _Kind.MaxItems, _Kind.MaxProperties)):
        return [Problem(where, "BASE_TYPE_MAX_LENGTH", f"Must be {kind.limit} or fewer in length.")]
    if isinstance(kind, (_Kind.MinLength, _Kind.MinItems, _Kind.MinProperties)):
        return [Problem(where, "BASE_TYPE_MIN_LENGTH", f"Must be {kind.limit} or more in length.")]
    if isinstance(kind, _Kind.Maximum):
        return [Problem(where, "NUMBER_TYPE_MAX", f"int value should be less than or equal to {kind.limit}.")]
    if isinstance(kind, _Kind.Minimum):
        return [Problem(where, "NUMBER_TYPE_MIN", f"int value should be greater than or equal to {kind.limit}.")]
    if isinstance(kind, _Kind.Enum):
        return [Problem(where, "BASE_TYPE_CHOICES", f"Value must be one of {tuple(kind.options)}.")]
    if isinstance(kind, _Kind.Constant):
        return [Problem(where, "BASE_TYPE_CHOICES", f"Value must be one of ({kind.expected_value!r},).")]
    if isinstance(kind, _Kind.Pattern):
        if kind.pattern == "^(0|[1-9][0-9]*)$":
            return [Problem(where, "NUMBER_TYPE_COERCE", f'Value "{_snippet(value)}" is not snowflake.')]
        return [Problem(where, "STRING_TYPE_REGEX", "String value did not match validation regex.")]
    if isinstance(kind, _Kind.UniqueItems):
        return [Problem(where, "LIST_ITEM_VALUE_DUPLICATE", "List item values must be unique.")]
    if isinstance(kind, _Kind.Format):
        code = "URL_TYPE_INVALID_URL" if kind.format == "uri" else "BASE_TYPE_FORMAT"
        return [Problem(where, code, f"Not a valid {kind.format}.")]
    if isinstance(kind, (_Kind.AnyOf, _Kind.OneOfNotValid)):
        choices = _choices(where, kind.context)
        if choices is not None:
            return [Problem(where, "BASE_TYPE_CHOICES", f"Value must be one of {tuple(choices)}.")]
        return _best_branch(where, kind.context)
    if isinstance(kind, _Kind.OneOfMultipleValid):
        return [Problem(where, "SCHEMA_AMBIGUOUS", "Matches more than one alternative of a oneOf in the document.")]
    return [Problem(where, f"SCHEMA_{kind.name.upper()}", error.message)]


def _discriminated_out(base: Where, branch: Sequence[jsonschema_rs.ValidationError]) -> bool:
    """Whether a union branch was ruled out by its discriminator (``type``) or by the JSON type itself."""
    for error in branch:
        here = tuple(error.instance_path)
        if here == (*base, "type") and isinstance(error.kind, (_Kind.Enum, _Kind.Constant)):
            return True
        if here == base and isinstance(error.kind, _Kind.Type):
            return True
    return False


def _choices(base: Where, branches: Sequence[Sequence[jsonschema_rs.ValidationError]]) -> list[Any] | None:
    """The allowed values when every alternative is one constant (Discord's string enums are written so)."""
    values: list[Any] = []
    for branch in branches:
        if len(branch) != 1 or tuple(branch[0].instance_path) != base:
            return None
        kind = branch[0].kind
        if isinstance(kind, _Kind.Constant):
            values.append(kind.expected_value)
        elif isinstance(kind, _Kind.Enum):
            values.extend(kind.options)
        else:
            return None
    return values


def _best_branch(base: Where, branches: Sequence[Sequence[jsonschema_rs.ValidationError]]) -> list[Problem]:
    """The problems of the alternative the value was most likely meant to be.

    Alternatives ruled out by their discriminator (``type``) or by the JSON type lose; then fewest problems.
    """
    scored = [(_discriminated_out(base, branch), [p for e in branch for p in _problem(e)]) for branch in branches]
    if not scored:
        return []
    return min(scored, key=lambda item: (item[0], len(item[1])))[1]


def _validate(uri: str, instance: Any, prefix: Where = ()) -> list[Problem]:
    validator = document().validator(uri)
    if validator.is_valid(instance):
        return []
    problems: list[Problem] = []
    for error in validator.iter_errors(instance):
        problems.extend(attrs.evolve(p, where=(*prefix, *p.where)) for p in _problem(error))
    return problems


def error_body(problems: Sequence[Problem]) -> dict[str, Any]:
    """Discord's 400 body: ``{"code": 50035, "message": "Invalid Form Body", "errors": {...}}``."""
    tree: dict[str, Any] = {}
    for problem in problems:
        node = tree
        for key in problem.where:
            node = node.setdefault(str(key), {})
        node.setdefault("_errors", []).append({"code": problem.code, "message": problem.message})
    return {"code": 50035, "message": "Invalid Form Body", "errors": tree}


# ---------------------------------------------------------------------------------------------------- checks


def _coerce_query(raw: str, kind: str) -> Any:
    if kind == "boolean":
        return _BOOLEAN_QUERY.get(raw, raw)
    try:
        if kind == "integer":
            return int(raw)
        if kind == "number":
            return float(raw)
    except ValueError:
        return raw
    return raw


def _check_parameters(op: Operation, path_params: Mapping[str, str], query: Mapping[str, str]) -> list[Problem]:
    problems: list[Problem] = []
    for param in op.parameters:
        source = path_params if param.where == "path" else query if param.where == "query" else None
        if source is None:
            continue
        if param.name not in source:
            if param.required:
                problems.append(Problem((param.name,), "BASE_TYPE_REQUIRED", "This field is required"))
            continue
        raw = source[param.name]
        value = raw if param.where == "path" else _coerce_query(raw, param.kind)
        problems.extend(_validate(param.pointer, value, (param.name,)))
    return problems


def check_request(
    method: str,
    path: str,
    query: Mapping[str, str],
    content_type: str | None,
    body: Any,
    *,
    has_body: bool,
) -> RequestCheck:
    """Check a request (``path`` relative to ``/api/v10``; ``body`` is the parsed JSON or ``payload_json``)."""
    doc = document()
    started, compiling = time.perf_counter(), doc.compile_seconds
    try:
        found = doc.match(method, path)
        if found is None:
            return RequestCheck(
                None, (Problem((), "UNKNOWN_ROUTE", f"{method} {path} is not in Discord's OpenAPI document."),)
            )
        op, path_params = found
        problems = _check_parameters(op, path_params, query)
        if has_body:
            media = "multipart/form-data" if (content_type or "").startswith("multipart/") else "application/json"
            uri = op.bodies.get(media)
            if uri is None:
                accepted = ", ".join(op.bodies) or "no body"
                problems.append(Problem((), "CONTENT_TYPE_INVALID", f"{media} is not accepted here ({accepted})."))
            else:
                problems.extend(_validate(uri, body))
        elif op.body_required:
            problems.append(Problem((), "BASE_TYPE_REQUIRED", "A request body is required."))
        return RequestCheck(op, tuple(problems))
    finally:
        LOG.requests += 1
        LOG.request_seconds += time.perf_counter() - started - (doc.compile_seconds - compiling)


def check_response(op: Operation, status: int, body: Any) -> tuple[Problem, ...]:
    """Check a response the emulator is about to send (``body`` ``None`` for an empty one)."""
    LOG.responses += 1
    documented, uri = op.response_pointer(status)
    if not documented:
        return (Problem((), "UNDOCUMENTED_STATUS", f"{op.operation_id} does not document status {status}."),)
    if uri is None:
        if body is not None:
            return (Problem((), "UNEXPECTED_BODY", f"status {status} of {op.operation_id} has no body."),)
        return ()
    if body is None:
        return (Problem((), "MISSING_BODY", f"status {status} of {op.operation_id} has a JSON body."),)
    return tuple(_validate(uri, body))


def check_interaction(payload: Any) -> tuple[Problem, ...]:
    """Check an INTERACTION_CREATE payload against the documented interaction structure."""
    LOG.dispatches += 1
    return tuple(_validate(INTERACTION_URI, payload))


def check_schema(uri: str, instance: Any) -> tuple[Problem, ...]:
    """Check any value against a schema URI of the document (for tests)."""
    return tuple(_validate(uri, instance))
