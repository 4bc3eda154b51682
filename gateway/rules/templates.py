"""Message templates (pure): named `{placeholders}` found with `string.Formatter().parse`, `{{ }}` for braces."""

from __future__ import annotations

import re
import string
from typing import Any, Mapping

from gateway.errors import TemplateParamsError, ValidationError, said

TEMPLATE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
PLACEHOLDER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FORMATTER = string.Formatter()


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not TEMPLATE_NAME.match(name):
        raise ValidationError(said("a template name is 1 to 64 letters, digits, '_', '-' or '.', starting with a "
                                   "letter or digit"), field="name")
    return name


def placeholders(body: str, *, field: str = "body") -> list[str]:
    """The distinct placeholder names of `body`, in order of first use. Positional (`{}`, `{0}`), attribute
    (`{a.b}`), index (`{a[0]}`), conversion (`{a!r}`) and format spec (`{a:>5}`) fields are refused."""
    names: list[str] = []
    try:
        parsed = list(_FORMATTER.parse(body))
    except ValueError as exc:
        raise ValidationError(f"the template text has unbalanced braces ({exc}); write {{{{ and }}}} for "
                              "literal braces", field=field) from exc
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if not PLACEHOLDER.match(name) or spec or conversion:
            raise ValidationError(said("placeholder {%(name)s} must be a plain name such as {code}", name=name),
                                  field=field)
        if name not in names:
            names.append(name)
    return names


def render(body: str, params: Mapping[str, Any] | None) -> str:
    """`body` with each placeholder replaced by its parameter; a missing or unknown parameter is refused."""
    params = params or {}
    names = placeholders(body)
    for name in names:
        if name not in params:
            raise TemplateParamsError(f"the template needs parameter {name!r}", field=f"params.{name}")
    for name, value in params.items():
        if name not in names:
            raise TemplateParamsError(f"the template has no placeholder {{{name}}}", field=f"params.{name}")
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise TemplateParamsError(f"parameter {name!r} must be a string or a number", field=f"params.{name}")
    return _FORMATTER.vformat(body, (), {name: str(value) for name, value in params.items()})
