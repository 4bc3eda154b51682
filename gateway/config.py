"""Settings: frozen dataclasses read from one TOML file, with SMSGW_* environment overrides.

Every key is declared with its default, here or (a compatibility door's section) in the door's package; an
unknown key is a ConfigError at start-up.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping
from urllib.parse import urlsplit

from gateway.errors import ConfigError
from gateway.values import PRIORITIES

if TYPE_CHECKING:
    from gateway.doors import Doors

SQLITE_SYNCHRONOUS = ("normal", "full")

DEFAULT_CONFIG_PATH = Path("/etc/smsgw/config.toml")


def _is_region(code: str) -> bool:
    """A region phonenumbers knows: ISO 3166 alpha-2, upper case ("GB", not "UK")."""
    import phonenumbers

    return code in phonenumbers.SUPPORTED_REGIONS


def _address_ranges(settings: Any, name: str, where: str) -> None:
    """Make `settings.<name>` a tuple of CIDR strings (TOML gives a list); ConfigError naming a bad one."""
    value = getattr(settings, name)
    if isinstance(value, list):
        value = tuple(value)
        object.__setattr__(settings, name, value)
    for cidr in value:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: {cidr!r} is not an address range (CIDR)", field=where) from None


@dataclass(frozen=True)
class ServerSettings:
    host: str = "0.0.0.0"
    port: int = 8080
    threads: int = 8  # threads running the app (requests are read on one asynchronous loop)
    max_connections_per_address: int = 32  # open connections one client address may hold; more are closed
    header_timeout_s: float = 10.0  # a connection's request head (and TLS handshake) must be complete by then
    max_body_bytes: int = 1024 * 1024
    session_idle_s: float = 1800.0  # a status-page session unused this long ends (log in again)
    cookie_secure: bool = False  # status page session cookie only over HTTPS (set when served behind TLS)
    box: str = ""  # this box's name among those sharing a PostgreSQL database; empty: `<hostname>-<port>`
    heartbeat_s: float = 2.0  # how often this box says it is alive in the database
    box_dead_after_s: float = 10.0  # a box silent this long is dead: another settles its claims and modems
    tls_cert: str = ""  # PEM certificate (chain) file: with tls_key, `smsgw run` serves HTTPS (and HSTS)
    tls_key: str = ""  # PEM private key file of tls_cert
    # who may call the API and see the status page: loopback and the private ranges unless set
    allow_from: tuple[str, ...] = ("127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                                   "169.254.0.0/16", "fc00::/7", "fe80::/10")

    def __post_init__(self) -> None:
        _address_ranges(self, "allow_from", "server.allow_from")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("server.tls_cert and server.tls_key go together", field="server.tls_cert")
        if not 0 < self.heartbeat_s * 3 <= self.box_dead_after_s:
            raise ConfigError("server.box_dead_after_s must be at least three heartbeats (server.heartbeat_s)",
                              field="server.box_dead_after_s")

    @property
    def is_tls(self) -> bool:
        return bool(self.tls_cert and self.tls_key)


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = "sqlite:////var/lib/smsgw/smsgw.db"
    busy_timeout_ms: int = 5000
    synchronous: str = "normal"  # SQLite: "full" fsyncs every commit (no commit lost to a power cut; slower)

    def __post_init__(self) -> None:
        if self.synchronous not in SQLITE_SYNCHRONOUS:
            raise ConfigError(f"database.synchronous must be \"normal\" or \"full\", not {self.synchronous!r}",
                              field="database.synchronous")


@dataclass(frozen=True)
class SecuritySettings:
    # the box key (gateway/store/sealing.py): "" is `<database file>.key` beside an SQLite database; PostgreSQL
    # needs it named, the same file on every box sharing the database
    key_file: str = ""


@dataclass(frozen=True)
class MessagingSettings:
    default_region: str = "GB"  # for national numbers without a leading +
    allow_unallocated_numbers: bool = False  # numbers of ranges no operator serves (test and drama ranges) pass
    max_parts: int = 10
    max_recipients: int = 10000  # per request (a JSON list, or the rows of a CSV batch)
    delivery_report: bool = False  # default for messages that do not say
    max_attempts: int = 5  # temporary failures before a message fails
    retry_base_s: float = 5.0
    retry_max_s: float = 600.0
    reassembly_timeout_s: float = 300.0  # parts of an incoming SMS still missing after this: deliver what came
    report_wait_s: float = 3600.0  # a sent message with no delivery report after this shows report_overdue
    reply_window_s: float = 7 * 86400.0  # an inbound SMS is a reply to our last message to its sender within this
    quiet_hours: str = "21:00-08:00"  # recipient's local time; marketing messages are held through it; "": none
    api_requests_per_minute: int = 0  # per API key, fixed one-minute windows counted in the database; 0: no limit
    require_approved_templates: bool = False  # only templates marked approved may send
    optout_keywords: tuple[str, ...] = ("STOP", "UNSUBSCRIBE", "STOPALL", "CANCEL", "END", "QUIT")
    optin_keywords: tuple[str, ...] = ("START", "UNSTOP")
    optout_reply: str = ""  # answer to an opt-out keyword, sent through the modem it came in on ("" = none)
    optout_blocks_transactional: bool = False  # opted-out numbers still get transactional messages unless true
    otp_max_attempts: int = 5  # wrong codes allowed per one-time code
    otp_ttl_s: int = 300  # default life of a one-time code (a request may give its own ttl)
    idempotency_ttl_s: float = 86400.0  # an Idempotency-Key's first answer is replayed this long
    body_retention_days: int = 30  # message and SMS texts are emptied this long after; 0: kept for ever
    rule_replies_per_hour: int = 5  # inbound rules' replies and forwards per sender per hour (a loop guard)

    def __post_init__(self) -> None:
        if not _is_region(self.default_region):
            hint = " (the United Kingdom is GB)" if self.default_region.upper() == "UK" else ""
            raise ConfigError(f"messaging.default_region must be a region code like \"GB\" or \"DE\", not "
                              f"{self.default_region!r}{hint}", field="messaging.default_region")


@dataclass(frozen=True)
class PoolSettings:
    send_timeout_s: float = 60.0  # the network's answer to one submitted part (+CMGS)
    command_timeout_s: float = 10.0  # any other AT command; a modem silent this long is treated as hung
    sweep_interval_s: float = 15.0  # storage sweep: the authoritative receive path
    health_interval_s: float = 30.0  # signal / registration / operator
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 60.0
    lease_s: float = 300.0  # a claim older than this, by a worker that is gone, goes back to the queue
    stranded_after_s: float = 7200.0  # a multi-part message whose modem sent part of it and then nothing: failed
    idle_poll_s: float = 5.0  # work queued by another process (CLI, another box) is seen within this
    ussd_timeout_s: float = 30.0  # the network's answer to a USSD code (+CUSD)
    balance_interval_s: float = 6 * 3600.0  # re-check the balance of modems with balance_ussd this often
    power_cycle_after: int = 3  # consecutive failed connects before a modem with a power_pin is power-cycled; 0: never
    power_off_s: float = 5.0  # how long the power stays off in a power cycle
    no_credit_hold_s: float = 900.0  # a SIM the network refuses as out of credit or barred takes no work this long
    stuck_after_s: float = 300.0  # a worker inside one modem operation this long is stuck: the watchdog stops
    auto_discover: bool = False  # add modems plugged in while running, drop discovered ones that vanish
    discover_paths: str = "/dev/ttyUSB*,/dev/ttyACM*,/dev/serial/by-id/*"  # comma-separated globs to probe
    discover_interval_s: float = 10.0


@dataclass(frozen=True)
class LoggingSettings:
    format: str = "text"  # "text" or "json" (one JSON object per line)
    mask_numbers: bool = True  # phone numbers in log lines keep only their last digits

    def __post_init__(self) -> None:
        if self.format not in ("text", "json"):
            raise ConfigError(f"logging.format must be \"text\" or \"json\", not {self.format!r}",
                              field="logging.format")


@dataclass(frozen=True)
class WebhookSettings:
    concurrency: int = 8  # deliveries in flight at once (never two of one message to one receiver)
    timeout_s: float = 10.0  # per POST
    retry_base_s: float = 2.0
    retry_max_s: float = 600.0
    horizon_s: float = 86400.0  # a delivery still failing this long after its event is given up
    callback_secret: str = ""  # signs status_callback POSTs; empty: one is generated and kept in the database
    # where callbacks may connect (gateway/rules/destinations.py): the private ranges unless set; loopback,
    # link-local, multicast and the box's own addresses only when listed themselves
    allow: tuple[str, ...] = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
    per_destination: int = 4  # deliveries in flight at once to one receiver (scheme, host, port)
    breaker_failures: int = 5  # consecutive failures that pause a receiver's deliveries for the retry backoff

    def __post_init__(self) -> None:
        _address_ranges(self, "allow", "webhooks.allow")
        if self.per_destination < 1 or self.breaker_failures < 1:
            raise ConfigError("webhooks.per_destination and webhooks.breaker_failures must be at least 1",
                              field="webhooks.per_destination")


@dataclass(frozen=True)
class MqttSettings:
    """`[mqtt]`: the box on an MQTT broker (gateway/appliance/mqtt.py); off while `url` is empty."""

    url: str = ""  # mqtt://host:1883, or mqtts:// for TLS
    username: str = ""
    password: str = ""
    topic_prefix: str = "smsgw"  # topics are <prefix>/<box>/…
    discovery_prefix: str = "homeassistant"  # Home Assistant MQTT discovery; "" turns it off
    notify_to: tuple[str, ...] = ()  # numbers a Home Assistant notification (<prefix>/<box>/notify) is sent to
    state_interval_s: float = 60.0  # each modem's retained state is published this often (and on every change)

    def __post_init__(self) -> None:
        object.__setattr__(self, "notify_to", tuple(self.notify_to))
        if self.url and urlsplit(self.url).scheme not in ("mqtt", "mqtts"):
            raise ConfigError(f"mqtt.url {self.url!r} must start with mqtt:// or mqtts://", field="mqtt.url")
        for name in ("topic_prefix", "discovery_prefix"):
            value = getattr(self, name)
            if any(c in value for c in "+#\0") or value.startswith("/") or value.endswith("/") or (
                    not value and name == "topic_prefix"):
                raise ConfigError(f"mqtt.{name} {value!r} must be a topic without wildcards or outer slashes",
                                  field=f"mqtt.{name}")
        if self.state_interval_s <= 0:
            raise ConfigError("mqtt.state_interval_s must be positive", field="mqtt.state_interval_s")


@dataclass(frozen=True)
class EmailInboundSettings:
    """`[email.inbound]`: mail to `<number>@<domain>` on `listen` is sent as an SMS (off while `listen` is empty)."""

    listen: str = ""  # host:port of the box's SMTP server, e.g. "127.0.0.1:2525"
    domain: str = ""  # mail to +447911123456@<domain> goes to that number
    allowed_senders: tuple[str, ...] = ()  # addresses, or "@example.com" for a whole domain
    max_message_bytes: int = 256 * 1024

    def __post_init__(self) -> None:
        object.__setattr__(self, "allowed_senders", tuple(a.lower() for a in self.allowed_senders))
        if self.listen:
            host, _, port = self.listen.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ConfigError(f"email.inbound.listen {self.listen!r} must be host:port",
                                  field="email.inbound.listen")
            if not self.domain:
                raise ConfigError("email.inbound.domain is needed to take mail (+447911123456@<domain>)",
                                  field="email.inbound.domain")

    @property
    def address(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)


@dataclass(frozen=True)
class EmailSettings:
    """`[email]`: the SMTP server the box sends mail through, and who gets each received SMS by mail."""

    smtp_host: str = ""  # empty: the box sends no mail
    smtp_port: int = 587
    starttls: bool = True  # upgrade the connection (port 587); off for a plain relay on the LAN
    tls: bool = False  # TLS from the first byte (port 465)
    username: str = ""
    password: str = ""
    sender: str = field(default="", metadata={"key": "from"})  # the From address of the box's mail
    forward_inbound_to: tuple[str, ...] = ()  # each received SMS is mailed to these addresses
    timeout_s: float = 20.0
    inbound: EmailInboundSettings = field(default_factory=EmailInboundSettings)

    def __post_init__(self) -> None:
        object.__setattr__(self, "forward_inbound_to", tuple(self.forward_inbound_to))
        if isinstance(self.inbound, Mapping):
            object.__setattr__(self, "inbound", _build(EmailInboundSettings, self.inbound, "email.inbound"))
        for address in (*self.forward_inbound_to, self.sender):
            if address and "@" not in address:
                raise ConfigError(f"{address!r} is not an email address", field="email")
        if self.forward_inbound_to and not (self.smtp_host and self.sender):
            raise ConfigError("email.forward_inbound_to needs email.smtp_host and email.from",
                              field="email.forward_inbound_to")
        if self.starttls and self.tls:
            raise ConfigError("email.starttls and email.tls exclude each other (587 with STARTTLS, 465 with TLS)",
                              field="email.tls")


@dataclass(frozen=True)
class AlertSettings:
    """`[alerts]`: what is watched (gateway/core/alerts.py), from when it is wrong, and who is told."""

    email_to: tuple[str, ...] = ()  # told by mail ([email] smtp_host needed)
    sms_to: tuple[str, ...] = ()  # told by SMS, sent through a modem other than the one in trouble when it can
    check_interval_s: float = 30.0
    modem_down_after_s: float = 300.0  # a modem offline, unregistered or without its SIM this long
    queue_age_s: float = 900.0  # the oldest queued message waiting longer
    error_rate_above: float = 0.01  # share of the last hour's finished messages that never reached the network
    delivery_ratio_below: float = 0.8  # share of the last hour's reported parts delivered
    min_messages: int = 20  # the two ratios above are judged only on at least this many
    storage_full_pct: float = 90.0  # a modem's SMS memory this full
    disk_free_below_mb: float = 200.0  # free space where the data lives
    certificate_days: float = 14.0  # the HTTPS certificate ([server] tls_cert) expires within

    def __post_init__(self) -> None:
        object.__setattr__(self, "email_to", tuple(self.email_to))
        object.__setattr__(self, "sms_to", tuple(self.sms_to))
        if self.check_interval_s <= 0 or not 0 <= self.error_rate_above <= 1 or not 0 <= self.delivery_ratio_below <= 1:
            raise ConfigError("alerts: check_interval_s must be positive and the rates between 0 and 1",
                              field="alerts")


@dataclass(frozen=True)
class CanarySettings:
    """`[canary]`: each modem with a known number sends a probe SMS to another of the box's modems (or, a lone SIM,
    to `echo_number`) this often; one that has not arrived after `late_after_s` marks its sender degraded
    (gateway/core/canary.py)."""

    interval_s: float = 0.0  # 0: no probes
    late_after_s: float = 600.0
    echo_number: str = ""  # a number that answers each SMS with its text: a lone SIM's probes go there (E.164)
    quiet_hours: str = ""  # e.g. "22:00-07:00", the receiving number's local time: no probe is sent then

    def __post_init__(self) -> None:
        if self.interval_s < 0 or self.late_after_s <= 0:
            raise ConfigError("canary.interval_s must be 0 (off) or more and late_after_s positive", field="canary")
        if self.echo_number and not (self.echo_number.startswith("+") and self.echo_number[1:].isdigit()):
            raise ConfigError(f"canary.echo_number {self.echo_number!r} must be an E.164 number like +447700900123",
                              field="canary.echo_number")
        if self.quiet_hours and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d", self.quiet_hours):
            raise ConfigError(f"canary.quiet_hours {self.quiet_hours!r} must be a window like \"22:00-07:00\"",
                              field="canary.quiet_hours")


ROUTING_STRATEGIES = ("cost", "adaptive")


@dataclass(frozen=True)
class RoutingSettings:
    """`[routing]`: how the modems (and upstreams) allowed to send a message share it. "cost": the cheapest ready
    one; "adaptive": also by measured delivery (gateway/rules/adaptive.py): a target whose cost per delivered SMS is
    over the best one's by `tolerance` takes only work left `defer_s`, and at `explore` a message of its choosing."""

    strategy: str = "cost"
    min_reports: int = 10  # reported parts before a target's ratio counts
    window: int = 50  # a target is judged on its last this many reported parts …
    window_s: float = 86400.0  # … sent within this long
    tolerance: float = 0.25
    defer_s: float = 30.0
    explore: float = 0.1
    refresh_s: float = 10.0  # the figures are read again this often
    urgent_latency_s: float = 60.0  # a target slower than this (submit to report, median) leaves OTPs to faster ones

    def __post_init__(self) -> None:
        if self.strategy not in ROUTING_STRATEGIES:
            raise ConfigError(f"routing.strategy must be \"cost\" or \"adaptive\", not {self.strategy!r}",
                              field="routing.strategy")
        if not (self.min_reports >= 1 and self.window >= self.min_reports and 0 <= self.explore <= 1
                and self.tolerance >= 0 and self.defer_s >= 0 and self.refresh_s > 0 and self.window_s > 0
                and self.urgent_latency_s > 0):
            raise ConfigError("routing: min_reports ≥ 1, window ≥ min_reports, explore between 0 and 1, the rest "
                              "positive", field="routing")


