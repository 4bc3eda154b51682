"""Accounts (departments): quotas, routes and what each has used; which account an API key counts against."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, TypedDict

from flask import Blueprint, request

from gateway.representations import time_json
from gateway.rules import checks
from gateway.rules.quota import Use
from web.api.access import requires, service
from web.api.openapi import operation
from web.schemas import Request, decode, doc

if TYPE_CHECKING:
    from gateway.store.models import Account as AccountRow

bp = Blueprint("accounts", __name__, url_prefix="/api/v1")

NAME = doc(pattern=f"^{checks.NAME.pattern}$")
PARTS = doc("SMS parts; null: no limit", minimum=0)


class AccountLimits(Request):
    """An account's limits and routes, all of them (a PUT sets every one: one left out is lifted)."""

    per_day: Annotated[int | None, PARTS] = None
    per_month: Annotated[int | None, PARTS] = None
    budget: Annotated[float | None, doc("cost units a calendar month (UTC); null: no limit", minimum=0)] = None
    routes: Annotated[list[str], doc("modems, modem groups or upstreams its messages may leave by (the first "
                                     "is where others go); empty: any")] = []


class AccountRequest(AccountLimits, kw_only=True):
    name: Annotated[str, NAME]


class KeyAccount(Request):
    account: Annotated[str | None, doc("the account's name; null: none")]


class AccountUse(TypedDict):
    today: Annotated[int, doc("SMS parts accepted today (UTC)")]
    this_month: Annotated[int, doc("SMS parts accepted this calendar month (UTC)")]
    cost_this_month: float


class Account(TypedDict):
    name: str
    per_day: int | None
    per_month: int | None
    budget: float | None
    routes: list[str]
    used: AccountUse
    created_at: str


class AccountList(TypedDict):
    accounts: list[Account]


def account_json(account: AccountRow, use: Use) -> Account:
    return {"name": account.name, "per_day": account.per_day, "per_month": account.per_month,
            "budget": account.budget, "routes": account.route_list,
            "used": {"today": use.day_parts, "this_month": use.month_parts,
                     "cost_this_month": round(use.month_cost, 4)},
            "created_at": time_json(account.created_at)}


@bp.post("/accounts")
@operation("Add an account with its quota and routes (admin)", Account, status=201, body=AccountRequest,
           errors=(400, 409))
@requires("admin")
def add_account():
    new = decode(request.get_data(cache=False), AccountRequest)
    account = service().accounts.add_account(new.name, per_day=new.per_day, per_month=new.per_month,
                                              budget=new.budget, routes=new.routes)
    return (account_json(account, Use()), 201,
            {"Location": f"{bp.url_prefix}/accounts/{account.name}"})


@bp.get("/accounts")
@operation("Accounts, with what each has used today and this month (admin)", AccountList)
@requires("admin")
def list_accounts():
    return {"accounts": [account_json(a, u) for a, u in service().accounts.list_accounts()]}


@bp.get("/accounts/<name>")
@operation("An account and its use (admin)", Account, errors=(404,))
@requires("admin")
def get_account(name: str):
    return account_json(*service().accounts.get_account(name))


@bp.put("/accounts/<name>")
@operation("Set an account's quota and routes, all of them (admin)", Account, body=AccountLimits, errors=(400, 404))
@requires("admin")
def update_account(name: str):
    change = decode(request.get_data(cache=False), AccountLimits)
    service().accounts.update_account(name, per_day=change.per_day, per_month=change.per_month,
                                      budget=change.budget, routes=change.routes)
    return account_json(*service().accounts.get_account(name))


@bp.delete("/accounts/<name>")
@operation("Remove an account: its keys and users then count against none (admin)", status=204, errors=(404,))
@requires("admin")
def delete_account(name: str):
    service().accounts.remove_account(name)
    return "", 204


@bp.put("/keys/<int:key_id>/account")
@operation("Which account an API key's sends count against (admin)", status=204, body=KeyAccount, errors=(400, 404))
@requires("admin")
def set_key_account(key_id: int):
    change = decode(request.get_data(cache=False), KeyAccount)
    service().accounts.assign_key(key_id, change.account)
    return "", 204
