"""Message templates: named texts with {placeholders}, approved or not, and the text a request sends."""

from __future__ import annotations

import logging
import unicodedata
from datetime import datetime
from typing import Any, Callable

from gateway.config import MessagingSettings
from gateway.errors import TemplateNotApproved, TemplateNotFound, UnknownTemplate, ValidationError
from gateway.rules import templates
from gateway.rules.text import normalise_body
from gateway.store import Store
from gateway.store.models import Account, MessageTemplate

log = logging.getLogger(__name__)



class Templates:
    """Verbs on templates."""

    def __init__(self, store: Store, settings: MessagingSettings, clock: Callable[[], datetime]) -> None:
        self._store, self._settings, self._clock = store, settings, clock

    def add_template(self, name: str, body: str, *, is_approved: bool = False,
                     account: Account | None = None) -> MessageTemplate:
        """A template for everyone, or (`account`) for that account's people and keys only."""
        templates.placeholders(normalise_body(body))
        return self._store.templates.add_template(templates.check_name(name), unicodedata.normalize("NFC", body),
                                                 is_approved, self._clock(), account.id if account else None)

    def list_templates(self, seen_by: Account | None = None) -> list[MessageTemplate]:
        """Every template, or those `seen_by` (an account) may use: the shared ones and its own."""
        return self._store.templates.list_templates(seen_by.id if seen_by is not None else None)

    def get_template(self, name: str, seen_by: Account | None = None) -> MessageTemplate:
        """Template `name`; TemplateNotFound when `seen_by` (an account) may not use it (another account's)."""
        template = self._store.templates.get_template(name)
        if seen_by is not None and template.account_id not in (None, seen_by.id):
            raise TemplateNotFound(f"no template named {name!r}", field="name")
        return template

    def update_template(self, name: str, *, body: str | None = None, is_approved: bool | None = None,
                        seen_by: Account | None = None) -> MessageTemplate:
        """Change a template: an account's people and keys change only its own (not the shared ones)."""
        self._owned(name, seen_by)
        if body is not None:
            templates.placeholders(normalise_body(body))
            body = unicodedata.normalize("NFC", body)
        return self._store.templates.update_template(name, self._clock(), body=body, is_approved=is_approved)

    def delete_template(self, name: str, seen_by: Account | None = None) -> None:
        self._owned(name, seen_by)
        self._store.templates.delete_template(name)

    def _owned(self, name: str, seen_by: Account | None) -> None:
        """TemplateNotFound unless `seen_by` (an account) owns template `name`, or is None (everyone's admin)."""
        template = self.get_template(name, seen_by)
        if seen_by is not None and template.account_id is None:
            raise TemplateNotFound(f"template {name!r} is shared: only a user or key of no account changes it",
                                   field="name")

    def message_text(self, body: str | None, template: str | None = None, params: dict[str, Any] | None = None,
                     seen_by: Account | None = None) -> str:
        """The text to send: `body`, or template `template` (one `seen_by` may use) filled with `params` (exactly
        its placeholders)."""
        if template is None:
            if params is not None:
                raise ValidationError("'params' go with 'template'", field="params")
            if body is None:
                raise ValidationError("'body' or 'template' is required", field="body")
            return body
        return templates.render(self.template_text(template, None, seen_by), params)

    def template_text(self, name: str, placeholders_needed: tuple[str, ...] | None = ("code",),
                      seen_by: Account | None = None) -> str:
        """The text of template `name` (approved, when approval is required; one `seen_by` may use), with exactly
        the placeholders `placeholders_needed` (any, when None)."""
        try:
            found = self.get_template(name, seen_by)
        except TemplateNotFound:
            raise UnknownTemplate(f"no template named {name!r}", field="template") from None
        if self._settings.require_approved_templates and not found.is_approved:
            raise TemplateNotApproved(f"template {name!r} is not approved", field="template")
        if placeholders_needed is not None and tuple(templates.placeholders(found.body, field="template")) \
                != placeholders_needed:
            raise ValidationError(f"template {name!r} must have the one placeholder {{code}}", field="template")
        return found.body
