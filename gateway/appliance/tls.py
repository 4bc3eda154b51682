"""HTTPS for `smsgw run`: a self-signed certificate for the box, and the server that speaks TLS.

waitress has no TLS (its docs send you to a proxy; its listening socket cannot be wrapped), so when
`[server] tls_cert` and `tls_key` are set the app is served by cheroot (CherryPy's WSGI server) with its
builtin `ssl` adapter instead. Plain HTTP stays on waitress.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication


def make_selfsigned(out_dir: str | Path, hostname: str | None = None, *, now: datetime,
                   days: int = 3650) -> tuple[Path, Path]:
    """Write `<out_dir>/smsgw.crt` and `smsgw.key` (EC P-256, mode 0600) for `hostname` (default: this
    box's name), valid for `days` from `now`, with the name, "localhost", 127.0.0.1 and ::1 as subject alt names."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    hostname = hostname or socket.gethostname()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in dict.fromkeys([hostname, "localhost"])]
    names += [x509.IPAddress(ipaddress.ip_address(a)) for a in ("127.0.0.1", "::1")]
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = out / "smsgw.crt", out / "smsgw.key"
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


class HttpsServer:
    """The HttpServer interface (port, start, stop) over cheroot with its builtin ssl adapter."""

    def __init__(self, app: WSGIApplication, host: str, port: int, threads: int, cert: str, key: str) -> None:
        from cheroot import wsgi
        from cheroot.ssl.builtin import BuiltinSSLAdapter

        self._server = wsgi.Server((host, port), app, numthreads=threads, timeout=60,
                                   server_name="smsgw")
        self._server.ssl_adapter = BuiltinSSLAdapter(cert, key)
        self._server.prepare()  # binds now: the port is known and a bad certificate fails here, not later
        self._thread = threading.Thread(target=self._server.serve, name="https", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.bind_addr[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._thread.is_alive():
            self._server.stop()
            self._thread.join(timeout_s)
