"""The modems as the operator sees them: their recorded state, what an admin changes of their config while the box
runs, a reset, a USSD request, the AT log."""

from __future__ import annotations

import logging
import re

from gateway.core.ports import PoolControl
from gateway.errors import ModemNotFound, ValidationError, said
from gateway.modem.atlog import AT_LOG_LINES, AtLine
from gateway.rules.checks import NAME, is_amount, is_count
from gateway.store import Store
from gateway.store.models import Modem

log = logging.getLogger(__name__)

USSD_CODE = re.compile(r"^[0-9*#+]{1,40}$")


class ModemControl:
    """Verbs on modems; what needs the modem itself is handed to its worker through `pool`."""

    def __init__(self, store: Store, pool: PoolControl, ussd_timeout_s: float) -> None:
        self._store, self._pool, self._ussd_timeout_s = store, pool, ussd_timeout_s

    def list_modems(self) -> list[Modem]:
        return self._store.modems.list_modems()

    def change_modem(self, name: str, *, label: str | None = None, group: str | None = None,
                     cost: float | None = None, max_per_minute: int | None = None,
                     max_per_hour: int | None = None) -> Modem:
        """Set what an admin changes of modem `name` over its `[[modems]]` config, every field (None: the
        config's): the name people see, its routing group, its cost per SMS, its SIM plan's caps. Its worker takes
        them up at once here, at its next health poll on another box. ValidationError naming the field."""
        label = label.strip() or None if isinstance(label, str) else None
        if label is not None and len(label) > 64:
            raise ValidationError(said("a modem's label is at most 64 characters"), field="label")
        if group is not None and not NAME.fullmatch(group):
            raise ValidationError(said("a group is 1 to 64 letters, digits, '.', '_' or '-'"), field="group")
        if cost is not None and not is_amount(cost):
            raise ValidationError(said("cost must be a number, 0 or more"), field="cost")
        for field, cap in (("max_per_minute", max_per_minute), ("max_per_hour", max_per_hour)):
            if cap is not None and not is_count(cap):
                raise ValidationError(said("%(field)s must be a whole number, 0 or more (0: no limit)", field=field),
                                      field=field)
        row = self._store.modems.change_modem(name, {
            "label": label, "changed_group": group, "changed_cost": None if cost is None else float(cost),
            "changed_per_minute": max_per_minute, "changed_per_hour": max_per_hour})
        self._pool.retune(row)
        return row

    def reset_modem(self, name: str) -> None:
        """Close and reopen a modem (it re-initialises; work it held goes back to the queue)."""
        if not self._pool.reset(name):
            raise ModemNotFound(f"no modem named {name!r} runs in this gateway", field="name")

    def at_log(self, name: str, limit: int) -> list[AtLine]:
        """What modem `name` and this box last said to each other (redacted), oldest first."""
        return self._pool.at_log(name, max(1, min(limit, AT_LOG_LINES)))

    def ussd(self, name: str, code: str, timeout_s: float | None = None) -> str:
        """Send a USSD code (e.g. "*100#") on modem `name` and return the network's answer. The modem's own
        worker does the exchange; this waits for it (UssdTimeout when it does not come in time)."""
        code = (code or "").strip()
        if not USSD_CODE.match(code):
            raise ValidationError("'code' must be a USSD code of digits, '*', '#' and '+' (e.g. \"*100#\")",
                                  field="code")
        return self._pool.ussd(name, code, self._ussd_timeout_s if timeout_s is None else timeout_s)
