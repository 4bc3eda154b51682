"""PostgreSQL stops mid-run and comes back (a restart, a crash, a failover's gap): the API answers 503
`store_unavailable` meanwhile, never a 500 and never a hang; the modems stay open and no message is failed;
everything resumes by itself soon after the database returns; nothing accepted is lost or sent twice."""

from __future__ import annotations

import collections
import dataclasses
import time

import pytest
import requests

from gateway.config import DatabaseSettings, ModemSettings, SecuritySettings
from tests.conftest import wait_until

OUTAGE_S = 3.0


@pytest.fixture
def cluster():
    from tests.pg import PostgresCluster, pg_available

    if reason := pg_available():
        pytest.skip(reason)
    # a server of its own (the session's is shared by other tests), durable: with fsync off, an immediate stop
    # (a crash) would lose commits that any real server keeps
    with PostgresCluster.start(durable=True) as pg:
        yield pg


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_a_postgresql_restart_mid_run_loses_and_doubles_nothing(settings, cluster, modem_links, tmp_path, mode):
    from gateway.appliance.runtime import Gateway
    from gateway.rules.apikeys import SCOPES

    fakes = modem_links(2, latency_ms=50)
    box = settings.replace(database=DatabaseSettings(url=cluster.create_database()),
                           security=SecuritySettings(key_file=str(tmp_path / "box.key")),
                           modems=tuple(ModemSettings(name=f"m{i}", port=f.link) for i, f in enumerate(fakes, 1)))
    gateway = Gateway(box).start()
    try:
        base = f"http://127.0.0.1:{gateway.port}/api/v1"
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {gateway.service.keys.create_key('t', list(SCOPES))[1]}"
        wait_until(lambda: {m.state.value for m in gateway.service.modems.list_modems()} == {"online"})
        accepted = []
        for start in range(0, 60, 5):  # the test config's max_recipients
            answer = http.post(f"{base}/messages", json={"to": [f"+4479111{i:05d}" for i in range(start, start + 5)],
                                                         "body": "through the outage"}, timeout=10)
            accepted += [m["id"] for m in answer.json()["messages"]]
        wait_until(lambda: sum(len(f.sent) for f in fakes) >= 5)

        cluster.stop_server(mode)
        asked = time.monotonic()
        during = http.post(f"{base}/messages", json={"to": "+447911199999", "body": "x"}, timeout=30)
        answered_s = time.monotonic() - asked
        assert during.status_code == 503 and during.json()["error"]["code"] == "store_unavailable"
        assert answered_s < 10, answered_s
        assert http.get(f"{base}/messages", timeout=30).status_code == 503
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - asked)))
        sent_before = sum(len(f.sent) for f in fakes)
        cluster.start_server()
        back = time.monotonic()

        def resumed() -> bool:
            return http.get(f"{base}/messages", timeout=10).status_code == 200
        wait_until(resumed, timeout_s=30)
        api_back_s = time.monotonic() - back
        wait_until(lambda: sum(len(f.sent) for f in fakes) > sent_before, timeout_s=60)
        sending_back_s = time.monotonic() - back
        def states() -> collections.Counter[str]:
            return collections.Counter(http.get(f"{base}/messages/{uid}", timeout=10).json().get("state", "?")
                                       for uid in accepted)

        settled = wait_until(lambda: (c := states()) and c["sent"] + c["unknown"] == len(accepted) and c,
                             timeout_s=60)
        on_air = collections.Counter(s.number for f in fakes for s in f.sent)
        assert max(on_air.values()) == 1 and settled["unknown"] <= len(fakes)  # nothing twice, nothing lost
        print(f"PostgreSQL {mode} stop for {OUTAGE_S:g} s: the API 503 in {answered_s * 1000:.0f} ms; after it "
              f"returned: API {api_back_s:.1f} s, modems sending {sending_back_s:.1f} s; unknown {settled['unknown']}")
    finally:
        gateway.stop()
