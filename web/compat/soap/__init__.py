"""The SOAP door (`views`, and the WSDL it serves, `smsgw.wsdl`)."""

from gateway.doors import Door
from web.compat.soap import views

DOOR = Door("soap", routes=views.bp)
