"""Discord's OpenAPI document (vendored in ``spec/``), loaded once per process and compiled lazily.

:func:`document` reads ``spec/openapi.json`` and the emulator's own ``spec/interaction.schema.json`` (the
INTERACTION_CREATE payload, which the OpenAPI document does not describe), applies the documented
:data:`SPEC_DEFECTS`, and makes every object schema *closed*: a property the document does not list is an
error (``unevaluatedProperties: false``), so a misspelt field or a gateway-only field on a REST object is
caught rather than silently accepted. Validators (jsonschema-rs, JSON Schema 2020-12) are compiled on first
use per schema and cached; matching a request to its operation is a dictionary lookup plus a few regexes.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import attrs
import jsonschema_rs

__all__ = [
    "INTERACTION_URI",
    "OPENAPI_URI",
    "SPEC_COMMIT",
    "SPEC_DEFECTS",
    "Document",
    "Operation",
    "Parameter",
    "SpecDefect",
    "document",
]

SPEC_DIR = Path(__file__).with_name("spec")
#: discord/discord-api-spec commit the vendored ``specs/openapi.json`` comes from (see ``spec/README.md``).
SPEC_COMMIT = "74fda0fad044407ea280043a03ffc9bc64c4e49e"
OPENAPI_URI = "urn:discord-openapi"
INTERACTION_URI = "urn:ora-discord-interaction"
_DRAFT = "https://json-schema.org/draft/2020-12/schema"
_METHODS = ("get", "put", "post", "patch", "delete")
_OPEN = "__open"


@attrs.frozen
class SpecDefect:
    """Where Discord's document disagrees with Discord's docs and API: the check uses ``schema`` at ``pointers``."""

    pointers: tuple[tuple[str, ...], ...]
    schema: Any
    why: str


def _schema_property(schema: str, prop: str) -> tuple[str, ...]:
    return ("components", "schemas", schema, "properties", prop)


#: Known defects of the vendored document, patched instead of loosening the check (keep this list short).
SPEC_DEFECTS: tuple[SpecDefect, ...] = (
    SpecDefect(
        (_schema_property("Error", "code"),),
        {"type": ["integer", "string"]},
        "Field errors under `errors` carry string codes (`BASE_TYPE_REQUIRED`, ...), as Discord's docs show; "
        "the document types every `code` as an integer.",
    ),
    SpecDefect(
        tuple(
            _schema_property(name, "nsfw")
            for name in (
                "ApplicationCommandCreateRequest",
                "ApplicationCommandUpdateRequest",
                "ApplicationCommandPatchRequestPartial",
            )
        ),
        {"type": ["boolean", "null"]},
        "Creating, editing and bulk-overwriting commands accept `nsfw` (docs: Create/Edit Global Application "
        "Command JSON params); the document has it only on ApplicationCommandResponse.",
    ),
    SpecDefect(
        (_schema_property("MessageAttachmentRequest", "id"),),
        {"anyOf": [{"$ref": "#/components/schemas/SnowflakeType"}, {"type": "integer", "minimum": 0}]},
        "A new upload's attachment `id` is its index, an integer in the docs' own example (Uploading Files: "
        '`"attachments": [{"id": 0, ...}]`) and as hikari sends it; the document allows only snowflake strings.',
    ),
    SpecDefect(
        (("components", "schemas", "RatelimitedResponse"),),
        {
            "type": "object",
            "properties": {
                "message": {"type": "string"},
                "retry_after": {"type": "number"},
                "global": {"type": "boolean"},
                "code": {"type": "integer"},
            },
            "required": ["message", "retry_after", "global"],
        },
        "A 429 body has `code` only 'for some limits' (docs: Rate Limit Response Structure, `code?`; their "
        "examples have none); the document requires it through the shared Error schema.",
    ),
)


@attrs.frozen
class Parameter:
    """A path or query parameter of an operation."""

    name: str
    where: str
    required: bool
    pointer: str
    kind: str


@attrs.frozen
class Operation:
    """One method of one path of the document."""

    method: str
    template: str
    operation_id: str
    parameters: tuple[Parameter, ...]
    #: content type -> schema pointer of the request body
    bodies: Mapping[str, str]
    body_required: bool
    #: status ("200", "4XX", ...) -> schema pointer, or ``None`` for a response without a body
    responses: Mapping[str, str | None]
    regex: re.Pattern[str]

    def response_pointer(self, status: int) -> tuple[bool, str | None]:
        """``(documented, schema pointer)`` for a status: the exact code, else its ``NXX`` class."""
        for key in (str(status), f"{status // 100}XX", "default"):
            if key in self.responses:
                return True, self.responses[key]
        return False, None


def _escape(part: str) -> str:
    return quote(part.replace("~", "~0").replace("/", "~1"), safe="~")


def pointer(*parts: str) -> str:
    """A URI for a place in the OpenAPI document (``urn:discord-openapi#/components/schemas/X``)."""
    return OPENAPI_URI + "#/" + "/".join(_escape(p) for p in parts)


def _close(schema: Any, *, open_top: bool = False) -> Any:
    """A copy of ``schema`` where every object schema rejects properties it does not list.

    ``allOf`` members stay open at their top (the enclosing schema closes over all of them), and a
    ``$ref`` there points at the component's open variant.
    """
    if isinstance(schema, list):
        return [_close(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "allOf":
            out[key] = [_open_member(member) for member in value]
        elif key in {"if", "not"}:
            # Conditions test a few properties; closing them would make them fail on every real object.
            out[key] = _close(value, open_top=True)
        elif key in {"properties", "patternProperties", "$defs"} and isinstance(value, dict):
            out[key] = {name: _close(sub) for name, sub in value.items()}
        elif key in {"enum", "const", "required", "examples"}:
            out[key] = value
        else:
            out[key] = _close(value)
    closable = "properties" in schema or "allOf" in schema
    if closable and not open_top and "additionalProperties" not in schema and "unevaluatedProperties" not in schema:
        out["unevaluatedProperties"] = False
    return out


def _open_member(member: Any) -> Any:
    if isinstance(member, dict) and isinstance(member.get("$ref"), str) and member["$ref"].startswith("#/components"):
        return {**member, "$ref": member["$ref"] + _OPEN}
    return _close(member, open_top=True)


def _open_names(schema: Any) -> set[str]:
    """Components that need an open variant: those referenced from an ``allOf``, or by name with ``__open``."""
    found: set[str] = set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            for member in node.get("allOf", ()):
                ref = member.get("$ref", "") if isinstance(member, dict) else ""
                if "#/components/schemas/" in ref:
                    found.add(ref.rsplit("/", 1)[-1].removesuffix(_OPEN))
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.endswith(_OPEN):
                found.add(ref.rsplit("/", 1)[-1].removesuffix(_OPEN))
            stack.extend(node.values())
    return found


def _resolve_local(doc: Mapping[str, Any], ref: str) -> Any:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _set(doc: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = doc
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


def _template_regex(template: str) -> re.Pattern[str]:
    pattern = re.sub(r"\\\{([A-Za-z0-9_]+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
    return re.compile(pattern + "$")


class Document:
    """The patched, closed document: operations and compiled validators."""

    def __init__(self, raw: dict[str, Any], interaction: dict[str, Any]) -> None:
        for defect in SPEC_DEFECTS:
            for path in defect.pointers:
                _set(raw, path, defect.schema)
        self.raw = raw
        schemas = raw["components"]["schemas"]
        closed_schemas = {name: _close(schema) for name, schema in schemas.items()}
        opened = _open_names(raw) | _open_names(interaction)
        closed_schemas.update({name + _OPEN: _close(schemas[name], open_top=True) for name in opened})
        closed = {**raw, "paths": _close(raw["paths"]), "components": {**raw["components"], "schemas": closed_schemas}}
        self._registry = jsonschema_rs.Registry(
            [(OPENAPI_URI, closed), (INTERACTION_URI, _close(interaction))], draft=jsonschema_rs.Draft202012
        )
        self._validators: dict[str, jsonschema_rs.Validator] = {}
        #: seconds spent compiling validators (once per schema per process)
        self.compile_seconds = 0.0
        self.operations: list[Operation] = list(self._operations(raw))
        self._by_shape: dict[tuple[str, int, str], list[Operation]] = {}
        for op in self.operations:
            parts = op.template.strip("/").split("/")
            self._by_shape.setdefault((op.method, len(parts), parts[0]), []).append(op)
        for ops in self._by_shape.values():
            # Literal segments win over parameters: /users/@me before /users/{user_id}.
            ops.sort(key=lambda o: -sum(1 for s in o.template.split("/") if not s.startswith("{")))

    def _operations(self, raw: Mapping[str, Any]) -> Iterator[Operation]:
        for template, item in raw["paths"].items():
            shared = item.get("parameters", [])
            for method in _METHODS:
                op = item.get(method)
                if op is None:
                    continue
                params = tuple(self._parameter(template, method, p, i, shared) for i, p in enumerate(shared))
                params += tuple(
                    self._parameter(template, method, p, i, None) for i, p in enumerate(op.get("parameters", []))
                )
                body = op.get("requestBody") or {}
                bodies = {
                    ctype: pointer("paths", template, method, "requestBody", "content", ctype, "schema")
                    for ctype in body.get("content", {})
                }
                responses: dict[str, str | None] = {}
                for status, declared in op.get("responses", {}).items():
                    base: tuple[str, ...] = ("paths", template, method, "responses", status)
                    response = declared
                    if "$ref" in declared:
                        base = tuple(declared["$ref"].removeprefix("#/").split("/"))
                        response = _resolve_local(raw, declared["$ref"])
                    content = response.get("content", {})
                    responses[status] = (
                        pointer(*base, "content", "application/json", "schema")
                        if "application/json" in content
                        else None
                    )
                yield Operation(
                    method=method.upper(),
                    template=template,
                    operation_id=str(op.get("operationId", f"{method} {template}")),
                    parameters=params,
                    bodies=bodies,
                    body_required=bool(body.get("required")),
                    responses=responses,
                    regex=_template_regex(template),
                )

    def _parameter(
        self, template: str, method: str, param: Mapping[str, Any], index: int, shared: list[Any] | None
    ) -> Parameter:
        where = ("paths", template, "parameters") if shared is not None else ("paths", template, method, "parameters")
        schema = param.get("schema", {})
        resolved = _resolve_local(self.raw, schema["$ref"]) if "$ref" in schema else schema
        types = resolved.get("type", "string")
        kinds = [types] if isinstance(types, str) else [t for t in types if t != "null"]
        return Parameter(
            name=str(param["name"]),
            where=str(param["in"]),
            required=bool(param.get("required")),
            pointer=pointer(*where, str(index), "schema"),
            kind=kinds[0] if kinds else "string",
        )

    def match(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        """The operation serving ``METHOD /path`` (path relative to ``/api/v10``) and its path parameters."""
        parts = path.strip("/").split("/")
        for op in self._by_shape.get((method.upper(), len(parts), parts[0]), ()):
            found = op.regex.match(path)
            if found is not None:
                return op, found.groupdict()
        return None

    def validator(self, uri: str) -> jsonschema_rs.Validator:
        """The compiled validator for a schema URI (compiled on first use)."""
        validator = self._validators.get(uri)
        if validator is None:
            started = time.perf_counter()
            validator = jsonschema_rs.validator_for(
                {"$schema": _DRAFT, "$ref": uri}, registry=self._registry, validate_formats=True
            )
            self._validators[uri] = validator
            self.compile_seconds += time.perf_counter() - started
        return validator


@functools.cache
def document() -> Document:
    """The process-wide document (about 0.2 s to load the first time)."""
    raw = json.loads((SPEC_DIR / "openapi.json").read_text(encoding="utf-8"))
    interaction = json.loads((SPEC_DIR / "interaction.schema.json").read_text(encoding="utf-8"))
    return Document(raw, interaction)
