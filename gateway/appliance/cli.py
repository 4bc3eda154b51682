"""`smsgw`: run the gateway, the demo, and manage keys, messages and the database."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from gateway.version import VERSION
from gateway.appliance import logs
from gateway.appliance.memory import limit_malloc_arenas, settle_heap
from gateway.config import DEFAULT_CONFIG_PATH, LoggingSettings, ModemSettings, Settings, load_settings
from gateway.errors import GatewayError, StoreUnavailable
from gateway.rules.apikeys import SCOPES, parse_duration
from gateway.values import ROLES

if TYPE_CHECKING:
    from gateway.core.service import GatewayService
    from gateway.store.models import Account, ApiKey

log = logging.getLogger("smsgw")
BACKUP_PASSPHRASE_ENV = "SMSGW_BACKUP_PASSPHRASE"
DEMO_REPLY_RATE = 0.3  # the share of the demo's sent messages whose recipient answers a few seconds later


def _settings(args: argparse.Namespace) -> Settings:
    from gateway.appliance.doors import gateway_doors

    return load_settings(getattr(args, "config", None), doors=gateway_doors())


DEMO_DATABASE = Path("var") / "smsgw.db"  # where `make run` keeps the demo's, below the directory it ran in


def _existing_settings(args: argparse.Namespace) -> Settings:
    """The settings of a command that works on an existing database (keys, send, status, …). With no config at
    all, the default database when it exists, else the demo's when this is the directory it ran in, else a
    one-line refusal (rather than an empty database made at the default place)."""
    from gateway.store import sqlite_file

    settings = _settings(args)
    configured = (getattr(args, "config", None) or os.environ.get("SMSGW_CONFIG")
                  or os.environ.get("SMSGW_DATABASE_URL") or DEFAULT_CONFIG_PATH.exists())
    path = sqlite_file(settings.database.url)
    if configured or path is None or path.exists():  # a database named on purpose is made when it is new
        return settings
    if DEMO_DATABASE.exists():
        print(f"smsgw: no config: using the demo's database {DEMO_DATABASE}", file=sys.stderr)
        return settings.replace(database=dataclasses.replace(
            settings.database, url=f"sqlite:///{DEMO_DATABASE.resolve()}"))
    raise StoreUnavailable(
        f"no database at {path}. For the demo's, run this in the directory where `make run` runs (it keeps "
        f"{DEMO_DATABASE}) or give --config / SMSGW_DATABASE_URL; on an installed box, start it once "
        "(`smsgw run`) or run `smsgw db upgrade`")


def _service(settings: Settings) -> GatewayService:
    from gateway.appliance.runtime import open_store
    from gateway.core.service import GatewayService

    return GatewayService(open_store(settings), settings.messaging)


def _logging_settings(args: argparse.Namespace) -> LoggingSettings:
    """[logging] from the config, or the defaults when it cannot be read (the command then says why)."""
    try:
        return _settings(args).logging
    except GatewayError:
        return LoggingSettings()


def cmd_run(args: argparse.Namespace) -> int:
    from gateway.appliance.runtime import Gateway

    limit_malloc_arenas()
    settings = _settings(args)
    if not settings.modems:
        log.warning("no [[modems]] configured: the API will queue messages but nothing will send them")
    gateway = Gateway(settings)
    gateway.handle_signals()  # a stop asked while starting is a clean stop too
    gateway.start()
    settle_heap()
    gateway.run_until_signalled()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """The embedded default: SQLite under ./var, emulated modems on pseudo-terminals, an admin key. Nothing is
    touched before the directory's lock and the port are known to be free."""
    from fake_modem import FakeModem
    from gateway.appliance import demo
    from gateway.appliance.runtime import Gateway

    if args.demo_command == "inject":
        modem = demo.inject(Path(args.var).resolve(), args.sender, args.text, args.modem)
        print(f"an SMS from {args.sender} arrived on {modem}; see it with GET /api/v1/inbox or on the status page")
        return 0
    limit_malloc_arenas()
    directory = demo.DemoDirectory(Path(args.var).resolve())
    directory.lock()
    demo.check_port_free(args.host, args.port)
    var = directory.var
    (var / "modems").mkdir(parents=True, exist_ok=True)
    base = _settings(args) if args.config else Settings()
    fakes = [FakeModem(link=str(var / "modems" / f"modem{i}"), latency_ms=args.latency_ms, seed=i,
                       own_number=f"+4479110000{i:02d}", reply_rate=DEMO_REPLY_RATE).start()
             for i in range(1, args.modems + 1)]
    settings = base.replace(
        server=dataclasses.replace(base.server, host=args.host, port=args.port),
        database=dataclasses.replace(base.database, url=os.environ.get("SMSGW_DATABASE_URL")
                                     or f"sqlite:///{var / 'smsgw.db'}"),
        modems=tuple(ModemSettings(name=f"modem{i}", port=f.link) for i, f in enumerate(fakes, start=1)),
    )
    try:
        gateway = Gateway(settings)
        gateway.handle_signals()
        gateway.app.extensions["smsgw.demo"] = demo.DemoModems({m.name: f for m, f in zip(settings.modems, fakes)})
        saved = directory.credentials()
        token = demo.demo_api_key(gateway.service, saved)
        password = _demo_admin_password(gateway.service, saved)
        gateway.start()
        settle_heap()
        url = f"http://{'localhost' if args.host in ('0.0.0.0', '127.0.0.1') else args.host}:{gateway.port}"
        directory.announce(url)
        saved_at = directory.save_credentials(url, token, password)
        print(f"smsgw demo: {args.modems} emulated modems, database {settings.database.url}")
        print("Try (the key is $KEY below):")
        print(f"  curl -H \"Authorization: Bearer $KEY\" -H 'Content-Type: application/json' \\\n"
              f"       -d '{{\"to\":\"+447911123456\",\"body\":\"Your code is 123456\"}}' {url}/api/v1/messages")
        print(f"  curl -H \"Authorization: Bearer $KEY\" {url}/api/v1/messages      # read them back")
        print(f"  {_command_name()} demo inject --from +447911123456 --text 'Hello'   # an SMS arrives")
        print(f"status page: {url}/  admin password: {password}")
        print(f"API: {url}/api/v1  (stop with Ctrl-C; these are kept in {saved_at})")
        print(f"admin API key: {token}", flush=True)
        gateway.run_until_signalled()
    finally:
        for fake in fakes:
            fake.stop()
        directory.release()
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    service = _service(_existing_settings(args))
    if args.keys_command == "create":
        scopes = _comma_list(args.scopes)
        account = service.accounts.account_named(args.account) if args.account else None
        key, token = service.keys.create_key(args.name, scopes, expires_in=args.expires_in,
                                             account_id=account.id if account else None)
        service.privacy.audit("cli", "key.created", target=str(key.id), remote_addr="local")
        until = f", valid until {key.expires_at:%Y-%m-%d %H:%M:%S} UTC" if key.expires_at else ""
        counted = f", counted against account {account.name}" if account else ""
        print(f"created API key {key.id} ({key.name}) with scopes {key.scopes}{until}{counted}; it is shown only "
              "once:")
        print(token)
    elif args.keys_command == "rotate":
        old_id = args.id
        key, token = service.keys.rotate_key(old_id, overlap=args.overlap or timedelta(0))
        service.privacy.audit("cli", "key.rotated", target=str(old_id), remote_addr="local", detail=f"new key {key.id}")
        old = f"keeps working for {args.overlap}" if args.overlap else "is revoked now"
        print(f"API key {old_id} rotated: new key {key.id} ({key.name}), scopes {key.scopes}; the old one "
              f"{old}. The new key is shown only once:")
        print(token)
    elif args.keys_command == "list":
        print(f"{'ID':>4}  {'NAME':20}  {'PREFIX':14}  {'SCOPES':18}  {'CREATED':20}  {'LAST USED':20}  STATE")
        for key in service.keys.list_keys():
            print(f"{key.id:>4}  {key.name:20}  {key.prefix:14}  {key.scopes:18}  "
                  f"{key.created_at:%Y-%m-%d %H:%M:%S}  "
                  f"{key.last_used_at.strftime('%Y-%m-%d %H:%M:%S') if key.last_used_at else '-':20}  "
                  f"{_key_state(key, service.clock())}")
    else:
        key = service.keys.revoke_key(args.id)
        service.privacy.audit("cli", "key.revoked", target=str(key.id), remote_addr="local")
        print(f"revoked API key {key.id} ({key.name})")
    return 0


