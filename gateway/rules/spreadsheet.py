"""Cells of the CSV files the box exports, made safe to open in a spreadsheet (OWASP's CSV injection rule)."""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """`value` as text; one starting like a formula (`=`, `+`, `-`, `@`, tab, CR) gets a leading `'`, so a
    spreadsheet shows it as text instead of running it (a number shows as `'+447911123456`)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text
