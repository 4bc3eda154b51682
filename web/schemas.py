"""Declared JSON request bodies (msgspec), decoded with the API's own refusals.

A body the API accepts is declared once, as a `Request` subclass: its fields give the names, the types and
which are required (no default); `doc(...)` adds what the OpenAPI document shows beyond the type (a
description, an enum, a format, bounds). Those additions are for people and generated clients: the service
checks such rules itself, with its own messages, so decoding enforces only names, types and presence.
An optional field the client leaves out is `UNSET` (read it with `given`); a JSON null is never a value.

`decode(raw, Kind)` turns a body into a `Kind` or raises the refusal the API answers, checked in this order:
  - not UTF-8, not JSON, not an object: InvalidJson (400 invalid_json), with the JSON parser's position;
  - a name the declaration does not have: "unknown field 'x'" (unless the declaration allows others);
  - a required field missing or null: "'x' is required";
  - a value of the wrong type (a bool is never a number): "'x' has the wrong type";
  - a list with an item of the wrong type: "'x' must be a string or a list of strings"; a list of declared
    objects: each item judged as one, the field named `x[i].y`;
  - the declaration's own `check()` of rules across fields.
A `refusals` entry of the declaration replaces the message for one field's missing or mistyped value.
Each is a ValidationError (400 invalid_request) naming the field.

msgspec decodes a good body in one pass. It refuses a little more than the rules above (lone UTF-16
surrogates, 1e400, a name given twice with a bad first value): a refused body is read again with the
standard library's parser and judged by the rules above, so the API accepts what it always accepted (NaN and
Infinity reach the service, which refuses them where a number must be finite). Integers of more than 4,300
digits and nesting deeper than the parser's recursion limit are InvalidJson.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Mapping
from functools import cache
from typing import Any, ClassVar, TypeVar

import msgspec
from msgspec import UNSET, Meta, UnsetType

from gateway.errors import InvalidJson, ValidationError

__all__ = ["Request", "UNSET", "UnsetType", "decode", "doc", "given", "parse_json_object"]

T = TypeVar("T")
R = TypeVar("R", bound="Request")


class Request(msgspec.Struct, forbid_unknown_fields=True):
    """A JSON object body. Subclass with `forbid_unknown_fields=False` to let other names through."""

    refusals: ClassVar[Mapping[str, str]] = {}  # field -> the message for its missing, null or mistyped value

    def check(self) -> None:
        """Rules across fields, once the types are right: raise ValidationError naming the field."""


def doc(description: str | None = None, **schema: Any) -> Meta:
    """A field's description and what the OpenAPI document adds to its type (`enum=`, `format=`,
    `minLength=`, ...), for people and generated clients; decoding does not enforce these."""
    return Meta(description=description, extra_json_schema=schema or None)


def given(value: T | UnsetType) -> T | None:
    """A field's value, or None when the client left it out."""
    return None if value is UNSET else value


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """Decode a request body that must be one JSON object in UTF-8."""
    if not raw.strip():
        raise InvalidJson("the request body is empty; send a JSON object")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidJson(f"the request body is not valid UTF-8 (byte {exc.start})") from exc
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidJson(f"the request body is not valid JSON: {exc.msg} at line {exc.lineno} "
                          f"column {exc.colno}") from exc
    except RecursionError:
        raise InvalidJson("the request body is nested too deeply") from None
    except ValueError as exc:  # an integer of more digits than Python converts
        raise InvalidJson(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidJson("the request body must be a JSON object")
    return value


def decode(raw: bytes, kind: type[R]) -> R:
    """The body `raw` as a `kind`, or the ValidationError the API answers (see the module's docstring)."""
    try:
        value = _decoder(kind).decode(raw)
    except msgspec.DecodeError:
        value = _judge(parse_json_object(raw), kind)
    value.check()
    return value


@cache
def _decoder(kind: type[R]) -> msgspec.json.Decoder[R]:
    return msgspec.json.Decoder(kind)


@cache
def _fields(kind: type[Request]) -> dict[str, msgspec.structs.FieldInfo]:
    """A declaration's fields by their JSON names, in declaration order."""
    return {f.encode_name: f for f in msgspec.structs.fields(kind)}


def _judge(payload: dict[str, Any], kind: type[R]) -> R:
    """The rules of the module's docstring over a parsed object: a `kind`, or the first refusal."""
    fields = _fields(kind)
    if kind.__struct_config__.forbid_unknown_fields:
        for name in payload:
            if name not in fields:
                raise ValidationError(f"unknown field {name!r}", field=name)
    for name, f in fields.items():
        if f.required and payload.get(name) is None:
            raise _refusal(kind, name, f"{name!r} is required")
    for name, value in payload.items():
        if name in fields and not _fits(value, fields[name].type, items=False):
            raise _refusal(kind, name, f"{name!r} has the wrong type")
    for name, value in payload.items():
        item_kind = _item_kind(fields[name].type) if name in fields else None
        if item_kind is not None and isinstance(value, list):
            for i, item in enumerate(value):  # a list of declared objects: each judged as one
                if not isinstance(item, dict):
                    raise _refusal(kind, name, f"{name!r} must be a list of objects")
                try:
                    _judge(item, item_kind)
                except ValidationError as exc:
                    raise ValidationError(exc.message, field=f"{name}[{i}].{exc.field}") from None
        elif name in fields and not _fits(value, fields[name].type, items=True):
            raise _refusal(kind, name, f"{name!r} must be a string or a list of strings")
    return kind(**{fields[name].name: value for name, value in payload.items() if name in fields})


def _item_kind(annotation: Any) -> type[Request] | None:
    """The declaration a list field's items are (`list[Kind]`, maybe optional or annotated); None otherwise."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _item_kind(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return next((k for arm in typing.get_args(annotation) if (k := _item_kind(arm)) is not None), None)
    if origin is list:
        item = typing.get_args(annotation)[0]
        return item if isinstance(item, type) and issubclass(item, Request) else None
    return None


def _refusal(kind: type[Request], name: str, message: str) -> ValidationError:
    return ValidationError(kind.refusals.get(name, message), field=name)


def _fits(value: Any, annotation: Any, *, items: bool) -> bool:
    """Whether a parsed JSON value is of a declared type: its outer type, and with `items` its list items too."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _fits(value, typing.get_args(annotation)[0], items=items)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, arm, items=items) for arm in typing.get_args(annotation) if arm is not UnsetType)
    if annotation is Any:
        return True
    if isinstance(value, bool):
        return annotation is bool
    if annotation is float:
        return isinstance(value, (int, float))
    if origin is list:
        return isinstance(value, list) and (not items or all(_fits(v, typing.get_args(annotation)[0], items=True)
                                                             for v in value))
    return isinstance(value, origin or annotation)
