"""The OpenAPI 3.1 document of /api/v1, generated from the app's own views.

Each /api/v1 view carries an `operation(...)`: its summary, the declaration its body decodes into, the
declaration (TypedDict) of its answer and the statuses it refuses with. The rest comes from the code that
does it: paths and path parameters from the URL rules (a `uid` is the API's `id`), authentication and its
401/403/429 from `requires`, the Idempotency-Key header from `idempotent`. The JSON Schemas are msgspec's,
from the same declarations that decode the requests (`web.schemas`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import msgspec
from flask import Flask

from gateway.version import VERSION
from web.errors import Error

PREFIX = "/api/v1/"
_REF = "#/components/schemas/{name}"
_RULE_ARG = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


@dataclass(frozen=True)
class Param:
    """A query (or header) parameter."""

    name: str
    schema: dict[str, Any]
    description: str | None = None
    is_required: bool = False
    where: str = "query"

    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "in": self.where}
        if self.is_required:
            data["required"] = True
        data["schema"] = self.schema
        if self.description:
            data["description"] = self.description
        return data


@dataclass(frozen=True)
class Content:
    """A body that is not JSON: its media type and what the document calls it."""

    media: str
    description: str


@dataclass(frozen=True)
class Operation:
    summary: str
    status: int
    answers: tuple[Any, ...]  # declarations of the answer (several: one of them); Content; none: no body
    body: Any  # the Request declaration the view decodes, or Content, or None
    errors: tuple[int, ...]
    query: tuple[Param, ...]


CURSOR = Param("cursor", {"type": "string"}, "next_cursor of the previous page")
LIMIT = Param("limit", {"type": "integer", "minimum": 1, "maximum": 200})
IDEMPOTENCY_KEY = Param("Idempotency-Key", {"type": "string", "minLength": 1, "maxLength": 255},
                        "a retried POST with the same key (per API key, 24 h) gets the first answer again; the same "
                        "key with another body is 422 idempotency_key_reused", where="header")


def operation(summary: str, *answers: Any, status: int = 200, body: Any = None, errors: tuple[int, ...] = (),
              query: tuple[Param, ...] = ()):
    """Declare what a view does for the document: `answers` are the declarations of its body at `status`
    (none for an empty 204), `body` the declaration of the request body, `errors` the statuses it refuses
    with besides those of authentication and of every request (413, 503)."""

    def decorate(view):
        view.operation = Operation(summary, status, answers, body, errors, query)
        return view

    return decorate


def document(app: Flask) -> dict[str, Any]:
    """The OpenAPI document of `app`'s /api/v1 routes, built once per app."""
    if "smsgw.openapi" not in app.extensions:
        app.extensions["smsgw.openapi"] = _build(app)
    return app.extensions["smsgw.openapi"]


def _build(app: Flask) -> dict[str, Any]:
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(PREFIX):
            view = app.view_functions[rule.endpoint]
            if not hasattr(view, "operation"):
                raise TypeError(f"the view {rule.endpoint} ({rule.rule}) declares no operation")
            routes.append((rule, view))
    declared = [Error]
    for _, view in routes:
        op = view.operation
        declared += [t for t in (*op.answers, op.body) if t is not None and not isinstance(t, Content)]
    schemas, components = msgspec.json.schema_components(declared, ref_template=_REF)
    schema_of = dict(zip(map(id, declared), schemas))
    paths: dict[str, dict[str, Any]] = {}
    for rule, view in routes:
        path = _RULE_ARG.sub(lambda m: "{" + _api_name(m.group(1)) + "}", rule.rule)
        item = paths.setdefault(path, {})
        names = [_api_name(name) for name in _RULE_ARG.findall(rule.rule)]
        if names:
            item["parameters"] = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                                  for n in names]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            item[method.lower()] = _operation(view, schema_of)
    return {
        "openapi": "3.1.0",
        "info": {"title": "smsgw API", "version": VERSION},
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
            "schemas": components,
        },
        "security": [{"bearer": []}, {"apiKey": []}],
        "paths": paths,
    }


def _api_name(rule_arg: str) -> str:
    """A URL rule's argument as the API names it: a resource's `uid` is its `id`."""
    return re.sub(r"(^|_)uid$", r"\1id", rule_arg)


def _operation(view: Any, schema_of: dict[int, dict[str, Any]]) -> dict[str, Any]:
    op: Operation = view.operation
    data: dict[str, Any] = {"summary": op.summary}
    scope = getattr(view, "scope", None)
    if scope is None:
        data["security"] = []
    parameters = [IDEMPOTENCY_KEY.json()] if getattr(view, "is_idempotent", False) else []
    parameters += [p.json() for p in op.query]
    if parameters:
        data["parameters"] = parameters
    if isinstance(op.body, Content):
        data["requestBody"] = {"required": True, "content": {op.body.media: {"schema": {"type": "string"}}}}
    elif op.body is not None:
        data["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema_of[id(op.body)]}}}
    responses: dict[str, Any] = {}
    if not op.answers:
        responses[str(op.status)] = {"description": "Deleted"}
    elif isinstance(op.answers[0], Content):
        responses[str(op.status)] = {"description": op.answers[0].description,
                                     "content": {op.answers[0].media: {"schema": {"type": "string"}}}}
    else:
        schemas = [schema_of[id(t)] for t in op.answers]
        schema = schemas[0] if len(schemas) == 1 else {"oneOf": schemas}
        responses[str(op.status)] = {"description": "OK", "content": {"application/json": {"schema": schema}}}
    refusals = (*op.errors, 401, 403, 413, 429, 503) if scope is not None else op.errors
    for status in sorted(set(refusals)):
        responses[str(status)] = {"description": "Error", "content": {"application/json": {
            "schema": schema_of[id(Error)]}}}
    data["responses"] = responses
    return data