def _key_state(key: ApiKey, now: datetime) -> str:
    if key.revoked_at:
        return "revoked"
    if key.expires_at is None:
        return "active"
    expired = key.expires_at <= now
    return f"{'expired' if expired else 'expires'} {key.expires_at:%Y-%m-%d %H:%M:%S}"


def cmd_send(args: argparse.Namespace) -> int:
    service = _service(_existing_settings(args))
    for message in service.messages.send(args.to, args.body, delivery_report=args.delivery_report):
        print(f"{message.uid} {message.to_number} {message.state.value} "
              f"{message.part_count} {message.encoding} part(s)")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    service = _service(_existing_settings(args))
    print("modems:")
    for m in service.modems.list_modems():
        signal = f"{m.signal_dbm} dBm" if m.signal_dbm is not None else "-"
        print(f"  {m.name:12} {m.state.value:15} {m.operator or '-':16} {signal:>8}  sent {m.sent_count}  "
              f"failed {m.failed_count}  received {m.received_count}  {m.last_error or ''}")
    counts = service.store.outbox.count_by_state()
    print("messages: " + (", ".join(f"{state} {n}" for state, n in sorted(counts.items())) or "none"))
    return 0


def cmd_boxes(args: argparse.Namespace) -> int:
    """The boxes sharing the database: state, heartbeat age, host, modems, release."""
    service = _service(_existing_settings(args))
    now = service.clock()
    modems: dict[str, list[str]] = {}
    for modem in service.modems.list_modems():
        modems.setdefault(modem.box or "", []).append(modem.name)
    print(f"{'BOX':16} {'STATE':8} {'HEARTBEAT':>10}  {'HOST':20} {'PID':>7}  {'VERSION':10} MODEMS")
    for box in service.store.boxes.list_boxes():
        age = f"{(now - box.heartbeat_at).total_seconds():.0f} s ago"
        print(f"{box.name:16} {box.state:8} {age:>10}  {box.host:20} {box.pid:>7}  {box.version:10} "
              f"{', '.join(modems.get(box.name, [])) or '-'}")
    return 0


