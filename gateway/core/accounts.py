"""Accounts (departments, tenants): their quotas and routes, who counts against them (API keys and users), and
what each has used. The quota is checked as messages queue (gateway/store/outbox.py, by gateway/rules/quota.py)
and the routes as they are placed (QueuePolicy.placements)."""

from __future__ import annotations

from datetime import datetime
from typing import Callable, Sequence

from gateway.errors import ValidationError, said
from gateway.rules import quota
from gateway.rules.checks import NAME, is_amount, is_count
from gateway.rules.quota import QuotaExceeded, Use
from gateway.store import Store
from gateway.store.models import Account, ApiKey

class AccountBook:
    """Verbs on accounts."""

    def __init__(self, store: Store, clock: Callable[[], datetime]) -> None:
        self._store, self._clock = store, clock

    def add_account(self, name: str, *, per_day: int | None = None, per_month: int | None = None,
                    budget: float | None = None, routes: Sequence[str] = ()) -> Account:
        if not isinstance(name, str) or not NAME.fullmatch(name.strip()):
            raise ValidationError(said("an account name is 1 to 64 letters, digits, '.', '_' or '-'"), field="name")
        per_day, per_month, budget, routes = _checked(per_day, per_month, budget, routes)
        return self._store.accounts.add_account(name.strip(), per_day=per_day, per_month=per_month, budget=budget,
                                                routes=routes, now=self._clock())

    def update_account(self, name: str, *, per_day: int | None = None, per_month: int | None = None,
                       budget: float | None = None, routes: Sequence[str] = ()) -> Account:
        """Set every limit and the routes (None: no limit; no routes: any)."""
        per_day, per_month, budget, routes = _checked(per_day, per_month, budget, routes)
        return self._store.accounts.update_account(name, per_day=per_day, per_month=per_month, budget=budget,
                                                   routes=routes)

    def remove_account(self, name: str) -> None:
        self._store.accounts.remove_account(name)

    def list_accounts(self) -> list[tuple[Account, Use]]:
        """Every account with what it has used today and this month."""
        accounts = self._store.accounts.list_accounts()
        uses = self._store.accounts.uses([a.id for a in accounts], self._clock())
        return [(a, uses[a.id]) for a in accounts]

    def get_account(self, name: str) -> tuple[Account, Use]:
        """The account and what it has used today and this month."""
        account = self.account_named(name)
        return account, self._use(account)

    def account_named(self, name: str) -> Account:
        """The account `name` (AccountNotFound when there is none)."""
        return self._store.accounts.get_account(name)

    def headroom(self, account: Account, parts: int, cost: float) -> tuple[Use, QuotaExceeded | None]:
        """What `account` has used of its quota now, and the refusal `parts` more SMS parts costing `cost` would
        meet (None: they fit). The send itself is counted again as it queues."""
        use = self._use(account)
        try:
            quota.check(account.name, account.quota, use, parts, cost, self._clock())
        except QuotaExceeded as exc:
            return use, exc
        return use, None

    def of_key(self, api_key: ApiKey) -> Account | None:
        """The account an API key's sends count against, whose messages and campaigns are all it sees."""
        return charged(self._store, api_key, None)

    def of_user(self, username: str) -> Account | None:
        """The account user `username`'s sends count against (None: none, or no such user)."""
        user = self._store.users.get_user(username)
        if user is None or user.account_id is None:
            return None
        return self._store.accounts.account_by_id(user.account_id)

    def assign_key(self, key_id: int, name: str | None) -> None:
        """API key `key_id`'s sends count against account `name` from now on (None: against none)."""
        self._store.keys.get_key(key_id)
        self._store.accounts.set_key_account(key_id, self._id_of(name))

    def _use(self, account: Account) -> Use:
        return self._store.accounts.uses([account.id], self._clock())[account.id]

    def _id_of(self, name: str | None) -> int | None:
        return None if name is None else self.account_named(name).id


def charged(store: Store, api_key: ApiKey | None, account: Account | None) -> Account | None:
    """The account a send counts against: the one given (a person's, from the pages), else the API key's."""
    if account is not None or api_key is None or api_key.account_id is None:
        return account
    return store.accounts.account_by_id(api_key.account_id)


def _checked(per_day: int | None, per_month: int | None, budget: float | None,
             routes: Sequence[str]) -> tuple[int | None, int | None, float | None, list[str]]:
    for field, value in (("per_day", per_day), ("per_month", per_month)):
        if value is not None and not is_count(value):
            raise ValidationError(f"{field} must be a whole number of SMS parts, 0 or more", field=field)
    if budget is not None and not is_amount(budget):
        raise ValidationError("budget must be a number of cost units, 0 or more", field="budget")
    if isinstance(routes, str) or not all(isinstance(r, str) and NAME.fullmatch(r) for r in routes):
        raise ValidationError(said("routes are names of modems, modem groups or upstreams"), field="routes")
    return per_day, per_month, None if budget is None else float(budget), list(dict.fromkeys(routes))
