"""Message templates: named texts with placeholders, approved or not."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select

from gateway.errors import TemplateExists, TemplateNotFound, said
from gateway.store.database import Database, once_more_after_a_race
from gateway.store.models import MessageTemplate


class Templates:
    """Verbs on message templates."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @once_more_after_a_race
    def add_template(self, name: str, body: str, is_approved: bool, now: datetime,
                     account_id: int | None = None) -> MessageTemplate:
        with self._db.write() as s:
            if s.scalar(select(MessageTemplate.id).where(MessageTemplate.name == name)) is not None:
                raise TemplateExists(said("a template named %(name)r exists", name=name), field="name")
            template = MessageTemplate(name=name, body=body, is_approved=is_approved, created_at=now,
                                       updated_at=now, account_id=account_id)
            s.add(template)
        return template

    def get_template(self, name: str) -> MessageTemplate:
        with self._db.read() as s:
            template = s.scalars(select(MessageTemplate).where(MessageTemplate.name == name)).one_or_none()
        if template is None:
            raise TemplateNotFound(f"no template named {name!r}", field="name")
        return template

    def list_templates(self, account_id: int | None = None) -> list[MessageTemplate]:
        """Every template, or (`account_id`) the shared ones and that account's."""
        query = select(MessageTemplate).order_by(MessageTemplate.name)
        if account_id is not None:
            query = query.where(or_(MessageTemplate.account_id.is_(None), MessageTemplate.account_id == account_id))
        with self._db.read() as s:
            return list(s.scalars(query))

    def update_template(self, name: str, now: datetime, *, body: str | None = None,
                        is_approved: bool | None = None) -> MessageTemplate:
        with self._db.write() as s:
            template = s.scalars(select(MessageTemplate).where(MessageTemplate.name == name)).one_or_none()
            if template is None:
                raise TemplateNotFound(f"no template named {name!r}", field="name")
            if body is not None:
                template.body = body
            if is_approved is not None:
                template.is_approved = is_approved
            template.updated_at = now
            return template

    def delete_template(self, name: str) -> None:
        with self._db.write() as s:
            template = s.scalars(select(MessageTemplate).where(MessageTemplate.name == name)).one_or_none()
            if template is None:
                raise TemplateNotFound(f"no template named {name!r}", field="name")
            s.delete(template)
