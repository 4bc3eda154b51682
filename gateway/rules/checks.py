"""What the names, counts and amounts an admin gives must be (an account, a modem group, a route; a quota, a
cap; a cost or a budget). Pure predicates: each caller words its own refusal."""

from __future__ import annotations

import math
import re
from typing import Any

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # 1 to 64 letters, digits, '.', '_' or '-'


def is_count(value: Any) -> bool:
    """A whole number, 0 or more (a bool is not one)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def is_amount(value: Any) -> bool:
    """A finite number, 0 or more (a bool is not one)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0
