"""Checks every request the bot makes against Discord's published OpenAPI document.

The document is loaded once per process. Each operation's request-body validator is compiled on
first use and cached. Mismatches are reported as strings; the emulator records them and keeps
serving, so a test can assert that the bot only speaks the documented API.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

log = logging.getLogger(__name__)

SPEC_ENV_VAR = "IDEABOT_DISCORD_SPEC"
SPEC_URI = "urn:discord-openapi"
_RELATIVE_SPEC = Path("shared") / "discord-api-spec" / "openapi.json"
_BOOLEAN_WORDS = {"true", "false", "1", "0", "True", "False"}
_SNOWFLAKE = re.compile(r"^(0|[1-9][0-9]*)$")


class SpecMissing(RuntimeError):
    pass


def find_spec_file() -> Path | None:
    configured = os.environ.get(SPEC_ENV_VAR)
    if configured:
        path = Path(configured)
        return path if path.is_file() else None
    for directory in Path(__file__).resolve().parents:
        for candidate in (directory / _RELATIVE_SPEC, directory.parent / _RELATIVE_SPEC):
            if candidate.is_file():
                return candidate
    return None


@cache
def load_spec() -> dict[str, Any] | None:
    path = find_spec_file()
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            # In CI a missing spec would turn every "no request outside the spec" check into a no-op.
            raise SpecMissing(f"Discord's OpenAPI spec was not found (set {SPEC_ENV_VAR}); refusing to run unchecked")
        log.warning("Discord OpenAPI spec not found (set %s); request validation is skipped", SPEC_ENV_VAR)
        return None
    with path.open(encoding="utf-8") as handle:
        document: dict[str, Any] = json.load(handle)
    return document


def _escape_pointer(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


@dataclass
class Operation:
    method: str
    template: str
    segments: tuple[str, ...]
    spec: dict[str, Any]
    query: dict[str, dict[str, Any]]


class SpecValidator:
    """Matches requests to spec operations and validates bodies and query strings."""

    def __init__(self, document: dict[str, Any] | None) -> None:
        self.document = document
        self.operations: list[Operation] = []
        self._validators: dict[tuple[str, str], Draft202012Validator | None] = {}
        self._registry: Registry[Any] | None = None
        if document is None:
            return
        document = _accept_integer_snowflakes(document)
        self.document = document
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        self._registry = Registry().with_resource(SPEC_URI, resource)
        for template, path_item in document.get("paths", {}).items():
            shared_params = path_item.get("parameters", [])
            for method, operation in path_item.items():
                if method == "parameters" or not isinstance(operation, dict):
                    continue
                params = [*shared_params, *operation.get("parameters", [])]
                query = {p["name"]: p for p in params if p.get("in") == "query"}
                self.operations.append(
                    Operation(method.upper(), template, tuple(template.strip("/").split("/")), operation, query)
                )
        # Literal segments beat parameters: "/messages/@original" before "/messages/{message_id}".
        self.operations.sort(key=lambda op: -sum(not s.startswith("{") for s in op.segments))

    @property
    def enabled(self) -> bool:
        return self.document is not None

    def match(self, method: str, segments: list[str]) -> Operation | None:
        for operation in self.operations:
            if operation.method != method or len(operation.segments) != len(segments):
                continue
            if all(t.startswith("{") or t == s for t, s in zip(operation.segments, segments, strict=True)):
                return operation
        return None

    def _body_validator(self, operation: Operation) -> Draft202012Validator | None:
        key = (operation.method, operation.template)
        if key in self._validators:
            return self._validators[key]
        validator: Draft202012Validator | None = None
        content = operation.spec.get("requestBody", {}).get("content", {})
        if "application/json" in content and self._registry is not None:
            pointer = "/".join(
                _escape_pointer(part)
                for part in ("paths", operation.template, operation.method.lower(), "requestBody", "content")
            )
            schema = {"$ref": f"{SPEC_URI}#/{pointer}/application~1json/schema"}
            validator = Draft202012Validator(schema, registry=self._registry)
        self._validators[key] = validator
        return validator

    def check(self, method: str, segments: list[str], query: dict[str, str], body: Any) -> list[str]:
        """Every way this request departs from the spec (empty when it conforms)."""
        if not self.enabled:
            return []
        operation = self.match(method, segments)
        path = "/" + "/".join(segments)
        if operation is None:
            return [f"{method} {path}: no such operation in Discord's API"]
        problems: list[str] = []
        for name, value in query.items():
            param = operation.query.get(name)
            if param is None:
                problems.append(f"{method} {operation.template}: unknown query parameter {name!r}")
                continue
            problem = self._check_query_value(param.get("schema", {}), value)
            if problem:
                problems.append(f"{method} {operation.template}: query {name}={value!r}: {problem}")
        for name, param in operation.query.items():
            if param.get("required") and name not in query:
                problems.append(f"{method} {operation.template}: missing required query parameter {name!r}")
        validator = self._body_validator(operation)
        if validator is not None and body is not None:
            for error in validator.iter_errors(body):
                location = "/".join(str(p) for p in error.absolute_path) or "<body>"
                problems.append(f"{method} {operation.template}: body {location}: {error.message[:300]}")
        return problems

    def _check_query_value(self, schema: dict[str, Any], value: str) -> str | None:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            schema = (self.document or {}).get("components", {}).get("schemas", {}).get(name, {})
        kind = schema.get("type")
        if kind == "boolean" and value not in _BOOLEAN_WORDS:
            return "not a boolean"
        if kind == "integer":
            try:
                number = int(value)
            except ValueError:
                return "not an integer"
            if "minimum" in schema and number < schema["minimum"]:
                return f"below minimum {schema['minimum']}"
            if "maximum" in schema and number > schema["maximum"]:
                return f"above maximum {schema['maximum']}"
        if schema.get("format") == "snowflake" and not _SNOWFLAKE.match(value):
            return "not a snowflake"
        return None


@cache
def shared_validator() -> SpecValidator:
    """One validator (and one parsed document) per process."""
    return SpecValidator(load_spec())


def _accept_integer_snowflakes(document: dict[str, Any]) -> dict[str, Any]:
    """Discord documents snowflakes as strings but accepts integers in request bodies too
    (discord.py sends e.g. `recipient_id` as an int); the spec's type says only the former."""
    schemas = document.get("components", {}).get("schemas", {})
    snowflake = schemas.get("SnowflakeType")
    if snowflake is None or "anyOf" in snowflake:
        return document
    patched = {**document, "components": {**document["components"], "schemas": dict(schemas)}}
    patched["components"]["schemas"]["SnowflakeType"] = {"anyOf": [snowflake, {"type": "integer", "minimum": 0}]}
    return patched