def _command_name() -> str:
    """How this shell reaches `smsgw`: the script's path relative to here, or `python -m gateway`."""
    script = Path(sys.argv[0])
    if script.name != "smsgw":
        return f"{Path(sys.executable).name} -m gateway"
    relative = os.path.relpath(script)
    return str(script) if relative.startswith("..") else relative


def _demo_admin_password(service: GatewayService, saved: dict[str, str]) -> str:
    """The demo's status page password: SMSGW_ADMIN_PASSWORD (applied at start), else the saved one while it
    works, else a new one."""
    import secrets

    from gateway.appliance.demo import demo_password
    from gateway.core.admin_auth import PASSWORD_ENV

    if os.environ.get(PASSWORD_ENV):
        return f"(from ${PASSWORD_ENV})"
    return demo_password(service, saved, secrets.token_urlsafe(12))


def _new_password(given: str | None, whose: str) -> str | None:
    """`given`, else one typed twice (None, said on stderr, when the two differ)."""
    import getpass

    if given is not None:
        return given
    password = getpass.getpass(f"new password for {whose}: ")
    if getpass.getpass("again: ") != password:
        print("smsgw: the passwords differ; nothing changed", file=sys.stderr)
        return None
    return password


def cmd_users(args: argparse.Namespace) -> int:
    service = _service(_existing_settings(args))
    if args.users_command == "add":
        password = _new_password(args.password, args.username)
        if password is None:
            return 2
        account = service.accounts.account_named(args.account) if args.account else None
        user = service.admin.add_user(args.username, args.role, password, account_id=account.id if account else None)
        service.privacy.audit("cli", "user.added", target=user.username, remote_addr="local", detail=user.role)
        counted = f"; what they send counts against account {args.account}" if args.account else ""
        print(f"user {user.username} added ({user.role}); they log in to the pages with their username{counted}")
    elif args.users_command == "remove":
        service.admin.remove_user(args.username)
        service.privacy.audit("cli", "user.removed", target=args.username, remote_addr="local")
        print(f"user {args.username} removed; their sessions have ended")
    elif args.users_command == "two-step-off":
        service.admin.turn_off_totp(args.username)
        service.privacy.audit("cli", "user.two_step_off", target=args.username, remote_addr="local")
        print(f"user {args.username} logs in with the password alone now; their sessions have ended")
    else:
        print(f"{'USERNAME':24}  {'ROLE':9}  {'TWO-STEP':8}  {'CREATED':20}  LAST LOGIN")
        for user in service.admin.list_users():
            last = user.last_login_at.strftime("%Y-%m-%d %H:%M:%S") if user.last_login_at else "never"
            two_step = "on" if user.totp_secret else "off"
            print(f"{user.username:24}  {user.role:9}  {two_step:8}  {user.created_at:%Y-%m-%d %H:%M:%S}  {last}")
    return 0


