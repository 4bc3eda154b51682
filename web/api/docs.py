"""The API describing itself: /api/v1/openapi.json, and /api/v1/docs, the document rendered for people by
Swagger UI (from the flask-swagger-ui package: every asset is served by the box, which often has no internet),
with its Authorize box for a key and "Try it out" for each call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import flask_swagger_ui

from flask import Blueprint, Response, current_app

from web.api.openapi import Content, document, operation

bp = Blueprint("docs", __name__, url_prefix="/api/v1")

SWAGGER_UI = Path(flask_swagger_ui.__file__).parent / "dist"  # Swagger UI 5, as flask-swagger-ui ships it
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>smsgw API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/swagger-ui/swagger-ui.css">
<link rel="stylesheet" href="/static/api-docs.css">
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
</head><body>
<div id="swagger-ui"></div>
<script src="/static/swagger-ui/swagger-ui-bundle.js"></script>
<script src="/static/api-docs.js"></script>
</body></html>
"""


@bp.get("/openapi.json")
@operation("This document", dict[str, Any])
def openapi_document():
    return document(current_app)


@bp.get("/docs")
@operation("This document rendered for people by Swagger UI, with a key box and try-it (assets served by the box)",
           Content("text/html", "HTML"))
def docs():
    return Response(PAGE, content_type="text/html; charset=utf-8")


assets = Blueprint("docs_assets", __name__, static_folder=str(SWAGGER_UI), static_url_path="/static/swagger-ui")
