"""Accounts' quotas and routes, as pure rules: which limit a send meets and when it lifts, and where a message of an
account with routes may go."""

import pytest

from gateway.rules.quota import Quota, QuotaExceeded, Use, check, confine, may_use
from tests.clock import at

GROUPS = {"clinic1": "clinic", "clinic2": "clinic", "school1": "school", "backup": "default"}


def test_each_limit_is_met_in_turn_and_says_when_it_lifts():
    now = at(12, 31, 23, 30)
    check("clinic", Quota(per_day=10), Use(day_parts=8), 2, 0.0, now)  # exactly the limit is allowed
    with pytest.raises(QuotaExceeded) as day:
        check("clinic", Quota(per_day=10), Use(day_parts=9), 2, 0.0, now)
    assert (day.value.http_status, day.value.retry_after_s) == (429, 1800)
    with pytest.raises(QuotaExceeded) as month:  # December rolls over into January
        check("clinic", Quota(per_month=100), Use(month_parts=100), 1, 0.0, at(12, 1))
    assert month.value.retry_after_s == 31 * 86400
    with pytest.raises(QuotaExceeded) as budget:
        check("clinic", Quota(budget=10), Use(month_cost=9.5), 1, 0.6, now)
    assert budget.value.http_status == 402 and budget.value.code == "quota_exceeded"
    check("clinic", Quota(), Use(10**6, 10**6, 10.0**6), 1000, 1000.0, now)  # no limits: anything goes


def test_a_placement_outside_the_routes_goes_to_the_first_and_a_foreign_fallback_is_dropped():
    allowed = ["clinic", "backup"]
    assert confine({}, allowed, GROUPS) == {"via_modem": None, "route_group": "clinic", "fallback_group": None}
    assert confine({"via_modem": "clinic2"}, allowed, GROUPS)["via_modem"] == "clinic2"  # a modem of its group
    assert confine({"via_modem": "school1"}, allowed, GROUPS)["route_group"] == "clinic"
    assert confine({"route_group": "school"}, ["backup", "clinic"], GROUPS) == {
        "via_modem": "backup", "route_group": None, "fallback_group": None}  # "backup" names a modem
    assert confine({"route_group": "clinic", "fallback_group": "school"}, allowed, GROUPS)["fallback_group"] is None
    assert confine({"route_group": "school"}, [], GROUPS) == {"route_group": "school"}  # no routes: as it was
    assert may_use("clinic1", allowed, GROUPS) and not may_use("school", allowed, GROUPS)