def cmd_accounts(args: argparse.Namespace) -> int:
    service = _service(_existing_settings(args))
    if args.accounts_command in ("add", "set"):
        limits = {"per_day": args.per_day, "per_month": args.per_month, "budget": args.budget,
                  "routes": _comma_list(args.routes)}
        if args.accounts_command == "add":
            account = service.accounts.add_account(args.name, **limits)
        else:
            account = service.accounts.update_account(args.name, **limits)
        action = "account.added" if args.accounts_command == "add" else "account.changed"
        service.privacy.audit("cli", action, target=account.name, remote_addr="local")
        print(f"account {account.name}: {_quota_text(account)}")
    elif args.accounts_command == "remove":
        service.accounts.remove_account(args.name)
        service.privacy.audit("cli", "account.removed", target=args.name, remote_addr="local")
        print(f"account {args.name} removed; its keys and users count against no account now")
    else:
        print(f"{'ACCOUNT':20}  {'TODAY':>12}  {'THIS MONTH':>14}  {'COST THIS MONTH':>18}  ROUTES")
        for account, use in service.accounts.list_accounts():
            print(f"{account.name:20}  {_of(use.day_parts, account.per_day):>12}  "
                  f"{_of(use.month_parts, account.per_month):>14}  {_of(use.month_cost, account.budget):>18}  "
                  f"{', '.join(account.route_list) or 'any'}")
    return 0


def _comma_list(text: str | None) -> list[str]:
    """An option's comma-separated items ("send, read" -> ["send", "read"]; none given: [])."""
    return [item.strip() for item in (text or "").split(",") if item.strip()]


def _of(used: float, limit: float | None) -> str:
    return f"{used:g} of {limit:g}" if limit is not None else f"{used:g}"


def _quota_text(account: Account) -> str:
    limits = [f"{account.per_day} parts a day" if account.per_day is not None else "",
              f"{account.per_month} parts a month" if account.per_month is not None else "",
              f"a budget of {account.budget:g} a month" if account.budget is not None else ""]
    return (", ".join(filter(None, limits)) or "no limit") + f"; routes: {', '.join(account.route_list) or 'any'}"


def cmd_admin(args: argparse.Namespace) -> int:
    from gateway.appliance.runtime import open_store
    from gateway.core.admin_auth import AdminAuth

    password = _new_password(args.password, "admin")
    if password is None:
        return 2
    store = open_store(_existing_settings(args))
    try:
        AdminAuth(store).set_password(password)
    finally:
        store.close()
    print("admin password set; sessions opened with the old one have ended")
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    from gateway.appliance.runtime import open_store

    if args.db_command == "copy":
        return _db_copy(args)
    settings = _settings(args)
    if args.backup_to:
        from gateway.appliance.backup import copy_before_upgrade

        copy = copy_before_upgrade(settings, Path(args.backup_to))
        if copy is not None:
            print(f"copied the database to {copy} before upgrading it")
    open_store(settings).close()
    print(f"database {settings.database.url} is at the latest schema")
    return 0


def _db_copy(args: argparse.Namespace) -> int:
    """`smsgw db copy --to URL`: this box's database into an empty one (PostgreSQL, for several boxes)."""
    from gateway.appliance import dbcopy
    from gateway.appliance.runtime import open_store
    from gateway.store import Store

    source = open_store(_existing_settings(args))
    try:
        key = dbcopy.target_key(source, args.to, args.key_file or "")
        target = Store.from_url(args.to, key_file=str(key))
        try:
            shown: dict[str, int] = {}

            def progress(table: str, done: int, total: int) -> None:
                if done == total or done - shown.get(table, 0) >= 10 * dbcopy.BATCH:
                    shown[table] = done
                    print(f"  {table}: {done}/{total}", flush=True)

            copied = dbcopy.copy_database(source, target, progress)
        finally:
            target.close()
    finally:
        source.close()
    print(f"copied {sum(copied.values())} rows of {len(copied)} tables to {args.to}, every one read back and "
          f"compared; its box key is {key}: point [database] url and [security] key_file at them")
    return 0


