"""The GatewayError hierarchy. Each class carries the stable API error `code` and HTTP status.

A message people may read on the pages is written with `said("... %(name)s ...", name=value)`: it is the English
text (the API's message), and it keeps its template and values, so the pages say it in their own language
(web/i18n.py `refusal`; `make translations` gathers the templates)."""

from __future__ import annotations

from typing import Any


class Said(str):
    """English text that remembers the template and values it was made of (see `said`)."""

    template: str
    values: dict[str, Any]


def said(template: str, **values: Any) -> Said:
    """`template % values`, keeping both for a translation of `template`."""
    text = Said(template % values)
    text.template, text.values = template, values
    return text


class GatewayError(Exception):
    """Root of every error the gateway raises on purpose."""

    code = "gateway_error"
    http_status = 500

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class ConfigError(GatewayError, ValueError):
    code = "config_error"


class ValidationError(GatewayError, ValueError):
    """A request the caller can fix: 400 or 422 with the field named."""

    code = "invalid_request"
    http_status = 400


class InvalidJson(ValidationError):
    code = "invalid_json"


class InvalidNumber(ValidationError):
    code = "invalid_number"
    http_status = 422


class MessageTooLong(ValidationError):
    code = "message_too_long"
    http_status = 422


class TooManyRecipients(ValidationError):
    code = "too_many_recipients"
    http_status = 422


class UnknownModem(ValidationError):
    code = "unknown_modem"
    http_status = 422


class InvalidBody(ValidationError):
    """A message body with a character no SMS should carry (NUL, C0 controls)."""

    code = "invalid_body"
    http_status = 422


class CallbackNotAllowed(ValidationError):
    """A callback URL whose host resolves to an address `[webhooks] allow` refuses."""

    code = "callback_not_allowed"
    http_status = 422


class PayloadTooLarge(ValidationError):
    code = "payload_too_large"
    http_status = 413


class AuthError(GatewayError):
    code = "unauthorized"
    http_status = 401


class ScopeError(AuthError, PermissionError):
    code = "forbidden"
    http_status = 403


class NotFound(GatewayError, LookupError):
    code = "not_found"
    http_status = 404


class MessageNotFound(NotFound):
    code = "message_not_found"


class ReceiptNotExpected(NotFound):
    """A delivery receipt at an address no upstream was given (unknown upstream, message or signature)."""

    code = "receipt_not_expected"


class KeyNotFound(NotFound):
    code = "key_not_found"


class ModemNotFound(NotFound):
    code = "modem_not_found"


class ConflictError(GatewayError):
    """The resource is in a state that does not allow the operation."""

    code = "conflict"
    http_status = 409


class ClaimLost(GatewayError):
    """A worker's claim on a message was settled by another box (this one was declared dead): it must not send
    another part of it."""

    code = "claim_lost"
    http_status = 409


class BoxNameTaken(GatewayError):
    """Another live box already runs under this box's name on the shared database."""

    code = "box_name_taken"
    http_status = 409


class StoreUnavailable(GatewayError):
    code = "store_unavailable"
    http_status = 503


class BoxKeyUnusable(StoreUnavailable):
    """The box key file is missing where it must be named, unreadable, or not the key the database was sealed
    under: nothing sealed can be read or written until it is."""

    code = "box_key_unusable"


class StoreFull(StoreUnavailable):
    """The disk under the database is full: nothing new can be committed until space returns."""

    code = "storage_full"


# --- modem side: split by what the pool does next ---------------------------------------------


class ModemError(GatewayError):
    """Something went wrong talking to a modem."""

    code = "modem_error"


class ModemUnavailable(ModemError, ConnectionError):
    """The port is gone or the modem stopped answering: reconnect (or power-cycle), fail work over."""

    code = "modem_unavailable"


class ModemTimeout(ModemUnavailable, TimeoutError):
    """No final answer in time. `partial` holds the response lines that did come (after a PDU, a `+CMGS:`
    among them means the network took the part even though its OK was lost)."""

    code = "modem_timeout"
    partial: tuple[str, ...] = ()


class SendOutcomeUnknown(ModemTimeout):
    """The part was written to the modem (PDU and Ctrl-Z) and no answer came: it may have gone out.

    The part becomes `unknown` and is not re-sent; the modem is then treated as unavailable."""

    code = "send_outcome_unknown"


