"""A small client of the gateway's HTTP API for end-to-end tests (real HTTP, requests)."""

import requests

from tests.conftest import wait_until


class Api:
    def __init__(self, gateway, token):
        self.base = f"http://127.0.0.1:{gateway.port}/api/v1"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def send(self, to, body, **extra):
        response = self.session.post(f"{self.base}/messages", json={"to": to, "body": body, **extra}, timeout=10)
        assert response.status_code == 202, response.text
        return response.json()

    def message(self, uid):
        return self.session.get(f"{self.base}/messages/{uid}", timeout=10).json()

    def wait_state(self, uid, *states, timeout_s=15):
        return wait_until(lambda: (m := self.message(uid))["state"] in states and m, timeout_s)

    def inbox(self):
        return self.session.get(f"{self.base}/inbox", timeout=10).json()["messages"]

    def quarantine(self):
        return self.session.get(f"{self.base}/inbox/quarantine", timeout=10).json()["messages"]

    def modems(self):
        return {m["name"]: m for m in self.session.get(f"{self.base}/modems", timeout=10).json()["modems"]}