@dataclass(frozen=True)
class HardwareSettings:
    """GPIO pins (BCM numbers; -1: not fitted). With no pin set anywhere, no pin factory is even built."""

    fault_led: int = -1  # on while any modem is offline, needs its PIN or is not registered
    button: int = -1  # press: show the status on the LEDs; hold: stop the gateway cleanly
    button_hold_s: float = 5.0
    status_show_s: float = 5.0  # how long a press shows the status (when status_always is off)
    status_always: bool = True  # modem LEDs show their state all the time; off: only after a press


@dataclass(frozen=True)
class ModemSettings:
    name: str
    port: str
    baudrate: int = 115200
    pin: str = ""
    flow_control: bool = False
    balance_ussd: str = ""  # e.g. "*100#": asked at connect and every pool.balance_interval_s
    led_pin: int = -1  # status LED: on online, blinking while sending, off offline
    power_pin: int = -1  # relay / USB hub port power: the pool power-cycles the modem when it hangs
    power_active_high: bool = True
    group: str = "default"  # routing group: a message routed or sent `via` a group goes out on its modems only
    max_per_minute: int = 0  # messages this SIM may send per minute (its plan's cap); 0: no limit
    max_per_hour: int = 0
    cost: float = 0.0  # price of one SMS on this SIM's plan: of the modems ready to send a message, the cheapest does
    low_credit: float = 0.0  # a balance (balance_ussd) under this: the SIM takes no work and an alert is raised
    bundle_sms: int = 0  # SMS parts the SIM's plan includes each month: used up, it takes no work until it renews
    bundle_reset_day: int = 1  # the day of the month (1-28) the bundle renews, at 00:00 UTC

    def __post_init__(self) -> None:
        if self.bundle_sms < 0 or not 1 <= self.bundle_reset_day <= 28:
            raise ConfigError(f"modems.{self.name}: bundle_sms must be 0 or more and bundle_reset_day 1 to 28",
                              field="modems.bundle_reset_day")


