"""Handlers for the SMS commands of 27.005 (PDU and text mode) and the routing of incoming SMS and
status reports (+CMTI/+CMT, +CDS/+CDSI) by the current +CNMI and +CPMS settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from . import pdu
from .basic_commands import setting
from .engine import AtEngine, AtError, Command, Handler, frame
from .messages import STAT_NAMES, SentSms, StoredSms
from .state import ModemState, Session, can_send_sms

HANDLERS: dict[str, Handler] = {"+CMMS": setting}
READ_MEMORIES = ("SM", "ME", "SR")
WRITE_MEMORIES = ("SM", "ME")
TEXT_STATS = {name: code for code, name in STAT_NAMES.items()}


def handles(*names: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for name in names:
            HANDLERS[name] = fn
        return fn
    return register


def _scts_text(when: datetime) -> str:
    offset = when.utcoffset()
    quarters = int(offset.total_seconds() // 900) if offset else 0
    return when.strftime("%y/%m/%d,%H:%M:%S") + "%+03d" % quarters


# --- settings ----------------------------------------------------------------------------------

@handles("+CMGF")
def cmgf(eng: AtEngine, cmd: Command) -> list[str]:
    if cmd.kind == "test":
        return ["+CMGF: (0,1)"]
    if cmd.kind == "read":
        return [f"+CMGF: {eng.session.cmgf}"]
    (mode,) = cmd.int_params() or [0]
    if mode not in (0, 1):
        raise eng.cme(50)
    eng.session.cmgf = mode
    return []


@handles("+CSCA")
def csca(eng: AtEngine, cmd: Command) -> list[str]:
    if cmd.kind == "test":
        return []
    if cmd.kind == "read":
        return [f'+CSCA: "{eng.te_encode(eng.state.smsc)}",{145 if eng.state.smsc.startswith("+") else 129}']
    number = eng.te_decode(cmd.params()[0])
    if not number.lstrip("+").isdigit():
        raise eng.cms(304)
    eng.state.smsc = number
    return []


@handles("+CSMP")
def csmp(eng: AtEngine, cmd: Command) -> list[str]:
    if cmd.kind == "test":
        return []
    if cmd.kind == "read":
        return ["+CSMP: %d,%d,%d,%d" % eng.session.csmp]
    values = list(eng.session.csmp)
    for k, value in enumerate(cmd.int_params()[:4]):
        if value is not None:
            values[k] = value
    eng.session.csmp = tuple(values)  # type: ignore[assignment]
    return []


@handles("+CSMS")
def csms(eng: AtEngine, cmd: Command) -> list[str]:
    if cmd.kind == "test":
        return ["+CSMS: (0,1)"]
    if cmd.kind == "read":
        return ["+CSMS: 0,1,1,1"]
    return ["+CSMS: 1,1,1"]


@handles("+CPMS")
def cpms(eng: AtEngine, cmd: Command) -> list[str]:
    storage = eng.state.storage
    if cmd.kind == "test":
        return ['+CPMS: ("SM","ME","SR"),("SM","ME"),("SM","ME")']
    if cmd.kind == "read":
        return ["+CPMS: " + ",".join(f'"{m}",{storage.used(m)},{storage.capacity(m)}'
                                     for m in eng.session.cpms)]
    names = [p.upper() for p in cmd.params()]
    if not 1 <= len(names) <= 3 or names[0] not in READ_MEMORIES or \
            any(n not in WRITE_MEMORIES for n in names[1:]):
        raise eng.cms(302)
    eng.session.cpms = tuple(names + list(eng.session.cpms[len(names):]))  # type: ignore[assignment]
    return ["+CPMS: " + ",".join(f"{storage.used(m)},{storage.capacity(m)}" for m in eng.session.cpms)]


@handles("+CNMI")
def cnmi(eng: AtEngine, cmd: Command) -> list[str]:
    if cmd.kind == "test":
        return ["+CNMI: (0-3),(0-3),(0,2),(0-2),(0,1)"]
    if cmd.kind == "read":
        return ["+CNMI: %d,%d,%d,%d,%d" % eng.session.cnmi]
    values = list(eng.session.cnmi)
    limits = (3, 3, 2, 2, 1)
    for k, value in enumerate(cmd.int_params()[:5]):
        if value is not None:
            if not 0 <= value <= limits[k]:
                raise eng.cms(303)
            values[k] = value
    eng.session.cnmi = tuple(values)  # type: ignore[assignment]
    return []


# --- sending -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class PduSubmit:
    length: int
    delayed: bool = True

    def finish(self, eng: AtEngine, body: str) -> tuple[list[str], str]:
        hex_text = "".join(body.split())
        try:
            data = bytes.fromhex(hex_text)
            has_smsc = len(data) != self.length
            submit = pdu.decode_submit(hex_text, has_smsc=has_smsc)
        except (ValueError, IndexError):
            return [], "+CMS ERROR: 304"
        if submit.tpdu_length != self.length:
            return [], "+CMS ERROR: 304"
        return _accept(eng, SentSms(
            number=submit.number, text=submit.text, encoding=submit.alphabet,  # type: ignore[arg-type]
            reference=-1, concat=submit.concat,
            status_report_requested=submit.status_report_requested, pdu=hex_text, mode="pdu"))


@dataclass(frozen=True)
class TextSubmit:
    number: str
    delayed: bool = True

    def finish(self, eng: AtEngine, body: str) -> tuple[list[str], str]:
        first, _vp, _pid, dcs = eng.session.csmp
        return _accept(eng, SentSms(
            number=self.number, text=eng.te_decode(body), encoding=pdu.alphabet_of(dcs),  # type: ignore[arg-type]
            reference=-1, concat=None, status_report_requested=bool(first & 0x20), pdu="", mode="text"))


def _accept(eng: AtEngine, sms: SentSms) -> tuple[list[str], str]:
    if not can_send_sms(eng.state, eng.session):
        return [], "+CMS ERROR: 331"            # no network service
    failure = eng.state.take_failure()
    if failure is not None:
        return [], failure
    mr = eng.state.take_reference()
    eng.state.record_sent(SentSms(**{**sms.__dict__, "reference": mr}))
    if sms.status_report_requested:
        state, session, queue_urc = eng.state, eng.session, eng.hooks.queue_urc
        status = state.report_status_now()
        eng.hooks.schedule(state.report_delay_ms / 1000, lambda: route_status_report(
            state, session, queue_urc, mr, sms.number, status))
    if sms.concat is None or sms.concat[2] == sms.concat[1]:  # the whole message went: its recipient may answer
        _maybe_reply(eng, sms.number)
    return [f"+CMGS: {mr}"], "" if eng.state.take_lost_ok() else "OK"


def _maybe_reply(eng: AtEngine, number: str) -> None:
    """Now and then (`reply_rate`) the recipient answers a few seconds later, as people do: the demo's inbox
    and conversations come alive."""
    state, session, queue_urc = eng.state, eng.session, eng.hooks.queue_urc
    if not state.reply_rate or state.rng.random() >= state.reply_rate:
        return
    text = state.rng.choice(RECIPIENT_REPLIES)
    pdus = pdu.deliver_pdus(number, text, when=datetime.now(timezone.utc).replace(microsecond=0), smsc=state.smsc,
                            concat_ref=state.rng.randrange(1, 256))

    def arrive() -> None:
        for hex_pdu in pdus:
            route_incoming(state, session, queue_urc, hex_pdu)

    eng.hooks.schedule(state.rng.uniform(*REPLY_DELAY_S), arrive)


RECIPIENT_REPLIES = ("Thanks, got it!", "OK", "See you then 👍", "Can you call me back?", "Yes please",
                     "Is the appointment still on?")
REPLY_DELAY_S = (2.0, 8.0)


@handles("+CMGS")
def cmgs(eng: AtEngine, cmd: Command) -> list[str]:
    if cmd.kind == "test":
        return []
    if cmd.kind != "set":
        raise AtError("ERROR")
    if eng.session.cmgf == 0:
        length = int(cmd.params()[0])
        if not 7 <= length <= 164:
            raise eng.cms(304)
        eng.begin_prompt(PduSubmit(length))
    else:
        number = eng.te_decode(cmd.params()[0])
        if not number:
            raise eng.cms(305)
        eng.begin_prompt(TextSubmit(number))
    return []


# --- reading and deleting ----------------------------------------------------------------------

def _text_header(eng: AtEngine, sms: StoredSms, prefix: str) -> list[str]:
    stat = STAT_NAMES[sms.status]
    if sms.is_status_report:
        rep = pdu.decode_status_report(sms.pdu)
        return [f'{prefix}"{stat}",6,{rep.reference},"{rep.recipient}",145,'
                f'"{_scts_text(rep.submitted)}","{_scts_text(rep.discharged)}",{rep.status}']
    msg = pdu.decode_deliver(sms.pdu)
    return [f'{prefix}"{stat}","{eng.te_encode(msg.sender)}","","{_scts_text(msg.timestamp)}"',
            eng.te_encode(msg.text)]


def _index(eng: AtEngine, text: str, memory: str) -> int:
    index = int(text)
    if not 1 <= index <= eng.state.storage.capacity(memory):
        raise eng.cms(321)
    return index


@handles("+CMGR")
def cmgr(eng: AtEngine, cmd: Command) -> list[str]:
    if cmd.kind == "test":
        return []
    memory = eng.session.cpms[0]
    index = _index(eng, cmd.params()[0], memory)
    sms = eng.state.storage.get(memory, index)
    if sms is None:
        raise eng.cms(321)
    eng.state.storage.mark_read(memory, index)
    if eng.session.cmgf == 1:
        return _text_header(eng, sms, "+CMGR: ")
    return [f"+CMGR: {sms.status},,{pdu.tpdu_length(sms.pdu)}", sms.pdu]


@handles("+CMGL")
def cmgl(eng: AtEngine, cmd: Command) -> list[str]:
    text_mode = eng.session.cmgf == 1
    if cmd.kind == "test":
        if text_mode:
            return ['+CMGL: ("REC UNREAD","REC READ","STO UNSENT","STO SENT","ALL")']
        return ["+CMGL: (0-4)"]
    arg = cmd.params()[0] if cmd.kind == "set" else ("REC UNREAD" if text_mode else "0")
    if text_mode:
        if arg.upper() not in (*TEXT_STATS, "ALL"):
            raise eng.cms(305)
        wanted = set(STAT_NAMES) if arg.upper() == "ALL" else {TEXT_STATS[arg.upper()]}
    else:
        stat = int(arg)
        if not 0 <= stat <= 4:
            raise eng.cms(304)
        wanted = set(STAT_NAMES) if stat == 4 else {stat}
    memory = eng.session.cpms[0]
    lines: list[str] = []
    for index, sms in eng.state.storage.items(memory).items():
        if sms.status not in wanted:
            continue
        if text_mode:
            lines += _text_header(eng, sms, f"+CMGL: {index},")
        else:
            lines += [f"+CMGL: {index},{sms.status},,{pdu.tpdu_length(sms.pdu)}", sms.pdu]
        eng.state.storage.mark_read(memory, index)
    return lines


@handles("+CMGD")
def cmgd(eng: AtEngine, cmd: Command) -> list[str]:
    memory = eng.session.cpms[0]
    storage = eng.state.storage
    if cmd.kind == "test":
        used = ",".join(str(i) for i in storage.items(memory))
        return [f"+CMGD: ({used}),(0-4)"]
    params = cmd.int_params()
    flag = params[1] if len(params) > 1 and params[1] is not None else 0
    if flag == 0:
        storage.delete(memory, _index(eng, str(params[0]), memory))
    elif flag in (1, 2, 3, 4):
        storage.delete_where(memory, {1: {1}, 2: {1, 3}, 3: {1, 2, 3}, 4: {0, 1, 2, 3}}[flag])
    else:
        raise eng.cms(321)
    return []


# --- routing of what the network delivers ---------------------------------------------------------

QueueUrc = Callable[[bytes], None]


def route_incoming(state: ModemState, session: Session, queue_urc: QueueUrc, pdu_hex: str,
                   *, silent: bool = False) -> int | None:
    """An SMS-DELIVER arrives: store it in the receive memory and announce it as +CNMI says.
    Returns the storage index (None when routed directly to the terminal as +CMT)."""
    mode, mt = session.cnmi[0], session.cnmi[1]
    if mt in (2, 3) and mode != 0 and not silent:
        if session.cmgf == 1:
            msg = pdu.decode_deliver(pdu_hex)
            queue_urc(frame([f'+CMT: "{msg.sender}","","{_scts_text(msg.timestamp)}"', msg.text]))
        else:
            queue_urc(frame([f"+CMT: ,{pdu.tpdu_length(pdu_hex)}", pdu_hex]))
        return None
    memory = session.cpms[2]
    index = state.storage.store(memory, StoredSms(pdu_hex, 0))
    if mt != 0 and mode != 0 and not silent:
        queue_urc(frame([f'+CMTI: "{memory}",{index}']))
    return index


def route_status_report(state: ModemState, session: Session, queue_urc: QueueUrc, reference: int,
                        recipient: str, status: int) -> None:
    """The network reports on a submit: +CDS (ds=1), stored in "SR" with +CDSI (ds=2), or dropped."""
    mode, ds = session.cnmi[0], session.cnmi[3]
    if ds == 0:
        return
    now = datetime.now(timezone.utc).replace(microsecond=0)
    report, length = pdu.encode_status_report(reference, recipient, status=status, submitted=now,
                                              discharged=now)
    if ds == 1:
        if mode == 0:
            return
        if session.cmgf == 1:
            line = f'+CDS: 6,{reference},"{recipient}",145,"{_scts_text(now)}","{_scts_text(now)}",{status}'
            queue_urc(frame([line]))
        else:
            queue_urc(frame([f"+CDS: {length}", report]))
        return
    index = state.storage.store("SR", StoredSms(report, 0))
    if mode != 0:
        queue_urc(frame([f'+CDSI: "SR",{index}']))