class ModemNeedsInit(ModemUnavailable):
    """The modem said it restarted, or its SIM came back: it answers, but must be initialised again (PIN, PDU
    mode, notifications). The worker reopens it at once rather than after a reconnect delay."""

    code = "modem_needs_init"


class SimMissing(ModemUnavailable):
    """The modem answers but has no usable SIM (removed, not inserted, failed: +CPIN: NOT READY, +CME ERROR 10
    or 13, ^SIMST: 255): it claims no work until the SIM is back."""

    code = "sim_missing"


class SimPinRequired(ModemError):
    """The SIM needs a PIN (or PUK) the config does not give: an operator must act."""

    code = "sim_pin_required"


class SendError(ModemError):
    """The modem refused one part. `error_code` is the modem's +CMS/+CME number when it gave one, `error_kind`
    which of the two ("CMS" or "CME")."""

    def __init__(self, message: str, *, error_code: int | None = None, error_kind: str = "CMS") -> None:
        super().__init__(message)
        self.error_code, self.error_kind = error_code, error_kind


class TemporarySendError(SendError):
    """Worth retrying later, on another modem where possible (network busy, no service, timeouts)."""

    code = "temporary_send_error"


class ModemFaultSendError(TemporarySendError):
    """The refusal is about the modem, its SIM or its network (no SIM, SIM busy, PIN wanted, no service), not the
    message: the message goes back to the queue without spending an attempt, and the modem is re-initialised."""

    code = "modem_fault"


class NoCreditSendError(ModemFaultSendError):
    """The network refuses our SIM's SMS (out of credit, barred, no SMS on its plan: +CMS ERROR 8, 10, 50): the
    message goes back unspent, and the SIM takes no work for `pool.no_credit_hold_s`."""

    code = "no_credit"


class PermanentSendError(SendError):
    """Retrying will not help (invalid destination, barred): fail the message now."""

    code = "permanent_send_error"


class ModemOffline(ModemError):
    """The modem named in a request is not online in this gateway now (it cannot take the request)."""

    code = "modem_offline"
    http_status = 503


class UssdError(ModemError):
    """The network or the modem refused a USSD code (unsupported, barred, not registered)."""

    code = "ussd_failed"
    http_status = 502


class UssdTimeout(ModemError, TimeoutError):
    """No answer to a USSD code in time: the modem was busy, or the network never answered."""

    code = "ussd_timeout"
    http_status = 504


class PortBusy(ModemUnavailable):
    """Another process holds the serial port (exclusive lock): most often the running gateway."""

    code = "port_busy"


# --- templates and consent ---------------------------------------------------------------------


class TemplateNotFound(NotFound):
    code = "template_not_found"


class RuleNotFound(NotFound):
    code = "rule_not_found"


class AlertNotFound(NotFound):
    code = "alert_not_found"


class ContactNotFound(NotFound):
    code = "contact_not_found"


class GroupNotFound(NotFound):
    code = "group_not_found"


class ContactExists(ConflictError):
    code = "contact_exists"


class GroupExists(ConflictError):
    code = "group_exists"


class UserExists(ConflictError):
    code = "user_exists"


class UserNotFound(NotFound):
    code = "user_not_found"


class AccountExists(ConflictError):
    code = "account_exists"


class AccountNotFound(NotFound):
    code = "account_not_found"


class TemplateExists(ConflictError):
    code = "template_exists"


class UnknownTemplate(ValidationError):
    """A send names a template that does not exist (or is not approved when approval is required)."""

    code = "unknown_template"
    http_status = 422


class TemplateNotApproved(ValidationError):
    code = "template_not_approved"
    http_status = 422


class TemplateParamsError(ValidationError):
    """A template parameter is missing or not one of the template's placeholders: `field` is params.<name>."""

    code = "invalid_template_params"
    http_status = 422


class RecipientOptedOut(ConflictError):
    code = "recipient_opted_out"


class OtpNotFound(NotFound):
    code = "otp_not_found"


class IdempotencyKeyReused(ValidationError):
    """The same Idempotency-Key (or client_ref) came with a different request."""

    code = "idempotency_key_reused"
    http_status = 422


class IdempotencyInProgress(ConflictError):
    """A request with this Idempotency-Key is still being answered: retry in a moment."""

    code = "idempotency_in_progress"


class BatchNotFound(NotFound):
    code = "batch_not_found"
