"""Accounts (departments): their quotas and routes, and what each has used (gateway/rules/quota.py decides)."""

from __future__ import annotations

from datetime import datetime
from typing import Sequence

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.engine import Connection

from gateway.errors import AccountExists, AccountNotFound, said
from gateway.rules.quota import Use, day_start, month_start
from gateway.store.database import Database, once_more_after_a_race
from gateway.store.models import Account, AccountDay, ApiKey, Message, User, table

_accounts, _days = table(Account), table(AccountDay)
_ADD_TO_DAY = (update(_days)
               .where(_days.c.account_id == bindparam("p_account"), _days.c.day == bindparam("p_day"))
               .values(parts=_days.c.parts + bindparam("p_parts"), cost=_days.c.cost + bindparam("p_cost")))


class Accounts:
    """Verbs on accounts."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @once_more_after_a_race
    def add_account(self, name: str, *, per_day: int | None, per_month: int | None, budget: float | None,
                    routes: Sequence[str], now: datetime) -> Account:
        with self._db.write() as s:
            if s.scalar(select(Account.id).where(Account.name == name)) is not None:
                raise AccountExists(said("there is already an account %(name)r", name=name), field="name")
            account = Account(name=name, per_day=per_day, per_month=per_month, budget=budget,
                              routes=",".join(routes), created_at=now)
            s.add(account)
        return account

    def update_account(self, name: str, *, per_day: int | None, per_month: int | None, budget: float | None,
                       routes: Sequence[str]) -> Account:
        with self._db.write() as s:
            account = _named(s.scalars(select(Account).where(Account.name == name)).one_or_none(), name)
            account.per_day, account.per_month, account.budget = per_day, per_month, budget
            account.routes = ",".join(routes)
        return account

    def list_accounts(self) -> list[Account]:
        with self._db.read() as s:
            return list(s.scalars(select(Account).order_by(Account.name)))

    def get_account(self, name: str) -> Account:
        with self._db.read() as s:
            return _named(s.scalars(select(Account).where(Account.name == name)).one_or_none(), name)

    def account_by_id(self, account_id: int) -> Account | None:
        with self._db.read() as s:
            return s.get(Account, account_id)

    def remove_account(self, name: str) -> None:
        """Remove the account; its users and keys then count against none. Its messages keep its id."""
        with self._db.write() as s:
            account = _named(s.scalars(select(Account).where(Account.name == name)).one_or_none(), name)
            s.execute(update(ApiKey).where(ApiKey.account_id == account.id).values(account_id=None))
            s.execute(update(User).where(User.account_id == account.id).values(account_id=None))
            s.delete(account)

    def uses(self, account_ids: Sequence[int], now: datetime) -> dict[int, Use]:
        """What each account has used today and this month, in one read."""
        with self._db.read_core() as conn:
            return uses_of(conn, account_ids, now)

    def set_key_account(self, key_id: int, account_id: int | None) -> None:
        with self._db.write() as s:
            s.execute(update(ApiKey).where(ApiKey.id == key_id).values(account_id=account_id))


def use_of(conn: Connection, account_id: int, now: datetime, *, lock: bool = False) -> Use:
    """What the account has used today and this month. With `lock`, inside a write: the account's row is locked
    first, so that two sends counted against one account at once are counted one after the other (SQLite's
    writes take turns anyway)."""
    if lock:
        conn.execute(select(_accounts.c.id).where(_accounts.c.id == account_id).with_for_update())
    return uses_of(conn, [account_id], now)[account_id]


def uses_of(conn: Connection, account_ids: Sequence[int], now: datetime) -> dict[int, Use]:
    """What each of the accounts has used today and this month (nothing yet: a zero Use)."""
    if not account_ids:
        return {}
    today = day_start(now)
    rows = conn.execute(select(
        _days.c.account_id, func.coalesce(func.sum(_days.c.parts).filter(_days.c.day == today), 0),
        func.sum(_days.c.parts), func.sum(_days.c.cost))
        .where(_days.c.account_id.in_(account_ids), _days.c.day >= month_start(now))
        .group_by(_days.c.account_id)).all()
    used = {row[0]: Use(day_parts=int(row[1]), month_parts=int(row[2]), month_cost=float(row[3])) for row in rows}
    return {account_id: used.get(account_id, Use()) for account_id in account_ids}


def count_use(conn: Connection, account_id: int, now: datetime, parts: int, cost: float) -> None:
    """Inside the write that queues them (the account's row locked by `use_of`): messages of `parts` parts
    costing `cost` count against the account's day."""
    day = {"p_account": account_id, "p_day": day_start(now), "p_parts": parts, "p_cost": cost}
    if conn.execute(_ADD_TO_DAY, day).rowcount == 0:
        conn.execute(insert(_days).values(account_id=account_id, day=day_start(now), parts=parts, cost=cost))


def give_back(conn: Connection, message: Message) -> None:
    """Inside the write that cancels or expires `message` before it left: its parts and cost no longer count
    against its account's day."""
    if message.account_id is not None:
        conn.execute(_ADD_TO_DAY, {"p_account": message.account_id, "p_day": day_start(message.created_at),
                                   "p_parts": -message.part_count, "p_cost": -(message.cost or 0.0)})


def _named(account: Account | None, name: str) -> Account:
    if account is None:
        raise AccountNotFound(f"no account {name!r}", field="account")
    return account
