"""Every route of the whole app (API, pages, every compatibility door) answers one URL and method alone: a page
that takes a door's path (say GET /messages/<id>, the SMS Gateway for Android client's) would quietly answer its
clients with HTML."""

from __future__ import annotations

import re
from collections import defaultdict

from gateway.appliance.doors import gateway_doors
from web import create_app


def test_no_two_routes_answer_the_same_url_and_method(settings, service):
    app = create_app(settings, service, gateway_doors())
    seen: dict[tuple[str, str], list[str]] = defaultdict(list)
    for rule in app.url_map.iter_rules():
        shape = re.sub(r"<[^>]+>", "<>", rule.rule)  # /messages/<uid> and /messages/<message_id> are one URL
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            seen[(method, shape)].append(rule.endpoint)
    assert {key: endpoints for key, endpoints in seen.items() if len(endpoints) > 1} == {}
