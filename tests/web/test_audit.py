"""The audit trail: every admin action with who, what, from where and when; GET /api/v1/audit (admin)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.web.test_status_page import csrf_of, log_in, post


def actions(client, auth) -> list[tuple[str, str, str | None, str | None]]:
    body = client.get("/api/v1/audit", headers=auth).get_json()
    return [(e["actor"], e["action"], e["target"], e["remote_addr"]) for e in reversed(body["entries"])]


def test_api_admin_actions_are_audited_with_the_keys_name(client, auth, service):
    [message] = service.messages.send("+447911123456", "to cancel")
    assert client.delete(f"/api/v1/messages/{message.uid}", headers=auth).status_code == 200
    hook = client.post("/api/v1/webhooks", headers=auth,
                       json={"url": "http://127.0.0.1:9/hook", "events": ["message.sent"]}).get_json()
    assert client.delete(f"/api/v1/webhooks/{hook['id']}", headers=auth).status_code == 204
    assert client.delete("/api/v1/webhooks/nope", headers=auth).status_code == 404  # refused: not audited
    assert actions(client, auth) == [
        ("test-admin", "message.cancelled", message.uid, "127.0.0.1"),
        ("test-admin", "webhook.added", hook["id"], "127.0.0.1"),
        ("test-admin", "webhook.deleted", hook["id"], "127.0.0.1"),
    ]
    entry = client.get("/api/v1/audit?limit=1", headers=auth).get_json()
    assert entry["entries"][0]["at"].endswith("Z") and entry["next_cursor"]


def test_status_page_logins_and_actions_are_audited_as_admin(client, auth, service, admin_password):
    assert log_in(client, "wrong").status_code == 401
    assert log_in(client).status_code == 302
    client.csrf = csrf_of(client)
    [message] = service.messages.send("+447911123456", "to cancel")
    post(client, f"/status/messages/{message.uid}/cancel")
    post(client, f"/status/messages/{message.uid}/cancel")  # refused the second time: not audited
    post(client, "/status/keys", name="ops", scopes="read")
    key_id = next(k.id for k in service.keys.list_keys() if k.name == "ops")
    post(client, f"/status/keys/{key_id}/revoke")
    assert [(a, b, c) for a, b, c, _ in actions(client, auth)] == [
        ("admin", "login.failed", None), ("admin", "login.succeeded", None),
        ("admin", "message.cancelled", message.uid), ("admin", "key.created", "ops"),
        ("admin", "key.revoked", str(key_id))]


def test_audit_needs_the_admin_scope(client, service):
    token = service.keys.create_key("reader", ["read", "send"])[1]
    assert client.get("/api/v1/audit", headers={"Authorization": f"Bearer {token}"}).status_code == 403
    assert client.get("/api/v1/audit").status_code == 401


def test_cli_key_actions_are_audited(tmp_path, settings):
    env = {**os.environ, "SMSGW_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}

    def run(*args):
        done = subprocess.run([sys.executable, "-m", "gateway", *args], env=env, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr

    run("keys", "create", "--name", "a")
    run("keys", "rotate", "1", "--overlap", "1h")
    run("keys", "revoke", "2")
    from gateway.store import Store

    store = Store.from_url(env["SMSGW_DATABASE_URL"])
    try:
        assert [(e.actor, e.action, e.target) for e in reversed(store.audit.list_audit())] == [
            ("cli", "key.created", "1"), ("cli", "key.rotated", "1"), ("cli", "key.revoked", "2")]
    finally:
        store.close()
