"""Idempotent POSTs: an Idempotency-Key header (or a client_ref body field) makes a retried POST get the first
answer again (same status and body) instead of doing the work twice."""

from __future__ import annotations

import hashlib
from functools import wraps

from flask import Response, g, make_response, request

from gateway.errors import ValidationError
from web.api.access import service
from web.schemas import parse_json_object

HEADER = "Idempotency-Key"


def _client_ref(raw: bytes) -> str | None:
    """The body's `client_ref`; None when there is none or the body is no JSON object (the view refuses it)."""
    try:
        ref = parse_json_object(raw).get("client_ref")
    except ValidationError:
        return None
    return ref if isinstance(ref, str) else None


def idempotent(view):
    """Wrap a POST view that runs after `requires` (g.api_key is set). The view's `is_idempotent` tells the
    OpenAPI document to show the header."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        raw = request.get_data(cache=True)
        key = request.headers.get(HEADER) or _client_ref(raw)
        if key is None:
            return view(*args, **kwargs)
        request_hash = hashlib.sha256(b"\x00".join([request.path.encode(), request.query_string, raw])).hexdigest()
        first = service().idempotency.claim_idempotency(g.api_key, key, request_hash)
        if first is not None:
            status, body = first
            return Response(body, status, mimetype="application/json", headers={"Idempotent-Replayed": "true"})
        try:
            response = make_response(view(*args, **kwargs))
        except BaseException:
            service().idempotency.finish_idempotency(g.api_key, key, None)
            raise
        if 200 <= response.status_code < 300:
            service().idempotency.finish_idempotency(g.api_key, key, response.status_code,
                                                     response.get_data(as_text=True))
        else:
            service().idempotency.finish_idempotency(g.api_key, key, None)
        return response

    wrapper.is_idempotent = True
    return wrapper
