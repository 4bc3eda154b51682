"""Opt-out keywords (pure): which inbound texts are STOP or START, case and spacing tolerant."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from gateway.config import MessagingSettings
from gateway.errors import ConfigError

OPT_OUT, OPT_IN = "opt_out", "opt_in"
SOURCES = ("api", "sms", "admin")


def _fold(text: str) -> str:
    """Upper case, no spacing or punctuation around it, inner runs of spaces removed ("Stop ." is STOP)."""
    text = unicodedata.normalize("NFKC", text).strip().strip(".!").strip().upper()
    return "".join(text.split())


@dataclass(frozen=True)
class KeywordRules:
    """The configured keywords and the confirmation sent back on an opt-out."""

    optout_keywords: frozenset[str] = frozenset(_fold(k) for k in MessagingSettings.optout_keywords)
    optin_keywords: frozenset[str] = frozenset(_fold(k) for k in MessagingSettings.optin_keywords)
    optout_reply: str = ""

    @classmethod
    def from_settings(cls, settings: MessagingSettings) -> "KeywordRules":
        for name in ("optout_keywords", "optin_keywords"):
            words = getattr(settings, name)
            if isinstance(words, str) or not all(isinstance(w, str) and _fold(w) for w in words):
                raise ConfigError(f"messaging.{name} must be a list of words", field=f"messaging.{name}")
        return cls(frozenset(_fold(k) for k in settings.optout_keywords),
                   frozenset(_fold(k) for k in settings.optin_keywords), settings.optout_reply.strip())

    def action_of(self, text: str) -> str | None:
        """OPT_OUT or OPT_IN when the whole message is one keyword, else None."""
        word = _fold(text)
        if word in self.optout_keywords:
            return OPT_OUT
        if word in self.optin_keywords:
            return OPT_IN
        return None
