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
from gateway.store.models import MessageTemplate

log = logging.getLogger(__name__)



class Templates:
    """Verbs on templates."""

    def __init__(self, store: Store, settings: MessagingSettings, clock: Callable[[], datetime]) -> None:
        self._store, self._settings, self._clock = store, settings, clock

    def add_template(self, name: str, body: str, *, is_approved: bool = False) -> MessageTemplate:
        templates.placeholders(normalise_body(body))
        return self._store.templates.add_template(templates.check_name(name), unicodedata.normalize("NFC", body),
                                                 is_approved, self._clock())

    def list_templates(self) -> list[MessageTemplate]:
        return self._store.templates.list_templates()

    def get_template(self, name: str) -> MessageTemplate:
        return self._store.templates.get_template(name)

    def update_template(self, name: str, *, body: str | None = None,
                        is_approved: bool | None = None) -> MessageTemplate:
        if body is not None:
            templates.placeholders(normalise_body(body))
            body = unicodedata.normalize("NFC", body)
        return self._store.templates.update_template(name, self._clock(), body=body, is_approved=is_approved)

    def delete_template(self, name: str) -> None:
        self._store.templates.delete_template(name)

    def message_text(self, body: str | None, template: str | None = None, params: dict[str, Any] | None = None) -> str:
        """The text to send: `body`, or template `template` filled with `params` (exactly its placeholders)."""
        if template is None:
            if params is not None:
                raise ValidationError("'params' go with 'template'", field="params")
            if body is None:
                raise ValidationError("'body' or 'template' is required", field="body")
            return body
        return templates.render(self.template_text(template, None), params)

    def template_text(self, name: str, placeholders_needed: tuple[str, ...] | None = ("code",)) -> str:
        """The text of template `name` (approved, when approval is required), with exactly the placeholders
        `placeholders_needed` (any, when None)."""
        try:
            found = self._store.templates.get_template(name)
        except TemplateNotFound:
            raise UnknownTemplate(f"no template named {name!r}", field="template") from None
        if self._settings.require_approved_templates and not found.is_approved:
            raise TemplateNotApproved(f"template {name!r} is not approved", field="template")
        if placeholders_needed is not None and tuple(templates.placeholders(found.body, field="template")) \
                != placeholders_needed:
            raise ValidationError(f"template {name!r} must have the one placeholder {{code}}", field="template")
        return found.body