def cmd_key(args: argparse.Namespace) -> int:
    """A new box key seals everything; the key file then holds only it (the old one is gone for good)."""
    from gateway.appliance.runtime import open_store

    store = open_store(_existing_settings(args))
    try:
        old, path = store.box_key, store.box_key.path
        if path is None:
            print("smsgw: an in-memory database has no key file to rotate", file=sys.stderr)
            return 2
        new = old.rotated()
        new.save()  # both keys: a crash from here on is finished by the next start
        changed = store.rekey(new)
        new.only_current().save()
    finally:
        store.close()
    print(f"box key {new.id} replaces {old.id} in {path}; {changed} sealed values moved to it")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    """`smsgw backup FILE` (online) and `smsgw restore FILE` (onto a fresh box)."""
    from gateway.appliance import backup
    from gateway.appliance.runtime import open_store
    from gateway.clock import utcnow

    target = Path(args.file)
    if args.command == "backup":
        manifest = backup.backup(_existing_settings(args), target, _passphrase(args, confirm=True), utcnow())
        print(f"backed up the {manifest['database']} database (schema {manifest['schema']}) and its box key to "
              f"{target}; keep the passphrase: the box key cannot be restored without it")
        return 0
    settings = _settings(args)
    manifest = backup.restore(settings, target, _passphrase(args, confirm=False))
    store = open_store(settings)  # migrates a backup of an older release; checks the key opens it
    try:
        counts = store.outbox.count_by_state()
    finally:
        store.close()
    print(f"restored {target} (release {manifest['release']}, made {manifest['created_at']}) into "
          f"{settings.database.url}; messages: " + (", ".join(f"{s} {n}" for s, n in sorted(counts.items())) or "none"))
    return 0


def _passphrase(args: argparse.Namespace, *, confirm: bool) -> str:
    """The backup's passphrase: --passphrase-file, else $SMSGW_BACKUP_PASSPHRASE, else asked (twice to set it)."""
    import getpass

    from gateway.appliance.backup import BackupError

    if args.passphrase_file:
        return Path(args.passphrase_file).read_text().strip()
    if os.environ.get(BACKUP_PASSPHRASE_ENV):
        return os.environ[BACKUP_PASSPHRASE_ENV]
    passphrase = getpass.getpass("backup passphrase: ")
    if confirm and getpass.getpass("again: ") != passphrase:
        raise BackupError("the passphrases differ; nothing written")
    return passphrase


def cmd_modems_scan(args: argparse.Namespace) -> int:
    """Probe serial devices and print a [[modems]] block per modem found (comments go to stderr's log)."""
    from gateway.modem.discovery import DEFAULT_PATTERNS, scan

    patterns = list(DEFAULT_PATTERNS if not args.only else ()) + list(args.path or [])
    found, probes = scan(patterns, args.timeout)
    for p in probes:
        what = (f"{p.manufacturer} {p.model} IMEI {p.imei}" if p.status == "modem" else p.detail or p.status)
        print(f"# {p.path}: {p.status}: {what}")
    if not found:
        print("# no modem answered AT" + ("" if probes else " (no serial device found)"))
        return 1
    for modem in found:
        print()
        print(modem.toml())
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from gateway.appliance import doctor
    from gateway.clock import utcnow

    findings = doctor.run(_settings(args), clock=utcnow, modem_timeout_s=args.timeout,
                          check_api=not args.no_api)
    print(doctor.render(findings))
    return doctor.exit_code(findings)


