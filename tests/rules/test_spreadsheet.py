"""CSV cells that a spreadsheet would run as formulas are quoted."""

import pytest

from gateway.rules.spreadsheet import safe_cell


@pytest.mark.parametrize("value", ["=1+2", "+447911123456", "-2", "@SUM(A1)", "\tx", "\rx",
                                   '=HYPERLINK("http://evil.lan","click")'])
def test_formula_starts_are_quoted(value):
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize("value, cell", [("STOP", "STOP"), ("", ""), (None, ""), (12, "12"), ("a=b", "a=b")])
def test_other_cells_are_unchanged(value, cell):
    assert safe_cell(value) == cell
