"""The SOAP door: SOAP 1.1, document/literal wrapped, described by the committed `smsgw.wsdl` (served at
`GET /soap?wsdl` with the service address of the request). Envelopes are parsed and built with lxml
(no SOAP framework: spyne does not import on Python 3.12+).

Credentials: WS-Security UsernameToken (PasswordText) or HTTP Basic; user name = the API key's name,
password = the key's token. Errors are SOAP faults whose detail holds our error code (`GatewayFault`)."""

from __future__ import annotations

import logging
import re
from datetime import datetime
from pathlib import Path

from flask import Blueprint, Response, request
from lxml import etree

from gateway.errors import GatewayError, StoreUnavailable, ValidationError
from gateway.representations import PRIORITY_NAMES, time_json
from gateway.store.models import InboxMessage, Message
from gateway.values import MessageState
from web.api import service

log = logging.getLogger(__name__)
bp = Blueprint("soap", __name__)

TNS = "urn:smsgw:soap:1"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSDL_NS = {"wsdl": "http://schemas.xmlsoap.org/wsdl/", "soap": "http://schemas.xmlsoap.org/wsdl/soap/"}
WSDL_PATH = Path(__file__).with_name("smsgw.wsdl")
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_blank_text=True)
CONTENT_TYPE = "text/xml; charset=utf-8"


class Fault(Exception):
    """A SOAP fault: `client` faults are the caller's to fix (soap:Client), others soap:Server."""

    def __init__(self, code: str, message: str, *, field: str | None = None, client: bool = True) -> None:
        super().__init__(message)
        self.code, self.message, self.field, self.client = code, message, field, client


def _q(name: str) -> str:
    return f"{{{TNS}}}{name}"


# --- the WSDL --------------------------------------------------------------------------------------


def wsdl_document(address: str) -> bytes:
    tree = etree.parse(str(WSDL_PATH), PARSER)
    for node in tree.iterfind(".//wsdl:service/wsdl:port/soap:address", WSDL_NS):
        node.set("location", address)
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")


@bp.get("/soap")
def wsdl():
    if "wsdl" not in {k.lower() for k in request.args}:
        return Response("POST SOAP 1.1 envelopes here; the WSDL is at ?wsdl\n", status=405,
                        content_type="text/plain; charset=utf-8", headers={"Allow": "GET, POST"})
    return Response(wsdl_document(request.host_url.rstrip("/") + "/soap"), content_type=CONTENT_TYPE)


# --- requests ----------------------------------------------------------------------------------------


@bp.post("/soap")
def endpoint():
    try:
        operation, arguments, credentials = parse_envelope(request.get_data(cache=False))
        handler = OPERATIONS.get(operation)
        if handler is None:
            raise Fault("unknown_operation", f"no operation {operation!r} in {TNS}")
        scope, run = handler
        username, password = credentials or _basic()
        key = service().keys.authenticate_pair(username, password, scope)
        body = run(arguments, key)
    except Fault as fault:
        return fault_response(fault)
    except GatewayError as exc:
        if isinstance(exc, ValidationError) or exc.http_status < 500:
            return fault_response(Fault(exc.code, exc.message, field=exc.field))
        if not isinstance(exc, StoreUnavailable):
            log.exception("SOAP operation failed")
        return fault_response(Fault(exc.code, exc.message, field=exc.field, client=False))
    return Response(envelope(body), content_type=CONTENT_TYPE)


