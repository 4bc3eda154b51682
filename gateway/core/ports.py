"""What the core's workers need from storage, each as a narrow `Protocol` (Gammu SMSD's storage services are
the model): the modem pool depends on `PoolStorage`, the webhook worker on `DeliveryStorage`. `gateway.store.Store`
provides both; a worker never sees the rest of the store.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Mapping, Protocol, Sequence

from gateway.errors import ModemNotFound
from gateway.modem.atlog import AtLine
from gateway.rules.claiming import ClaimLimits, Deferral
from gateway.values import DeliveryJob, DeliveryState, MessageState, ReceivedSms, SendJob, SentPart, StatusReport


if TYPE_CHECKING:
    from gateway.store.models import Modem

class OutboxPort(Protocol):
    """The outbox verbs of a modem's worker: claim, record each part's fate, release, and the queue's timers."""

    def claim_next(self, modem: str, now: datetime, lease_s: float, *, group: str,
                   cheaper_groups: Sequence[str] = (), submitting: bool = False,
                   pinned_only: bool = False, limits: ClaimLimits = ...) -> SendJob | None: ...

    def mark_part_submitting(self, job: SendJob, seq: int, modem: str, now: datetime,
                             lease_until: datetime | None = None) -> None: ...

    def hand_over(self, ahead: SendJob, modem: str, now: datetime, answered: SentPart | None, lease_s: float, *,
                  overtake: bool = False, group: str, cheaper_groups: Sequence[str] = (),
                  pinned_only: bool = False) -> SendJob: ...

    def record_part_sent(self, job: SendJob, seq: int, modem: str, reference: int, now: datetime) -> MessageState: ...

    def record_sent_claim_next(self, sent: SentPart, modem: str, now: datetime, lease_s: float, *, group: str,
                               cheaper_groups: Sequence[str] = (), pinned_only: bool = False) -> SendJob | None: ...

    def give_back(self, job: SendJob, modem: str, now: datetime) -> None: ...

    def record_sent_whole(self, job: SendJob, upstream: str, provider_id: str | None, now: datetime) -> None: ...

    def record_temporary_failure(self, job: SendJob, seq: int, modem: str, error_code: str, detail: str,
                                 retry_at: datetime, max_attempts: int, now: datetime) -> MessageState: ...

    def record_modem_fault(self, job: SendJob, seq: int, modem: str, error_code: str, detail: str,
                           now: datetime) -> None: ...

    def record_permanent_failure(self, job: SendJob, seq: int, modem: str, error_code: str, detail: str,
                                 now: datetime) -> None: ...

    def record_unknown(self, job: SendJob, seq: int, modem: str, detail: str, now: datetime) -> None: ...

    def release_claims(self, now: datetime, modem: str | None = None,
                       modems: Sequence[str] | None = None) -> tuple[int, int]: ...

    def release_expired(self, now: datetime) -> tuple[int, int, int]: ...

    def release_due(self, now: datetime) -> tuple[int, int]: ...

    def fail_over(self, now: datetime) -> int: ...

    def fail_stranded(self, now: datetime, wait_s: float) -> int: ...

    def next_due_at(self, modem: str, now: datetime, *, group: str,
                    limits: ClaimLimits = ...) -> datetime | None: ...

    def next_scheduled_at(self) -> datetime | None: ...


class InboxPort(Protocol):
    def record_received(self, modem: str, sms: ReceivedSms, now: datetime,
                        reply_since: datetime | None = None) -> Any: ...

    def quarantine(self, modem: str, memory: str, slot: int, pdu_hex: str, reason: str, now: datetime) -> Any: ...


class ReportsPort(Protocol):
    def record_status_report(self, modem: str, report: StatusReport, now: datetime) -> bool: ...


class ModemRecordsPort(Protocol):
    def save_modem(self, name: str, port: str, now: datetime, **fields: Any) -> Modem: ...


class SentPartsPort(Protocol):
    def parts_sent_since(self, modem: str, since: datetime) -> list[datetime]: ...


class ProbesPort(Protocol):
    def arrived(self, token: str, at_modem: str, now: datetime) -> Any: ...


class PoolStorage(Protocol):
    """Everything the modem pool reads and writes: its verbs in five areas."""

    @property
    def outbox(self) -> OutboxPort: ...

    @property
    def inbox(self) -> InboxPort: ...

    @property
    def reports(self) -> ReportsPort: ...

    @property
    def modems(self) -> ModemRecordsPort: ...

    @property
    def probes(self) -> ProbesPort: ...

    @property
    def request_counts(self) -> SentPartsPort: ...


class DeliveriesPort(Protocol):
    """The webhook worker's verbs on the event outbox."""

    def claim_deliveries(self, now: datetime, limit: int, lease_s: float) -> list[DeliveryJob]: ...

    def record_attempt(self, job: DeliveryJob, now: datetime, *, status_code: int | None, error: str | None,
                       duration_ms: float, outcome: DeliveryState, retry_at: datetime | None = None) -> None: ...

    def postpone_deliveries(self, delivery_ids: Sequence[int], until: datetime) -> None: ...

    def release_deliveries(self, now: datetime, *, at_start: bool = False) -> int: ...

    def next_delivery_due(self) -> datetime | None: ...


class SettingsPort(Protocol):
    def add_if_absent(self, key: str, value: str, now: datetime) -> str: ...


class DeliveryStorage(Protocol):
    """Everything the webhook worker reads and writes."""

    @property
    def events(self) -> DeliveriesPort: ...

    @property
    def settings(self) -> SettingsPort: ...


class PoolControl(Protocol):
    """What the service may ask of the modem pool running in this process."""

    def wake(self) -> None:
        """New work is committed."""

    def reset(self, name: str) -> bool:
        """Reconnect modem `name`; False when this process runs no such modem."""

    def ussd(self, name: str, code: str, timeout_s: float) -> str:
        """The network's answer to USSD `code`, asked on modem `name`'s own thread."""

    def at_log(self, name: str, limit: int) -> list[AtLine]:
        """Modem `name`'s last `limit` AT lines, oldest first (ModemNotFound when it does not run here)."""

    def defer(self, deferrals: Mapping[str, Deferral]) -> None:
        """Adaptive routing's verdict: the modems named are deferred, the others not."""

    def retune(self, row: Modem) -> bool:
        """Modem `row.name` takes up what an admin changed of it now; False when it does not run here."""


class NoPool:
    """For processes that run no modems (the CLI): work is found by the running gateway's idle poll."""

    def wake(self) -> None:
        pass

    def reset(self, name: str) -> bool:
        return False

    def ussd(self, name: str, code: str, timeout_s: float) -> str:
        raise ModemNotFound(f"no modem named {name!r} runs in this process", field="name")

    def at_log(self, name: str, limit: int) -> list[AtLine]:
        raise ModemNotFound(f"no modem named {name!r} runs in this process", field="name")

    def defer(self, deferrals: Mapping[str, Deferral]) -> None:
        pass

    def retune(self, row: Modem) -> bool:
        return False