@dataclass(frozen=True)
class RouteSettings:
    """`[[routes]]`: numbers matching `match` (a prefix like "+44", or a region code like "GB") go out on
    modems of `group`, at `cost` per message; when no modem of `group` is online (at enqueue time, or later while
    the message waits), on `fallback`'s modems (when set). Of several matching rules the cheapest, then the most
    specific, wins."""

    match: str
    group: str
    cost: float = 0.0
    fallback: str = ""

    def __post_init__(self) -> None:
        if not (self.match[1:].isdigit() and self.match.startswith("+") or _is_region(self.match)):
            raise ConfigError(f"routes: match {self.match!r} must be a prefix like \"+44\" or a region like \"GB\"",
                              field="routes.match")


UPSTREAM_KINDS = ("twilio", "kannel", "http")
UPSTREAM_USES = ("fallback", "always")


@dataclass(frozen=True)
class UpstreamSettings:
    """`[[upstreams]]`: an HTTP SMS provider (gateway/upstream/) used as a route target like a modem: it is a member of
    routing `group`, may be named in `via`, and its messages go through the same states. Its delivery receipts come
    back to `receipts_to` + a signed path (web/receipts.py)."""

    name: str
    kind: str  # twilio (the Messages API) | kannel (sendsms GET) | http (a templated request)
    url: str  # twilio: the API's base URL; kannel: the sendsms URL; http: the request's URL ($placeholders)
    account_sid: str = ""  # twilio
    auth_token: str = ""  # twilio
    username: str = ""  # kannel; http: $username
    password: str = ""  # kannel; http: $password
    sender: str = field(default="", metadata={"key": "from"})  # the sender the provider shows, where it needs one
    cost: float = 0.0  # per message part, compared with the modems' cost
    use: str = "fallback"  # fallback: only messages no modem took within fallback_after_s; always: like a modem
    fallback_after_s: float = 10.0
    priority: str = "bulk"  # the least urgent priority it takes: "high" keeps it for OTPs and alerts
    group: str = "default"  # its routing group
    max_per_minute: int = 0  # the provider's rate cap (0: none)
    max_per_hour: int = 0
    timeout_s: float = 15.0  # one request; no answer by then: the message's outcome is unknown (never re-sent)
    breaker_after: int = 3  # failed requests in a row (5xx, 429, no answer) before it rests (backing off)
    receipts_to: str = ""  # this box's base URL as the provider reaches it ("http://192.168.1.5:8080"); "": none
    # kind = "http": the request
    method: str = "POST"
    body: str = ""  # a template: "to=$to&text=$text" (form) or '{"to": $to}' (json: values are JSON strings)
    content_type: str = "application/x-www-form-urlencoded"  # or application/json
    success_match: str = ""  # a regular expression a 2xx answer must match to be accepted ("" any 2xx)
    id_pattern: str = ""  # a regular expression whose first group is the provider's id for the message
    receipt_field: str = "status"  # the receipt's field (query, form or JSON) holding the message's fate
    delivered_values: tuple[str, ...] = ("delivered", "DELIVRD")
    failed_values: tuple[str, ...] = ("failed", "undelivered", "rejected", "expired", "UNDELIV", "REJECTD", "EXPIRED")

    def __post_init__(self) -> None:
        where = f"upstreams.{self.name}"
        for name in ("delivered_values", "failed_values"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.kind not in UPSTREAM_KINDS:
            raise ConfigError(f"{where}.kind must be one of {', '.join(UPSTREAM_KINDS)}, not {self.kind!r}",
                              field="upstreams.kind")
        if self.use not in UPSTREAM_USES:
            raise ConfigError(f"{where}.use must be \"fallback\" or \"always\", not {self.use!r}",
                              field="upstreams.use")
        if self.priority not in PRIORITIES:
            raise ConfigError(f"{where}.priority must be one of {', '.join(PRIORITIES)}", field="upstreams.priority")
        for name in ("url", "receipts_to"):
            value = getattr(self, name)
            if (value or name == "url") and urlsplit(value.replace("$", "")).scheme not in ("http", "https"):
                raise ConfigError(f"{where}.{name} {value!r} must be an http:// or https:// URL",
                                  field=f"upstreams.{name}")
        if self.kind == "twilio" and not (self.account_sid and self.auth_token and self.sender):
            raise ConfigError(f"{where}: a twilio upstream needs account_sid, auth_token and from",
                              field="upstreams.account_sid")
        if self.kind == "http" and self.method not in ("GET", "POST", "PUT"):
            raise ConfigError(f"{where}.method must be GET, POST or PUT", field="upstreams.method")
        if self.timeout_s <= 0 or self.fallback_after_s < 0 or self.breaker_after < 1:
            raise ConfigError(f"{where}: timeout_s must be positive, fallback_after_s 0 or more, breaker_after 1 or "
                              "more", field="upstreams")
        for name in ("success_match", "id_pattern"):
            try:
                re.compile(getattr(self, name))
            except re.error as exc:
                raise ConfigError(f"{where}.{name} is not a regular expression: {exc}",
                                  field=f"upstreams.{name}") from None

    @property
    def max_priority(self) -> int:
        """The priority numbers it takes are at most this (0 high, 1 normal, 2 bulk)."""
        return PRIORITIES[self.priority]

    @property
    def due_after_s(self) -> float:
        """How long a message must have waited, due, before this upstream takes it."""
        return self.fallback_after_s if self.use == "fallback" else 0.0

    def as_modem(self) -> ModemSettings:
        """The pool's view of it: a worker like a modem's, under its name, group, rate cap and cost."""
        parts = urlsplit(self.url)
        return ModemSettings(name=self.name, port=f"{parts.scheme}://{parts.hostname}{parts.path}", group=self.group,
                             max_per_minute=self.max_per_minute, max_per_hour=self.max_per_hour, cost=self.cost)


@dataclass(frozen=True)
class Settings:
    server: ServerSettings = field(default_factory=ServerSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    messaging: MessagingSettings = field(default_factory=MessagingSettings)
    pool: PoolSettings = field(default_factory=PoolSettings)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    hardware: HardwareSettings = field(default_factory=HardwareSettings)
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    email: EmailSettings = field(default_factory=EmailSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    canary: CanarySettings = field(default_factory=CanarySettings)
    routing: RoutingSettings = field(default_factory=RoutingSettings)
    modems: tuple[ModemSettings, ...] = ()
    routes: tuple[RouteSettings, ...] = ()
    upstreams: tuple[UpstreamSettings, ...] = ()
    doors: Mapping[str, Any] = field(default_factory=dict)  # the doors' sections by name (gateway.doors.Door.settings)

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **changes)

    @property
    def has_pins(self) -> bool:
        """Whether the config names any GPIO pin (only then are `hardware/` and gpiozero loaded)."""
        hw = self.hardware
        return hw.fault_led >= 0 or hw.button >= 0 or any(m.led_pin >= 0 or m.power_pin >= 0 for m in self.modems)


_SECTIONS: dict[str, type] = {
    "server": ServerSettings,
    "database": DatabaseSettings,
    "security": SecuritySettings,
    "messaging": MessagingSettings,
    "pool": PoolSettings,
    "webhooks": WebhookSettings,
    "logging": LoggingSettings,
    "hardware": HardwareSettings,
    "mqtt": MqttSettings,
    "email": EmailSettings,
    "alerts": AlertSettings,
    "canary": CanarySettings,
    "routing": RoutingSettings,
}

_ENV_OVERRIDES = {
    "SMSGW_HOST": ("server", "host"),
    "SMSGW_PORT": ("server", "port"),
    "SMSGW_DATABASE_URL": ("database", "url"),
    "SMSGW_KEY_FILE": ("security", "key_file"),
    "SMSGW_LOG_FORMAT": ("logging", "format"),
}


def _build(cls: type, values: Mapping[str, Any], where: str) -> Any:
    if not isinstance(values, Mapping):
        raise ConfigError(f"[{where}] must be a table")
    known = {f.metadata.get("key", f.name): f for f in dataclasses.fields(cls)}  # "key": a TOML key not a name
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"unknown key {where}.{unknown[0]}", field=f"{where}.{unknown[0]}")
    kwargs = {}
    for name, value in values.items():
        kwargs[known[name].name] = _coerce(value, known[name].type, f"{where}.{name}")
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"[{where}]: {exc}") from exc


