"""Upstream providers' delivery receipts: `GET|POST /receipts/<upstream>/<message uid>/<signature>`, the address
the box gave the provider with the message (gateway/core/upstreams.py). The receipt's fields may come in the query,
a form or a JSON object. Any other address is 404 `receipt_not_expected`, and changes nothing."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from web.api import service

bp = Blueprint("receipts", __name__)


@bp.route("/receipts/<upstream>/<uid>/<signature>", methods=["GET", "POST"])
def receipt(upstream: str, uid: str, signature: str):
    fields = {**request.args, **request.form}
    body = request.get_json(silent=True) if request.is_json else None
    if isinstance(body, dict):
        fields |= {str(k): str(v) for k, v in body.items() if isinstance(v, (str, int, float))}
    outcome = service().receipts.record(upstream, uid, signature, fields)
    state = {True: "delivered", False: "failed", None: "pending"}[outcome.delivered]
    return jsonify({"message": uid, "state": state, "detail": outcome.detail})
