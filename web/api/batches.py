"""Batches: one bulk-priority message per row of a CSV upload, bad rows reported by their row number."""

from __future__ import annotations

import csv
import io
import json
from typing import TYPE_CHECKING, Annotated, TypedDict

from flask import Blueprint, g, request

from gateway.errors import ValidationError
from gateway.representations import time_json
from web.api.access import requires, seen_by, service
from web.api.idempotency import idempotent
from web.api.messages import CLASSES
from web.api.openapi import Content, Param, operation
from web.schemas import doc

if TYPE_CHECKING:
    from gateway.store.models import Batch as BatchRow

bp = Blueprint("batches", __name__, url_prefix="/api/v1")


class RejectedRow(TypedDict):
    row: Annotated[int, doc("line of the CSV (the header is line 1)")]
    field: str | None
    code: str
    message: str


class Batch(TypedDict):
    id: str
    template: str | None
    rows: int
    accepted: int
    rejected: list[RejectedRow]
    counts: Annotated[dict[str, int], doc("the batch's messages by state")]
    created_at: str


def parse_csv_batch(raw: bytes) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """A CSV upload: its header's columns and each data row with its row number (the header is row 1)."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError(f"the CSV is not valid UTF-8 (byte {exc.start})", field="body") from exc
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = [c.strip() for c in reader.fieldnames or []]
    if "to" not in columns:
        raise ValidationError("the CSV's first row must be a header with a 'to' column", field="to")
    if len(set(columns)) != len(columns):
        raise ValidationError("the CSV header names a column twice", field="body")
    reader.fieldnames = columns
    try:
        rows = [(reader.line_num, row) for row in reader
                if None in row or any(isinstance(v, str) and v.strip() for v in row.values())]  # not blank lines
    except csv.Error as exc:
        raise ValidationError(f"the CSV is malformed at line {reader.line_num}: {exc}", field="body") from exc
    return columns, rows


def batch_json(batch: BatchRow, counts: dict[str, int]) -> Batch:
    return {"id": batch.uid, "template": batch.template, "rows": batch.row_count, "accepted": batch.accepted,
            "rejected": json.loads(batch.rejected), "counts": counts, "created_at": time_json(batch.created_at)}


@bp.post("/batches")
@operation("Queue one bulk-priority message per CSV row; bad rows are reported by row number", Batch, status=202,
           body=Content("text/csv", "CSV"), errors=(400, 409, 422), query=(
               Param("template", {"type": "string"}, "the template to fill: the CSV's columns are 'to' and its "
                                                     "placeholders (without it: 'to' and 'body')"),
               Param("class", {"enum": CLASSES})))
@requires("send")
@idempotent
def send_batch():
    if request.mimetype != "text/csv":
        raise ValidationError("send the batch as text/csv: a header row with 'to' and the template's "
                              "parameters (or 'body'), then one row per message", field="Content-Type")
    columns, rows = parse_csv_batch(request.get_data(cache=False))
    batch, counts = service().batches.send_batch(columns, rows, template=request.args.get("template"),
                                         message_class=request.args.get("class"), api_key=g.api_key)
    return batch_json(batch, counts), 202, {"Location": f"{bp.url_prefix}/batches/{batch.uid}"}


@bp.get("/batches/<uid>")
@operation("A batch: its rows, the rejected ones, and its messages counted by state", Batch, errors=(404,))
@requires("read")
def get_batch(uid: str):
    return batch_json(*service().batches.get_batch(uid, seen_by()))