def _coerce(value: Any, expected: Any, where: str) -> Any:
    type_name = expected if isinstance(expected, str) else getattr(expected, "__name__", str(expected))
    if type_name == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return value.lower() in ("1", "true", "yes", "on")
    elif type_name == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
    elif type_name == "float":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif type_name == "str":
        if isinstance(value, str):
            return value
    else:
        return value
    raise ConfigError(f"{where} must be a {type_name}, not {value!r}", field=where)


def settings_from_mapping(data: Mapping[str, Any], environ: Mapping[str, str] | None = None,
                          doors: Doors | None = None) -> Settings:
    """Build Settings from a parsed TOML mapping, then apply SMSGW_* overrides from `environ`. The sections of
    `doors` are known too (each with its defaults when the mapping leaves it out)."""
    data = {key: (dict(value) if isinstance(value, Mapping) else value) for key, value in data.items()}
    for var, (section, key) in _ENV_OVERRIDES.items():
        if environ and environ.get(var):
            data.setdefault(section, {})[key] = environ[var]
    door_sections = doors.sections if doors is not None else {}
    unknown = sorted(set(data) - set(_SECTIONS) - set(door_sections) - {"modems", "routes", "upstreams"})
    if unknown:
        raise ConfigError(f"unknown section [{unknown[0]}]", field=unknown[0])
    sections = {name: _build(cls, data.get(name, {}), name) for name, cls in _SECTIONS.items()}
    door_settings = {name: _build(cls, data.get(name, {}), name) for name, cls in door_sections.items()}
    modems = tuple(_build(ModemSettings, m, f"modems[{i}]") for i, m in enumerate(_tables(data, "modems")))
    routes = tuple(_build(RouteSettings, r, f"routes[{i}]") for i, r in enumerate(_tables(data, "routes")))
    upstreams = tuple(_build(UpstreamSettings, u, f"upstreams[{i}]") for i, u in enumerate(_tables(data, "upstreams")))
    names = [m.name for m in modems] + [u.name for u in upstreams]
    if len(set(names)) != len(names):
        raise ConfigError("modem and upstream names must be unique", field="modems")
    return Settings(modems=modems, routes=routes, upstreams=upstreams, doors=door_settings, **sections)


def _tables(data: Mapping[str, Any], name: str) -> list[Any]:
    """The array of tables `[[name]]` (empty when absent)."""
    tables = data.get(name, [])
    if not isinstance(tables, list):
        raise ConfigError(f"{name} must be an array of tables ([[{name}]])")
    return tables


def load_settings(path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None,
                  doors: Doors | None = None) -> Settings:
    """Read the config: `path`, else $SMSGW_CONFIG, else /etc/smsgw/config.toml when it exists, else defaults;
    with the sections of `doors` (the compatibility doors, `gateway.appliance.doors.gateway_doors`)."""
    environ = os.environ if environ is None else environ
    chosen = path or environ.get("SMSGW_CONFIG")
    if chosen is None and DEFAULT_CONFIG_PATH.exists():
        chosen = DEFAULT_CONFIG_PATH
    data: dict[str, Any] = {}
    if chosen is not None:
        try:
            with open(chosen, "rb") as fh:
                data = tomllib.load(fh)
        except OSError as exc:
            raise ConfigError(f"cannot read config {chosen}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config {chosen} is not valid TOML: {exc}") from exc
    return settings_from_mapping(data, environ, doors)