def parse_envelope(raw: bytes) -> tuple[str, etree._Element, tuple[str | None, str | None] | None]:
    """(operation name, its wrapper element, (user, password) of a UsernameToken or None)."""
    try:
        root = etree.fromstring(raw, PARSER)
    except etree.XMLSyntaxError as exc:
        raise Fault("invalid_xml", f"the request is not well-formed XML: {exc}") from None
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise Fault("invalid_envelope", "the request is not a SOAP 1.1 Envelope")
    body = root.find(f"{{{SOAP_ENV}}}Body")
    if body is None or len(body) != 1 or not isinstance(body[0].tag, str):
        raise Fault("invalid_envelope", "the SOAP Body must hold exactly one operation element")
    wrapper = body[0]
    namespace, _, name = wrapper.tag[1:].partition("}") if wrapper.tag.startswith("{") else ("", "", wrapper.tag)
    if namespace != TNS:
        raise Fault("unknown_operation", f"operations are in namespace {TNS}")
    token = root.find(f"{{{SOAP_ENV}}}Header/{{{WSSE}}}Security/{{{WSSE}}}UsernameToken")
    credentials = None
    if token is not None:
        password = token.find(f"{{{WSSE}}}Password")
        if password is not None and (password.get("Type") or "").endswith("#PasswordDigest"):
            raise Fault("unauthorized", "use a PasswordText UsernameToken (the token is not stored)")
        credentials = (token.findtext(f"{{{WSSE}}}Username"), None if password is None else password.text)
    return name, wrapper, credentials


def _basic() -> tuple[str | None, str | None]:
    auth = request.authorization
    if auth is None or auth.type != "basic":
        return None, None
    return auth.username, auth.password


def _texts(wrapper, name: str) -> list[str]:
    return [child.text or "" for child in wrapper.iterfind(_q(name))]


def _text(wrapper, name: str, *, required: bool = False) -> str | None:
    values = _texts(wrapper, name)
    if len(values) > 1:
        raise Fault("invalid_request", f"{name!r} is given more than once", field=name)
    if required and not values:
        raise Fault("invalid_request", f"{name!r} is required", field=name)
    return values[0] if values else None


BOOLEANS = ("true", "false", "1", "0")


def _boolean(wrapper, name: str) -> bool | None:
    value = _text(wrapper, name)
    if value is None:
        return None
    if value.strip() not in BOOLEANS:
        raise Fault("invalid_request", f"{name!r} must be an xsd:boolean", field=name)
    return value.strip() in ("true", "1")


def _known(wrapper, *names: str) -> None:
    for child in wrapper:
        if isinstance(child.tag, str) and child.tag not in {_q(n) for n in names}:
            raise Fault("invalid_request", f"unknown element {child.tag}", field=etree.QName(child).localname)


def send_sms(wrapper, key) -> etree._Element:
    """The options of POST /api/v1/messages, camelCased (`class` is `messageClass`)."""
    _known(wrapper, "to", "body", "deliveryReport", "via", "statusCallback", "priority", "sendAt", "timeZone",
           "validity", "messageClass", "quietHours")
    recipients = _texts(wrapper, "to")
    if not recipients:
        raise Fault("invalid_request", "'to' must name at least one recipient", field="to")
    quiet_hours = _text(wrapper, "quietHours")
    if quiet_hours in BOOLEANS:
        quiet_hours = _boolean(wrapper, "quietHours")
    messages = service().messages.send(recipients, _text(wrapper, "body", required=True),
                                       delivery_report=_boolean(wrapper, "deliveryReport"), via=_text(wrapper, "via"),
                                       status_callback=_text(wrapper, "statusCallback"), api_key=key,
                                       priority=_text(wrapper, "priority"), send_at=_text(wrapper, "sendAt"),
                                       time_zone=_text(wrapper, "timeZone"), validity=_validity(wrapper),
                                       message_class=_text(wrapper, "messageClass"),
                                       quiet_hours=quiet_hours)
    response = etree.Element(_q("SendSmsResponse"), nsmap={"tns": TNS})
    for message in messages:
        response.append(message_element(message))
    return response


def _validity(wrapper) -> int | str | None:
    """Seconds (digits) or an ISO 8601 duration, as /api/v1 takes them."""
    value = _text(wrapper, "validity")
    return int(value) if value is not None and value.strip().isdigit() else value


