"""The gateway's messaging verbs of issue 7, part 2: templates, opt-outs, one-time codes, idempotency and
batches. A mixin of `GatewayService` (gateway/core/service.py), whose store, settings, clock, pool and routing
it uses; kept apart so that each module has one reason to change."""

from __future__ import annotations

import hmac
import unicodedata
from datetime import timedelta
from typing import Sequence

from gateway.errors import (IdempotencyInProgress, IdempotencyKeyReused, MessageTooLong, RecipientOptedOut,
                            TemplateNotApproved, TemplateNotFound, TemplateParamsError, TooManyRecipients,
                            UnknownTemplate, ValidationError)
from gateway.rules import otp, templates
from gateway.rules.keywords import OPT_IN, OPT_OUT
from gateway.rules.numbers import to_e164
from gateway.rules.text import segment
from gateway.rules.timing import check_message_class
from gateway.store.database import new_uid
from gateway.store.models import ApiKey, Batch, ConsentEvent, Message, MessageTemplate, OtpCode, Suppression
from gateway.values import MessageDraft, Verification

BULK_PRIORITY = 2


class MessagingVerbs:
    """Templates, consent, one-time codes, idempotency and batches."""

    # --- templates and consent ---------------------------------------------------------------

    def add_template(self, name: str, body: str, *, is_approved: bool = False) -> MessageTemplate:
        templates.placeholders(self._normalise_body(body))
        return self.store.templates.add_template(templates.check_name(name), unicodedata.normalize("NFC", body),
                                                 is_approved, self.clock())

    def list_templates(self) -> list[MessageTemplate]:
        return self.store.templates.list_templates()

    def get_template(self, name: str) -> MessageTemplate:
        return self.store.templates.get_template(name)

    def update_template(self, name: str, *, body: str | None = None,
                        is_approved: bool | None = None) -> MessageTemplate:
        if body is not None:
            templates.placeholders(self._normalise_body(body))
            body = unicodedata.normalize("NFC", body)
        return self.store.templates.update_template(name, self.clock(), body=body, is_approved=is_approved)

    def delete_template(self, name: str) -> None:
        self.store.templates.delete_template(name)

    def message_text(self, body: str | None, template: str | None = None, params: dict | None = None) -> str:
        """The text to send: `body`, or template `template` filled with `params` (exactly its placeholders)."""
        if template is None:
            if params is not None:
                raise ValidationError("'params' go with 'template'", field="params")
            return body
        return templates.render(self._stored_template(template, None), params)

    def _refuse_opted_out(self, numbers: Sequence[str], message_class: str | None) -> None:
        """RecipientOptedOut (409) when a marketing message (or, if so configured, any message) goes to a
        number (E.164) on the suppression list."""
        check_message_class(message_class)
        if message_class != "marketing" and not self.settings.optout_blocks_transactional:
            return
        blocked = self.store.consent.suppressed_among(list(numbers))
        if blocked:
            first = next(n for n in numbers if n in blocked)
            raise RecipientOptedOut(f"{first} opted out of {message_class or 'these'} messages"
                                    + (f" ({len(blocked)} recipients in all)" if len(blocked) > 1 else ""),
                                    field="to")

    def set_consent(self, number: str, *, opted_out: bool, source: str = "api",
                    detail: str | None = None) -> tuple[str, bool]:
        """Put `number` on the suppression list or take it off; the change is kept in the history either way.
        Returns the number in E.164 and whether its state changed."""
        number = to_e164(number, self.settings.default_region, field="number")
        action = OPT_OUT if opted_out else OPT_IN
        return number, self.store.consent.set_consent(number, action, source, self.clock(), detail)

    def list_optouts(self) -> tuple[list[Suppression], list[ConsentEvent]]:
        """The numbers opted out now, and every change of consent, oldest first."""
        return self.store.consent.list_suppressions(), self.store.consent.consent_history()

    # --- one-time codes ------------------------------------------------------------------------

    def send_otp(self, to: str, *, template: str | None = None, length: int = 6, alphabet: str = "digits",
                 ttl_s: int | None = None, api_key: ApiKey | None = None) -> tuple[OtpCode, Message]:
        """Send a one-time code with high priority. The message's stored body shows the code masked; only its
        parts (what goes to the modem) carry it. Returns the code's record (no code in it) and the message."""
        ttl_s = self.settings.otp_ttl_s if ttl_s is None else ttl_s
        otp.check_request(length, alphabet, ttl_s)
        number = to_e164(to, self.settings.default_region)
        self._refuse_opted_out([number], "transactional")
        text = otp.DEFAULT_TEMPLATE
        if template is not None:
            text = self._stored_template(template)
        code = otp.new_code(length, alphabet)
        real, shown = templates.render(text, {"code": code}), templates.render(text, {"code": otp.masked(code)})
        segmentation = segment(self._normalise_body(real))
        if segmentation.part_count > self.settings.max_parts:
            raise MessageTooLong(f"the code's message needs {segmentation.part_count} parts", field="template")
        now, salt = self.clock(), otp.new_salt()
        record = self.store.otps.add_otp(OtpCode(
            uid=new_uid("otp"), to_number=number, code_hash=otp.code_hash(code, salt), salt=salt,
            attempts_left=self.settings.otp_max_attempts, expires_at=now + timedelta(seconds=ttl_s),
            api_key_id=api_key.id if api_key else None, created_at=now))
        route = self.policy.routes([number]).get(number)  # as `send` does
        # it expires with its code; once sent, its parts are masked
        [message] = self.store.outbox.enqueue([MessageDraft(
            to_number=number, body=shown, encoding=segmentation.encoding, parts=segmentation.parts,
            masked_parts=segment(shown).parts, delivery_report=self.settings.delivery_report,
            priority=otp.HIGH_PRIORITY, expires_at=record.expires_at, **(route.placement if route else {}))], now,
            api_key_id=api_key.id if api_key else None)
        self.store.otps.link_otp_message(record.uid, message.uid)
        record.message_uid = message.uid
        self.pool.wake()
        return record, message

    def _stored_template(self, name: str, placeholders_needed: tuple[str, ...] | None = ("code",)) -> str:
        """The text of template `name` (approved, when approval is required), with exactly the placeholders
        `placeholders_needed` (any, when None)."""
        try:
            found = self.store.templates.get_template(name)
        except TemplateNotFound:
            raise UnknownTemplate(f"no template named {name!r}", field="template") from None
        if self.settings.require_approved_templates and not found.is_approved:
            raise TemplateNotApproved(f"template {name!r} is not approved", field="template")
        if placeholders_needed is not None and tuple(templates.placeholders(found.body, field="template")) \
                != placeholders_needed:
            raise ValidationError(f"template {name!r} must have the one placeholder {{code}}", field="template")
        return found.body

    def verify_otp(self, uid: str, code: str) -> Verification:
        """Check `code` against one-time code `uid` (constant time); each wrong code uses an attempt up."""
        if not isinstance(code, str) or not code.strip():
            raise ValidationError("'code' is required", field="code")
        return self.store.otps.verify_otp(uid, lambda record: otp.matches(code, record.salt, record.code_hash),
                                          self.clock())

    # --- batches -------------------------------------------------------------------------------

    def send_batch(self, columns: Sequence[str], rows: Sequence[tuple[int, dict[str, str]]], *,
                   template: str | None = None, message_class: str | None = None,
                   api_key: ApiKey | None = None) -> tuple[Batch, dict[str, int]]:
        """Queue one bulk-priority message per good row (`to` and a `body`, or `to` and the template's
        parameters); bad rows are reported by row number and the good ones still go."""
        if not rows:
            raise ValidationError("the batch has no rows", field="body")
        if len(rows) > self.settings.max_recipients:
            raise TooManyRecipients(f"at most {self.settings.max_recipients} rows per batch, got {len(rows)}",
                                    field="body")
        check_message_class(message_class)
        text = self._stored_template(template, None) if template is not None else None
        wanted = {"to", *templates.placeholders(text)} if text is not None else {"to", "body"}
        for column in [*wanted - set(columns), *set(columns) - wanted]:
            raise TemplateParamsError(f"the columns must be {', '.join(sorted(wanted))}; {column!r} is "
                                      f"{'missing' if column in wanted else 'not one of them'}",
                                      field=f"params.{column}" if column != "to" else "to")
        good, rejected = [], []
        for row_number, row in rows:
            try:
                if None in row or any(v is None for v in row.values()):
                    raise ValidationError("the row has a different number of fields than the header", field="row")
                number = to_e164(row["to"], self.settings.default_region)
                body = templates.render(text, {k: v for k, v in row.items() if k != "to"}) if text else row["body"]
                segmentation = segment(self._normalise_body(body))
                if segmentation.part_count > self.settings.max_parts:
                    raise MessageTooLong(f"the text needs {segmentation.part_count} parts", field="body")
            except ValidationError as exc:
                rejected.append({"row": row_number, "field": exc.field, "code": exc.code, "message": exc.message})
                continue
            good.append((row_number, number, body, segmentation))
        if message_class == "marketing" or self.settings.optout_blocks_transactional:
            blocked = self.store.consent.suppressed_among(list({number for _, number, _, _ in good}))
            rejected.extend({"row": row_number, "field": "to", "code": RecipientOptedOut.code,
                             "message": f"{number} opted out"}
                            for row_number, number, _, _ in good if number in blocked)
            good = [g for g in good if g[1] not in blocked]
        numbers = list(dict.fromkeys(number for _, number, _, _ in good))
        quiet_window = self.policy.quiet_window(message_class, None)  # as `send` does
        holds = self.policy.quiet_holds(numbers, self.clock(), quiet_window)
        routes = self.policy.routes(numbers)
        drafts = [MessageDraft(to_number=number, body=body, encoding=segmentation.encoding, parts=segmentation.parts,
                               delivery_report=self.settings.delivery_report, priority=BULK_PRIORITY,
                               send_at=holds.get(number), quiet_hours=quiet_window,
                               **(routes[number].placement if number in routes else {}))
                  for _, number, body, segmentation in good]
        batch = self.store.batches.enqueue_batch(drafts, sorted(rejected, key=lambda r: r["row"]), len(rows), template,
                                                 self.clock(), api_key_id=api_key.id if api_key else None)
        self.pool.wake()
        return self.store.batches.get_batch(batch.uid)

    def get_batch(self, uid: str) -> tuple[Batch, dict[str, int]]:
        return self.store.batches.get_batch(uid)

    # --- idempotency ---------------------------------------------------------------------------

    def claim_idempotency(self, api_key: ApiKey, key: str, request_hash: str) -> tuple[int, str] | None:
        """None when this request is the first with `key` (it must then `finish_idempotency`); else the first
        request's answer (status, body). IdempotencyKeyReused when the key came with another request;
        IdempotencyInProgress while the first is still running."""
        if not key or len(key) > 255:
            raise ValidationError("an idempotency key is 1 to 255 characters", field="Idempotency-Key")
        now = self.clock()
        found = self.store.idempotency.claim_idempotency(api_key.id, key, request_hash, now,
                                                         now - timedelta(seconds=self.settings.idempotency_ttl_s))
        if found is None:
            return None
        if not hmac.compare_digest(found.request_hash, request_hash):
            raise IdempotencyKeyReused("this idempotency key came with a different request", field="Idempotency-Key")
        if found.status == 0:
            raise IdempotencyInProgress("a request with this idempotency key is still being answered")
        return found.status, found.response

    def finish_idempotency(self, api_key: ApiKey, key: str, status: int | None, body: str = "") -> None:
        """Keep the first request's answer; with `status` None (it failed) a retry runs afresh."""
        if status is None:
            self.store.idempotency.release_idempotency(api_key.id, key)
        else:
            self.store.idempotency.finish_idempotency(api_key.id, key, status, body)
