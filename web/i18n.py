"""The pages' languages: every text of the templates, the page modules and the pages' scripts is in a message
catalogue (`web/translations/<lang>/LC_MESSAGES/messages.po`, compiled to `.mo` beside it by `make translations`),
English is the source. Flask-Babel picks a request's language: the `smsgw_lang` cookie the person chose on their
own page (/me), else the browser's Accept-Language, else English.

The scripts' texts (`_("…")` in web/static/*.js) reach the browser as a JSON object in each page
(`js_strings`): only the ones the scripts use, in the page's language."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path

from babel.messages.extract import extract_from_file
from flask import Flask, request
from flask_babel import Babel, format_datetime, get_locale, gettext
from flask_babel import lazy_gettext as _l

from gateway.errors import GatewayError, Said

LANGUAGES = {"en": "English", "fr": "Français"}  # code: the language's name in itself
COOKIE = "smsgw_lang"
COOKIE_AGE_S = 400 * 24 * 3600  # browsers keep a cookie at most 400 days
TRANSLATIONS = Path(__file__).parent / "translations"
SCRIPTS = Path(__file__).parent / "static"
SCRIPT_FILES = ("status.js", "people.js")


# what the pages call the states of messages, their parts, modems, received messages and webhook deliveries
STATE_LABELS = {
    "scheduled": _l("scheduled"), "queued": _l("queued"), "sending": _l("sending"), "sent": _l("sent"),
    "delivered": _l("delivered"), "failed": _l("failed"), "expired": _l("expired"), "cancelled": _l("cancelled"),
    "unknown": _l("unknown"), "pending": _l("pending"), "submitting": _l("submitting"), "connecting": _l("connecting"),
    "online": _l("online"), "offline": _l("offline"), "pin_needed": _l("PIN needed"),
    "not_registered": _l("not registered"), "searching": _l("searching"), "no_sim": _l("no SIM"),
    "complete": _l("complete"), "incomplete": _l("incomplete"), "in_flight": _l("in flight"),
}


# what the pages call the roles of people who log in (gateway/values.py ROLES; forms post the raw value)
ROLE_LABELS = {"admin": _l("admin"), "operator": _l("operator"), "viewer": _l("viewer")}


def role_label(role: str) -> str:
    return str(ROLE_LABELS.get(role, role))


def refusal(exc: GatewayError) -> str:
    """What the gateway refused, in the page's language: its message's template (gateway/errors.py `said`)
    translated, or its English when it was not written for the pages."""
    message = exc.message
    return gettext(message.template, **message.values) if isinstance(message, Said) else message


def moment(value: datetime | None, seconds: bool = False) -> str:
    """A time (UTC) with its day and month as the page's language writes them: "04 Dec 14:21", "04 déc. 14:21"."""
    return format_datetime(value, "dd MMM HH:mm:ss" if seconds else "dd MMM HH:mm") if value is not None else ""


def state_label(state: object) -> str:
    """A state (an enum of gateway/values.py, or its value) as the page's language says it."""
    value = str(getattr(state, "value", state))
    return str(STATE_LABELS.get(value, value))


def init_app(app: Flask) -> None:
    Babel(app, locale_selector=chosen_language, default_translation_directories=str(TRANSLATIONS))
    app.jinja_env.policies["ext.i18n.trimmed"] = True  # a {% trans %} block's line breaks and indents are one space
    texts = script_texts()
    app.jinja_env.filters["state"] = state_label
    app.jinja_env.filters["role"] = role_label
    app.jinja_env.filters["moment"] = moment
    app.jinja_env.globals.update(languages=LANGUAGES, page_language=page_language,
                                 js_strings=lambda: {text: gettext(text) for text in texts}
                                 if page_language() != "en" else {})


def chosen_language() -> str:
    """The request's language: the person's choice (cookie), else their browser's, else English."""
    chosen = request.cookies.get(COOKIE, "")
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES, default="en") or "en"


def page_language() -> str:
    return str(get_locale() or "en")


@cache
def script_texts() -> tuple[str, ...]:
    """The texts the pages' scripts translate (`_("…")`), as Babel extracts them for the catalogue (once a
    process: the scripts do not change while it runs)."""
    texts: list[str] = []
    for name in SCRIPT_FILES:
        for _, message, _, _ in extract_from_file("javascript", SCRIPTS / name, keywords={"_": None}):
            if isinstance(message, str) and message not in texts:
                texts.append(message)
    return tuple(texts)