def get_message_status(wrapper, key) -> etree._Element:
    _known(wrapper, "id")
    response = etree.Element(_q("GetMessageStatusResponse"), nsmap={"tns": TNS})
    response.append(message_element(service().messages.get_message(_text(wrapper, "id", required=True))))
    return response


def cancel_message(wrapper, key) -> etree._Element:
    _known(wrapper, "id")
    response = etree.Element(_q("CancelMessageResponse"), nsmap={"tns": TNS})
    response.append(message_element(service().messages.cancel(_text(wrapper, "id", required=True))))
    return response


def list_inbox(wrapper, key) -> etree._Element:
    _known(wrapper, "cursor", "limit")
    limit = _text(wrapper, "limit")
    if limit is not None and not limit.strip().isdigit():
        raise Fault("invalid_request", "'limit' must be an xsd:int", field="limit")
    page, cursor = service().messages.list_inbox(cursor=_text(wrapper, "cursor"), limit=int(limit) if limit else 50)
    response = etree.Element(_q("ListInboxResponse"), nsmap={"tns": TNS})
    for item in page:
        response.append(inbox_element(item))
    if cursor is not None:
        etree.SubElement(response, _q("nextCursor")).text = xml_text(cursor)
    return response


OPERATIONS = {"SendSms": ("send", send_sms), "GetMessageStatus": ("read", get_message_status),
              "ListInbox": ("read", list_inbox), "CancelMessage": ("send", cancel_message)}


# --- responses ---------------------------------------------------------------------------------------


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(text: str) -> str:
    """`text` as XML 1.0 can carry it: a C0 control (which an SMS from the network may hold) becomes its Unicode
    control picture (NUL is "\u2400", BEL "\u2407"), a lone surrogate or non-character U+FFFD."""
    return _NOT_XML.sub(lambda m: chr(0x2400 + ord(m.group())) if m.group() < " " else "\ufffd", text)


def _fields(parent, tag: str, fields: list[tuple[str, object]]):
    element = etree.SubElement(parent, _q(tag)) if parent is not None else etree.Element(_q(tag))
    for name, value in fields:
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, datetime):
            value = time_json(value)
        etree.SubElement(element, _q(name)).text = xml_text(str(value))
    return element


def message_element(message: Message) -> etree._Element:
    return _fields(None, "message", [
        ("id", message.uid), ("to", message.to_number), ("state", message.state.value),
        ("encoding", message.encoding), ("partCount", message.part_count),
        ("deliveryReport", message.delivery_report), ("modem", message.modem), ("errorCode", message.error_code),
        ("errorMessage", message.error_message), ("createdAt", message.created_at),
        ("updatedAt", message.updated_at), ("sentAt", message.sent_at),
        ("priority", PRIORITY_NAMES.get(message.priority)),
        ("sendAt", message.next_attempt_at if message.state == MessageState.SCHEDULED else None),
        ("expiresAt", message.expires_at)])


def inbox_element(item: InboxMessage) -> etree._Element:
    return _fields(None, "message", [
        ("id", item.uid), ("from", item.sender), ("text", item.text), ("modem", item.modem),
        ("partCount", item.part_count), ("state", item.state.value), ("sentAt", item.sent_at),
        ("receivedAt", item.received_at)])


def envelope(body_child: etree._Element) -> bytes:
    root = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV, "tns": TNS})
    etree.SubElement(root, f"{{{SOAP_ENV}}}Body").append(body_child)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def fault_response(fault: Fault) -> Response:
    """SOAP 1.1: a fault travels with HTTP 500, its detail holds our error code."""
    element = etree.Element(f"{{{SOAP_ENV}}}Fault")
    etree.SubElement(element, "faultcode").text = "soap:Client" if fault.client else "soap:Server"
    etree.SubElement(element, "faultstring").text = xml_text(fault.message)
    detail = etree.SubElement(element, "detail")
    _fields(detail, "GatewayFault", [("code", fault.code), ("message", fault.message), ("field", fault.field)])
    return Response(envelope(element), status=500, content_type=CONTENT_TYPE)
