"""One-time codes: send one by SMS (high priority, masked once it left), then verify it."""

from __future__ import annotations

from typing import Annotated, TypedDict

from flask import Blueprint, g, request

from gateway.representations import time_json
from web.api.access import requires, service
from web.api.idempotency import idempotent
from web.api.openapi import operation
from web.schemas import UNSET, Request, UnsetType, decode, doc, given

bp = Blueprint("otp", __name__, url_prefix="/api/v1")


class OtpRequest(Request):
    to: str
    template: Annotated[str, doc("a template whose one placeholder is {code}")] | UnsetType = UNSET
    length: Annotated[int, doc(minimum=4, maximum=10)] = 6
    alphabet: Annotated[str, doc(enum=["digits", "alnum"])] = "digits"
    ttl: Annotated[int, doc("seconds the code stays valid (default from the config)", minimum=30, maximum=86400)
                   ] | UnsetType = UNSET
    client_ref: Annotated[str, doc("the Idempotency-Key, given in the body", minLength=1, maxLength=255)
                          ] | UnsetType = UNSET


class OtpSent(TypedDict):
    id: str
    to: str
    message_id: str
    expires_at: str
    attempts_left: int


class OtpVerifyRequest(Request):
    code: str


class OtpVerification(TypedDict):
    verified: bool
    attempts_left: int
    expired: bool


@bp.post("/otp")
@operation("Send a one-time code (high priority); the message list shows it masked", OtpSent, status=202,
           body=OtpRequest, errors=(400, 409, 422))
@requires("send")
@idempotent
def send_otp():
    otp = decode(request.get_data(cache=False), OtpRequest)
    record, message = service().otp.send_otp(otp.to, template=given(otp.template), length=otp.length,
                                         alphabet=otp.alphabet, ttl_s=given(otp.ttl), api_key=g.api_key)
    return {"id": record.uid, "to": record.to_number, "message_id": message.uid,
            "expires_at": time_json(record.expires_at), "attempts_left": record.attempts_left}, 202


@bp.post("/otp/<uid>/verify")
@operation("Check a one-time code; each wrong code uses an attempt up", OtpVerification, body=OtpVerifyRequest,
           errors=(400, 404))
@requires("send")
def verify_otp(uid: str):
    code = decode(request.get_data(cache=False), OtpVerifyRequest).code
    result = service().otp.verify_otp(uid, code)
    return {"verified": result.verified, "attempts_left": result.attempts_left, "expired": result.expired}
