"""Inbound rules without code: replies, forwards, mail, webhooks and follow-up flags for received SMS, set up in
the page and the API (the conditions: gateway/rules/inbound.py).

Each received SMS is matched against the enabled rules in order (`on_event`, an observer of the committed
`message.received`); a matching rule with `stop` ends the run. What a matching rule does is committed first
(`gateway.store.inbound_rules.InboundRules.record_run`: the follow-up flag, durable deliveries to its mail
addresses and webhook), then its reply and forwards go through the normal enqueue path (validation, opt-out,
routing; a reply leaves from the modem the SMS came in on and is threaded to it): at most once each.

Loop guards: no reply or forward for an SMS from an alphanumeric sender (reply) or from one of the box's own
SIMs, none to the box's own SIMs, and at most `[messaging] rule_replies_per_hour` per sender.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Callable

from gateway.config import MessagingSettings
from gateway.core.mail import MAILTO
from gateway.core.messages import Messages
from gateway.core.outbound import CallbackDestinations
from gateway.core.webhooks import checked_target
from gateway.errors import GatewayError, ValidationError
from gateway.rules.inbound import Conditions, ReceivedFacts, check_conditions, check_template, fill, matches
from gateway.rules.numbers import takes_replies, to_e164
from gateway.store import Store
from gateway.store.models import InboundRule, RuleRun

log = logging.getLogger(__name__)

DEFAULT_FORWARD_TEXT = "From {from}: {text}"
RULE_FIELDS = ("name", "enabled", "stop", "keyword", "pattern", "senders", "sender_groups", "modem", "hours",
               "time_zone", "reply", "forward_to", "forward_text", "email_to", "webhook_url", "follow_up",
               "add_to_group", "remove_from_group")  # what a client sets
LIST_FIELDS = ("senders", "sender_groups", "forward_to", "email_to")  # stored comma-separated


def listed(stored: str) -> list[str]:
    """The items of a list field as stored ("" is none)."""
    return [item for item in stored.split(",") if item]


@dataclass(frozen=True)
class RuleVerdict:
    """What one rule makes of one SMS (the dry run's answer, and the run's plan)."""

    rule: InboundRule
    matched: bool
    reply: str | None = None
    forwards: tuple[str, ...] = ()
    forward_text: str | None = None
    notify: tuple[str, ...] = ()
    held: str | None = None  # why its reply and forwards do not go (a loop guard)
    join: str | None = None  # the contact group the sender joins
    leave: str | None = None  # the contact group the sender leaves

    @property
    def outcome(self) -> str:
        done = [f"reply {self.reply!r}" if self.reply else "", f"forward to {', '.join(self.forwards)}"
                if self.forwards else "", f"notify {', '.join(self.notify)}" if self.notify else "",
                "follow-up" if self.rule.follow_up else "", f"add to group {self.join}" if self.join else "",
                f"remove from group {self.leave}" if self.leave else ""]
        said = "; ".join(d for d in done if d) or "nothing"
        return f"{said} (replies held: {self.held})" if self.held else said


class InboundRuleService:
    def __init__(self, store: Store, settings: MessagingSettings, clock: Callable[[], datetime], messages: Messages,
                 destinations: CallbackDestinations, can_mail: Callable[[], bool]) -> None:
        self._store, self._settings, self._clock, self._messages = store, settings, clock, messages
        self._destinations, self._can_mail = destinations, can_mail

    # --- the rules ---------------------------------------------------------------------------------------------------

    def list_rules(self) -> list[InboundRule]:
        return self._store.inbound_rules.list_rules()

    def get_rule(self, uid: str) -> InboundRule:
        return self._store.inbound_rules.get_rule(uid)

    def add_rule(self, values: dict[str, Any], position: int | None = None) -> InboundRule:
        full = {"enabled": True, "stop": False, "keyword": None, "pattern": None, "senders": [], "sender_groups": [],
                "modem": None, "hours": None, "time_zone": "UTC", "reply": None, "forward_to": [],
                "forward_text": None, "email_to": [], "webhook_url": None, "follow_up": False, "add_to_group": None,
                "remove_from_group": None, **values}
        return self._store.inbound_rules.add_rule(self._checked(full), position, self._clock())

    def update_rule(self, uid: str, changes: dict[str, Any], position: int | None = None) -> InboundRule:
        """`changes` over the rule's current values (lists replaced whole), checked as a new rule's are."""
        current = self.get_rule(uid)
        values = {name: getattr(current, name) for name in RULE_FIELDS}
        values.update({name: listed(values[name]) for name in LIST_FIELDS})
        return self._store.inbound_rules.update_rule(uid, self._checked({**values, **changes}), position,
                                                     self._clock())

    def delete_rule(self, uid: str) -> None:
        self._store.inbound_rules.delete_rule(uid)

    def runs(self, uid: str, limit: int = 50) -> list[RuleRun]:
        self.get_rule(uid)
        return self._store.inbound_rules.list_runs(uid, limit)

    def _checked(self, values: dict[str, Any]) -> dict[str, Any]:
        """The columns of a rule from `values`, or ValidationError naming what is wrong."""
        name = values.get("name")
        if not isinstance(name, str) or not 0 < len(name.strip()) <= 100:
            raise ValidationError("name must be 1 to 100 characters", field="name")
        check_conditions(_conditions_of(values))
        for field in ("reply", "forward_text"):
            if values.get(field) is not None:
                if not values[field].strip():
                    raise ValidationError(f"{field} must not be empty (leave it out for none)", field=field)
                check_template(values[field], field)
        forward_to = [to_e164(n, self._settings, field="forward_to") for n in values["forward_to"]]
        for address in values["email_to"]:
            if "@" not in address or any(c in address for c in " ,<>\r\n"):
                raise ValidationError(f"email_to: {address!r} is not an email address", field="email_to")
        if values["email_to"] and not self._can_mail():
            raise ValidationError("email_to needs [email] smtp_host and from in the box's config", field="email_to")
        if values.get("webhook_url"):
            values["webhook_url"] = str(checked_target(values["webhook_url"], self._destinations,
                                                       field="webhook_url"))
        named = [(g, "sender_groups") for g in values["sender_groups"]] + [
            (values[f], f) for f in ("add_to_group", "remove_from_group") if values.get(f) is not None]
        if named:
            groups = self._store.contacts.group_names()
            for group, field in named:
                if group not in groups:
                    raise ValidationError(f"{field}: there is no contact group {group!r}", field=field)
        return {**values, "name": name.strip(), "senders": ",".join(values["senders"]),
                "sender_groups": ",".join(dict.fromkeys(values["sender_groups"])),
                "forward_to": ",".join(dict.fromkeys(forward_to)), "email_to": ",".join(values["email_to"])}

    # --- running them ------------------------------------------------------------------------------------------------

    def on_event(self, event_type: str, data: dict[str, Any]) -> None:
        """The observer of `message.received` (`Events.observe`): run the rules on each received SMS, once its
        record is committed."""
        for verdict in self.judge(_facts(data, self._clock()), apply_guards=True):
            if not verdict.matched:
                continue
            self._store.inbound_rules.record_run(
                verdict.rule, data["id"], data["from"], self._clock(),
                replied=bool((verdict.reply or verdict.forwards) and not verdict.held), outcome=verdict.outcome,
                resource=data, notify=verdict.notify, join=verdict.join, leave=verdict.leave)
            if not verdict.held:
                self._act(verdict, data)

    def judge(self, sms: ReceivedFacts, *, apply_guards: bool) -> list[RuleVerdict]:
        """What each enabled rule makes of `sms`, in order, up to the first matching rule with `stop` (the dry
        run of the page's test box has no guards: nothing was sent to anybody yet)."""
        verdicts: list[RuleVerdict] = []
        rules = [rule for rule in self.list_rules() if rule.enabled]
        own = self._own_numbers() if rules else set()  # a box without rules reads no more per SMS
        if any(rule.sender_groups for rule in rules):
            sms = replace(sms, groups=frozenset(self._store.contacts.groups_of(sms.sender)))
        for rule in rules:
            if not matches(_conditions_of_rule(rule), sms):
                verdicts.append(RuleVerdict(rule, matched=False))
                continue
            forwards = tuple(n for n in listed(rule.forward_to) if n not in own)
            reply = fill(rule.reply, sms) if rule.reply and takes_replies(sms.sender) else None
            held = self._held(sms, own) if apply_guards and (reply or forwards) else None
            notify = tuple(MAILTO + a for a in listed(rule.email_to)) + (
                (rule.webhook_url,) if rule.webhook_url else ())
            numbered = takes_replies(sms.sender)  # a contact is a number: an alphanumeric sender joins nothing
            verdicts.append(RuleVerdict(rule, True, reply, forwards,
                                        fill(rule.forward_text or DEFAULT_FORWARD_TEXT, sms) if forwards else None,
                                        notify, held, rule.add_to_group if numbered else None,
                                        rule.remove_from_group if numbered else None))
            if rule.stop:
                break
        return verdicts

    def _held(self, sms: ReceivedFacts, own: set[str]) -> str | None:
        if sms.sender in own:
            return "the SMS came from one of this box's own SIMs"
        sent = self._store.inbound_rules.replies_since(sms.sender, self._clock() - timedelta(hours=1))
        if sent >= self._settings.rule_replies_per_hour:
            return f"{sent} replies to {sms.sender} in the last hour (rule_replies_per_hour)"
        return None

    def _act(self, verdict: RuleVerdict, data: dict[str, Any]) -> None:
        try:
            if verdict.reply:
                self._messages.reply_to_inbound(data, verdict.reply)
            if verdict.forwards and verdict.forward_text:
                self._messages.send(list(verdict.forwards), verdict.forward_text)
        except GatewayError as exc:
            log.warning("rule %s (%s): not sent for %s: %s", verdict.rule.uid, verdict.rule.name, data["id"],
                        exc.message)

    def _own_numbers(self) -> set[str]:
        return {m.own_number for m in self._store.modems.list_modems() if m.own_number}


def _conditions_of(values: dict[str, Any]) -> Conditions:
    """The conditions in a rule's `values` as a client gives them (lists as lists)."""
    return Conditions(keyword=values.get("keyword"), pattern=values.get("pattern"),
                      senders=tuple(values.get("senders") or ()),
                      sender_groups=tuple(values.get("sender_groups") or ()), modem=values.get("modem"),
                      hours=values.get("hours"), time_zone=values.get("time_zone") or "UTC")


def _conditions_of_rule(rule: InboundRule) -> Conditions:
    return _conditions_of({name: listed(getattr(rule, name)) if name in LIST_FIELDS else getattr(rule, name)
                           for name in ("keyword", "pattern", "senders", "sender_groups", "modem", "hours",
                                        "time_zone")})


def _facts(data: dict[str, Any], now: datetime) -> ReceivedFacts:
    return ReceivedFacts(sender=data["from"], text=data["text"], modem=data["modem"], recipient=data.get("to"),
                         at=now)
