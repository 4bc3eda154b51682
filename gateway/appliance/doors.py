"""The compatibility doors this gateway serves: the one place that names them (each is a package under
web/compat/). The CLI reads config sections through them without building the rest of the gateway."""

from __future__ import annotations

from gateway.doors import Doors


def gateway_doors() -> Doors:
    """The compatibility doors the gateway serves (`web/compat/<door>/`): the one place that names them."""
    from web.compat import android, kannel, soap, twilio

    return Doors(kannel.DOOR, soap.DOOR, twilio.DOOR, android.DOOR)
