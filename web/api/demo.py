"""The demo's own call: an SMS arrives on an emulated modem (only while `smsgw demo` runs)."""

from __future__ import annotations

from typing import Annotated, TypedDict

from flask import Blueprint, current_app, request
from msgspec import field

from gateway.errors import NotFound
from web.api.access import requires
from web.api.openapi import operation
from web.schemas import UNSET, Request, UnsetType, decode, doc, given

bp = Blueprint("demo", __name__, url_prefix="/api/v1")


class InboundRequest(Request):
    sender: Annotated[str, doc("the sender: +447911123456, or a name of up to 11 letters and digits")] = field(
        name="from")
    text: Annotated[str, doc(minLength=1, maxLength=1600)]
    modem: Annotated[str, doc("the demo modem it arrives on (default: the first)")] | UnsetType = UNSET


InboundAccepted = TypedDict("InboundAccepted", {"modem": str, "from": str})


@bp.post("/demo/inbound")
@operation("Demo only: an SMS from `from` arrives on an emulated modem (admin)", InboundAccepted, status=202,
           body=InboundRequest, errors=(400, 404))
@requires("admin")
def demo_inbound():
    modems = current_app.extensions.get("smsgw.demo")
    if modems is None:
        raise NotFound("this box runs real modems: only `smsgw demo` receives SMS on request")
    sms = decode(request.get_data(cache=False), InboundRequest)
    return {"modem": modems.inbound(sms.sender, sms.text, given(sms.modem)), "from": sms.sender}, 202
