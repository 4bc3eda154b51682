"""The SOAP door (`views`, and the WSDL it serves, `smsgw.wsdl`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.doors import Door

if TYPE_CHECKING:
    from flask import Blueprint


def routes() -> Blueprint:
    """The door's views, imported when an app is built (reading the config needs none of them)."""
    from web.compat.soap.views import bp

    return bp


DOOR = Door("soap", routes=routes)
