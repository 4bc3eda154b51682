"""The network allowlist: a request from outside the configured CIDR ranges gets 403 before anything runs."""

from __future__ import annotations

import ipaddress

from flask import Flask, request

from web.errors import error_response


def init_app(app: Flask, allow_from: tuple[str, ...]) -> None:
    networks = [ipaddress.ip_network(cidr, strict=False) for cidr in allow_from]

    @app.before_request
    def only_from_allowed_networks():
        try:
            address = ipaddress.ip_address((request.remote_addr or "").split("%")[0])
        except ValueError:
            address = None
        if address is not None and address.version == 6 and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if address is None or not any(address in network for network in networks):
            return error_response(403, "address_not_allowed",
                                  f"requests from {request.remote_addr} are not allowed ([server] allow_from)")
        return None

    # first, before authentication, CSRF and everything else
    app.before_request_funcs.setdefault(None, []).remove(only_from_allowed_networks)
    app.before_request_funcs[None].insert(0, only_from_allowed_networks)
