"""HTTPS: `smsgw tls selfsigned` makes a certificate, `smsgw run` serves it, HSTS and a Secure cookie."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys

import pytest
import requests

from gateway.appliance.runtime import Gateway
from gateway.appliance.tls import make_selfsigned
from gateway.clock import utcnow
from gateway.config import ServerSettings
from gateway.errors import ConfigError
from gateway.rules.apikeys import SCOPES


@pytest.fixture
def tls_gateway(settings, tmp_path):
    cert, key = make_selfsigned(tmp_path / "tls", "smsgw-test", now=utcnow())  # TLS clients check the wall clock
    tls_settings = settings.replace(server=ServerSettings(host="127.0.0.1", port=0, threads=4,
                                                          tls_cert=str(cert), tls_key=str(key)))
    gateway = Gateway(tls_settings).start()
    yield gateway, cert
    gateway.stop()


def test_run_serves_https_with_the_selfsigned_certificate(tls_gateway, admin_password):
    gateway, cert = tls_gateway
    token = gateway.service.keys.create_key("tls", list(SCOPES))[1]
    base = f"https://127.0.0.1:{gateway.port}"
    response = requests.get(f"{base}/api/v1/modems", headers={"Authorization": f"Bearer {token}"},
                            verify=str(cert), timeout=10)
    assert response.status_code == 200 and response.json()["modems"] == []
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    with pytest.raises(requests.exceptions.SSLError):  # not trusted without the certificate
        requests.get(f"{base}/api/v1/modems", timeout=10)
    try:  # plain HTTP on the TLS port is no way round it: refused, never served
        plain = requests.get(f"http://127.0.0.1:{gateway.port}/api/v1/modems", timeout=10)
        assert plain.status_code == 400
    except requests.ConnectionError:
        pass
    session = requests.Session()  # verify per request: $REQUESTS_CA_BUNDLE would override session.verify
    page = session.get(f"{base}/login", timeout=10, verify=str(cert))
    import re

    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    data = {"password": admin_password, **({"csrf_token": csrf[1]} if csrf else {})}
    login = session.post(f"{base}/login", data=data, allow_redirects=False, timeout=10,
                         verify=str(cert))
    assert login.status_code in (302, 303), login.text
    cookie = next(c for c in session.cookies if c.name == "smsgw_session")
    assert login.status_code in (302, 303) and cookie.secure
    assert "secure" in login.headers["Set-Cookie"].lower()


def test_plain_http_has_no_hsts(client, auth):
    assert "Strict-Transport-Security" not in client.get("/api/v1/modems", headers=auth).headers


def test_tls_cert_and_key_go_together():
    with pytest.raises(ConfigError):
        ServerSettings(tls_cert="/etc/smsgw/smsgw.crt")


def test_cli_makes_a_certificate_for_the_hostname(tmp_path):
    done = subprocess.run([sys.executable, "-m", "gateway", "tls", "selfsigned", "--out", str(tmp_path),
                           "--hostname", "sms.example.lan"], capture_output=True, text=True, timeout=60,
                          env=os.environ)
    assert done.returncode == 0, done.stderr
    assert "tls_cert" in done.stdout and (tmp_path / "smsgw.key").stat().st_mode & 0o077 == 0
    from cryptography import x509

    cert = x509.load_pem_x509_certificate((tmp_path / "smsgw.crt").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "sms.example.lan" in names.get_values_for_type(x509.DNSName)
    ssl.create_default_context(cafile=str(tmp_path / "smsgw.crt"))  # loads as a trust anchor