def cmd_tls(args: argparse.Namespace) -> int:
    from gateway.appliance.tls import make_selfsigned
    from gateway.clock import utcnow

    cert, key = make_selfsigned(args.out, args.hostname or None, now=utcnow())
    print(f"wrote {cert} and {key}; serve HTTPS with, in the config:")
    print(f'[server]\ntls_cert = "{cert.resolve()}"\ntls_key = "{key.resolve()}"')
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smsgw", description="On-premise SMS gateway")
    parser.add_argument("--version", action="version", version=f"smsgw {VERSION}")
    parser.add_argument("--log-level", default=os.environ.get("SMSGW_LOG_LEVEL", "INFO"))
    sub = parser.add_subparsers(dest="command", required=True)

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--config", help="TOML config file (default: $SMSGW_CONFIG or /etc/smsgw/config.toml)")
        return p

    with_config(sub.add_parser("run", help="API, modem pool and status page in one process")).set_defaults(
        func=cmd_run)

    demo = with_config(sub.add_parser("demo", help="run with emulated modems and SQLite under ./var"))
    demo.add_argument("--modems", type=int, default=2)
    demo.add_argument("--port", type=int, default=int(os.environ.get("SMSGW_PORT", 8080)))
    demo.add_argument("--host", default=os.environ.get("SMSGW_HOST", "127.0.0.1"))
    demo.add_argument("--var", default="var", help="directory for the database and modem links")
    demo.add_argument("--latency-ms", type=int, default=500, help="emulated network send latency")
    demo.set_defaults(func=cmd_demo, demo_command=None)
    demo_sub = demo.add_subparsers(dest="demo_command")
    inject = demo_sub.add_parser("inject", help="an SMS arrives at the running demo (of --var)")
    inject.add_argument("--from", dest="sender", required=True, help="the sender: +447911123456 or a name")
    inject.add_argument("--text", required=True)
    inject.add_argument("--modem", help="the demo modem it arrives on (default: the first)")

    keys = sub.add_parser("keys", help="manage API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = with_config(keys_sub.add_parser("create", help="create a key (printed once, on the last line)"))
    create.add_argument("--name", required=True)
    create.add_argument("--scopes", default="send,read", help=f"comma-separated among {','.join(SCOPES)}")
    create.add_argument("--expires-in", type=parse_duration, metavar="DURATION",
                        help="refused after this long (30d, 24h, 90m)")
    create.add_argument("--account", help="the account (smsgw accounts) its sends count against")
    with_config(keys_sub.add_parser("list", help="list keys"))
    revoke = with_config(keys_sub.add_parser("revoke", help="revoke a key by id"))
    revoke.add_argument("id", type=int)
    rotate = with_config(keys_sub.add_parser(
        "rotate", help="a new key with the same name and scopes (printed once); the old one keeps working "
                       "for --overlap, then is refused"))
    rotate.add_argument("id", type=int)
    rotate.add_argument("--overlap", type=parse_duration, metavar="DURATION", default=None,
                        help="how long both keys are valid (24h); default: the old key is revoked at once")
    keys.set_defaults(func=cmd_keys)

    send = with_config(sub.add_parser("send", help="queue a message"))
    send.add_argument("--to", required=True, action="append", help="recipient (repeat for several)")
    send.add_argument("--body", required=True)
    send.add_argument("--delivery-report", action="store_true", default=None)
    send.set_defaults(func=cmd_send)

    with_config(sub.add_parser("status", help="modems and queue")).set_defaults(func=cmd_status)
    with_config(sub.add_parser("boxes", help="the boxes sharing the database, with their heartbeats")).set_defaults(
        func=cmd_boxes)

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    upgrade = with_config(db_sub.add_parser("upgrade", help="migrate the schema to the latest revision"))
    upgrade.add_argument("--backup-to", metavar="DIR", help="first copy the database and its key file into DIR "
                                                            "(when there is a schema change to make)")
    copy = with_config(db_sub.add_parser("copy", help="copy everything into another, empty database "
                                                      "(e.g. PostgreSQL, when one box becomes several)"))
    copy.add_argument("--to", required=True, metavar="URL", help="postgresql+psycopg://user:password@host/db")
    copy.add_argument("--key-file", help="the target's box key file (the source's key is copied there); PostgreSQL "
                                         "needs it named")
    db.set_defaults(func=cmd_db)

    key = sub.add_parser("key", help="the box key that seals the database's secrets")
    key_sub = key.add_subparsers(dest="key_command", required=True)
    with_config(key_sub.add_parser(
        "rotate", help="seal everything under a new box key and forget the old one (stop every box on the "
                       "database first, and give the others the new key file)"))
    key.set_defaults(func=cmd_key)

    for name, verb in (("backup", "write the database and its box key (encrypted) to FILE, online"),
                       ("restore", "put a backup in place on a fresh box (no database or key file yet)")):
        command = with_config(sub.add_parser(name, help=verb))
        command.add_argument("file", metavar="FILE")
        command.add_argument("--passphrase-file", help=f"read the passphrase from here (else ${BACKUP_PASSPHRASE_ENV}, "
                                                       "else it is asked)")
        command.set_defaults(func=cmd_backup)

    modems = sub.add_parser("modems", help="find modems")
    modems_sub = modems.add_subparsers(dest="modems_command", required=True)
    scan = modems_sub.add_parser("scan", help="probe serial devices; print a [[modems]] block per modem found")
    scan.add_argument("--path", action="append", help="another device path or glob to probe (repeatable)")
    scan.add_argument("--only", action="store_true", help="probe only the --path ones, not /dev/ttyUSB* etc.")
    scan.add_argument("--timeout", type=float, default=0.5, help="seconds to wait for each AT answer")
    modems.set_defaults(func=cmd_modems_scan)

    doctor = with_config(sub.add_parser("doctor", help="check modems, SIMs, database, disk, clock and API"))
    doctor.add_argument("--timeout", type=float, default=1.0, help="seconds to wait for each AT answer")
    doctor.add_argument("--no-api", action="store_true", help="skip the API check (the gateway is not running)")
    doctor.set_defaults(func=cmd_doctor)

    tls = sub.add_parser("tls", help="TLS certificates for `smsgw run`")
    tls_sub = tls.add_subparsers(dest="tls_command", required=True)
    selfsigned = tls_sub.add_parser("selfsigned", help="make a self-signed certificate and key for this box")
    selfsigned.add_argument("--out", default=".", help="directory for smsgw.crt and smsgw.key")
    selfsigned.add_argument("--hostname", default="", help="the name clients use (default: this host's name)")
    tls.set_defaults(func=cmd_tls)

    admin = sub.add_parser("admin", help="the status page's admin")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True)
    password = with_config(admin_sub.add_parser("password", help="set the status page's admin password"))
    password.add_argument("--password", help="the new password (asked for when not given)")
    admin.set_defaults(func=cmd_admin)

    users = sub.add_parser("users", help="people who log in to the pages, each in a role")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    add = with_config(users_sub.add_parser("add", help="add a user (the password is asked for when not given)"))
    add.add_argument("username")
    add.add_argument("--role", choices=ROLES, default="operator",
                     help="admin: everything; operator: send, conversations, contacts; viewer: look only")
    add.add_argument("--password")
    add.add_argument("--account", help="the account (smsgw accounts) what they send counts against")
    with_config(users_sub.add_parser("list", help="list users"))
    remove = with_config(users_sub.add_parser("remove", help="remove a user"))
    remove.add_argument("username")
    two_step_off = with_config(users_sub.add_parser(
        "two-step-off", help="let a user log in with the password alone (their authenticator app is lost)"))
    two_step_off.add_argument("username")
    users.set_defaults(func=cmd_users)

    accounts = sub.add_parser("accounts", help="departments: their quotas and routes, and what each has used")
    accounts_sub = accounts.add_subparsers(dest="accounts_command", required=True)
    for verb, text in (("add", "add an account"), ("set", "set an account's quota and routes (all of them)")):
        change = with_config(accounts_sub.add_parser(verb, help=text))
        change.add_argument("name")
        change.add_argument("--per-day", type=int, help="SMS parts a UTC day (default: no limit)")
        change.add_argument("--per-month", type=int, help="SMS parts a calendar month")
        change.add_argument("--budget", type=float, help="cost units a calendar month ([[modems]] cost)")
        change.add_argument("--routes", help="comma-separated modems, groups or upstreams its messages may leave "
                                             "by, the first for the rest (default: any)")
    with_config(accounts_sub.add_parser("list", help="accounts and what each has used"))
    remove = with_config(accounts_sub.add_parser("remove", help="remove an account"))
    remove.add_argument("name")
    accounts.set_defaults(func=cmd_accounts)
    return parser


PRIVATE_UMASK = 0o077  # what the box creates (database, WAL, keys, the demo's var/) only its user can read


def main(argv: Sequence[str] | None = None) -> int:
    os.umask(PRIVATE_UMASK)
    args = build_parser().parse_args(argv)
    logs.configure(_logging_settings(args), args.log_level)
    try:
        code: int = args.func(args)  # the cmd_* function of the subcommand
        return code
    except GatewayError as exc:
        print(f"smsgw: {exc.message}", file=sys.stderr)
        return getattr(exc, "exit_code", 2)
    except (OSError, ImportError) as exc:  # a file, a port or a device the command needs: said in one line
        print(f"smsgw: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        if type(exc).__module__.startswith("sqlalchemy"):  # the database refused (and was not wrapped): one line
            print(f"smsgw: the database refused: {getattr(exc, 'orig', None) or exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
