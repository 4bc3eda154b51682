"""Message templates: named texts with {placeholders}, filled by a send's params."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, TypedDict

from flask import Blueprint, request

from gateway.representations import time_json
from gateway.rules.templates import placeholders
from web.api.access import requires, seen_by, service
from web.api.openapi import operation
from web.schemas import UNSET, Request, UnsetType, decode, doc, given

if TYPE_CHECKING:
    from gateway.store.models import MessageTemplate

bp = Blueprint("templates", __name__, url_prefix="/api/v1")

TEXT = doc("text with {named} placeholders; {{ and }} for literal braces", minLength=1)


class TemplateRequest(Request):
    name: Annotated[str, doc(pattern="^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
    body: Annotated[str, TEXT]
    approved: bool = False


class TemplateUpdate(Request):
    body: Annotated[str, TEXT] | UnsetType = UNSET
    approved: bool | UnsetType = UNSET


class Template(TypedDict):
    name: str
    body: str
    placeholders: list[str]
    approved: bool
    shared: Annotated[bool, doc("everyone's; false: one account's, seen by its keys and people only")]
    created_at: str
    updated_at: str


class TemplateList(TypedDict):
    templates: list[Template]


def template_json(template: MessageTemplate) -> Template:
    return {"name": template.name, "body": template.body, "placeholders": placeholders(template.body),
            "approved": template.is_approved, "shared": template.account_id is None,
            "created_at": time_json(template.created_at),
            "updated_at": time_json(template.updated_at)}


@bp.post("/templates")
@operation("Store a message template (admin); a key of an account stores it for that account only", Template,
           status=201, body=TemplateRequest, errors=(400, 409))
@requires("admin")
def add_template():
    new = decode(request.get_data(cache=False), TemplateRequest)
    template = service().templates.add_template(new.name, new.body, is_approved=new.approved, account=seen_by())
    return template_json(template), 201, {"Location": f"{bp.url_prefix}/templates/{template.name}"}


@bp.get("/templates")
@operation("Stored templates, by name: a key of an account sees the shared ones and its own", TemplateList)
@requires("read")
def list_templates():
    return {"templates": [template_json(t) for t in service().templates.list_templates(seen_by())]}


@bp.get("/templates/<name>")
@operation("A template", Template, errors=(404,))
@requires("read")
def get_template(name: str):
    return template_json(service().templates.get_template(name, seen_by()))


@bp.put("/templates/<name>")
@operation("Change a template's text or approval (admin)", Template, body=TemplateUpdate, errors=(400, 404))
@requires("admin")
def update_template(name: str):
    change = decode(request.get_data(cache=False), TemplateUpdate)
    return template_json(service().templates.update_template(name, body=given(change.body),
                                                             is_approved=given(change.approved), seen_by=seen_by()))


@bp.delete("/templates/<name>")
@operation("Delete a template (admin)", status=204, errors=(404,))
@requires("admin")
def delete_template(name: str):
    service().templates.delete_template(name, seen_by())
    return "", 204
