"""Handlers for identification, SIM, network, USSD and plain settings commands (27.007 + V.250)."""

from __future__ import annotations

from typing import Callable

from .engine import AtEngine, AtError, Command, Handler
from .state import ModemState, Session, domain_registration

HANDLERS: dict[str, Handler] = {}
VENDOR: dict[str, Handler] = {}     # only registered when the profile lists the command


def handles(*names: str, vendor: bool = False) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for name in names:
            (VENDOR if vendor else HANDLERS)[name] = fn
        return fn
    return register


# --- V.250 basics ------------------------------------------------------------------------------

@handles("E")
def echo(eng: AtEngine, cmd: Command) -> list[str]:
    if cmd.args not in ("", "0", "1"):
        raise AtError("ERROR")
    eng.session.echo = cmd.args == "1"
    return []


@handles("Z")
def reset(eng: AtEngine, cmd: Command) -> list[str]:
    eng.session.reset_profile(eng.state.saved_profile)
    return []


@handles("&F")
def factory_defaults(eng: AtEngine, cmd: Command) -> list[str]:
    eng.session.reset_profile({"echo": True, "verbose": True, "quiet": False})
    return []


@handles("V", "Q")
def result_codes(eng: AtEngine, cmd: Command) -> list[str]:
    if cmd.args not in ("", "0", "1"):
        raise AtError("ERROR")
    if cmd.name == "V":
        eng.session.verbose = cmd.args == "1"
    else:
        eng.session.quiet = cmd.args == "1"
    return []


@handles("&W")
def save_profile(eng: AtEngine, cmd: Command) -> list[str]:
    session = eng.session
    eng.state.saved_profile = {"echo": session.echo, "verbose": session.verbose, "quiet": session.quiet}
    return []


@handles("X", "&C", "&D", "&K", "L", "M")
def accepted(eng: AtEngine, cmd: Command) -> list[str]:
    return []


@handles("I")
def identify(eng: AtEngine, cmd: Command) -> list[str]:
    return list(eng.profile.ati)


def _identity(value_of: Callable[[AtEngine], str]) -> Handler:
    def handler(eng: AtEngine, cmd: Command) -> list[str]:
        if cmd.kind == "test":
            return []
        if cmd.kind != "exec":
            raise AtError("ERROR")
        return [value_of(eng)]
    return handler


for _names, _value in (
    (("+CGMI", "+GMI"), lambda eng: eng.profile.manufacturer),
    (("+CGMM", "+GMM"), lambda eng: eng.profile.model),
    (("+CGMR", "+GMR"), lambda eng: eng.profile.cgmr_prefix + eng.profile.revision),
    (("+CGSN", "+GSN"), lambda eng: eng.state.imei),
    (("+CIMI",), lambda eng: eng.state.imsi),
    (("+GCAP",), lambda eng: "+GCAP: +CGSM"),
):
    handles(*_names)(_identity(_value))


@handles("+CMEE")
def cmee(eng: AtEngine, cmd: Command) -> list[str]:
    if cmd.kind == "test":
        return ["+CMEE: (0-2)"]
    if cmd.kind == "read":
        return [f"+CMEE: {eng.session.cmee}"]
    (n,) = cmd.int_params() or [0]
    if n not in (0, 1, 2):
        raise eng.cme(50)
    eng.session.cmee = n
    return []


@handles("+CFUN")
def cfun(eng: AtEngine, cmd: Command) -> list[str]:
    if cmd.kind == "test":
        return ["+CFUN: (0,1,4),(0,1)"]
    if cmd.kind == "read":
        return [f"+CFUN: {eng.session.cfun}"]
    fun = cmd.int_params()[0]
    if fun not in (0, 1, 4):
        raise eng.cme(50)
    eng.session.cfun = fun
    return []


@handles("+CPIN")
def cpin(eng: AtEngine, cmd: Command) -> list[str]:
    if cmd.kind == "test":
        return []
    if eng.state.sim == "absent":
        raise eng.cme(10)
    if cmd.kind == "read":
        if eng.state.sim == "puk":
            return ["+CPIN: SIM PUK"]
        return ["+CPIN: READY" if eng.session.pin_ok else "+CPIN: SIM PIN"]
    if cmd.kind != "set":
        raise AtError("ERROR")
    if eng.state.sim == "puk":  # AT+CPIN="<puk>","<new pin>"
        params = cmd.params()
        if len(params) < 2 or params[0] != eng.state.puk:
            raise eng.cme(16)
        eng.state.sim, eng.state.pin, eng.session.pin_ok = "ready", params[1], True
        return []
    if eng.session.pin_ok:
        raise eng.cme(3)
    if cmd.params()[0] != eng.state.pin:
        raise eng.cme(16)
    eng.session.pin_ok = True
    return []


# --- network -----------------------------------------------------------------------------------

@handles("+CSQ")
def csq(eng: AtEngine, cmd: Command) -> list[str]:
    if cmd.kind == "test":
        return ["+CSQ: (0-31,99),(0-7,99)"]
    rssi = eng.state.rssi if eng.session.cfun == 1 else 99
    return [f"+CSQ: {rssi},99"]


_REG_N = {"+CREG": "creg_n", "+CGREG": "cgreg_n", "+CEREG": "cereg_n"}  # the Session field of each <n>


def creg_line(state: ModemState, session: Session, with_n: bool, name: str = "+CREG") -> str:
    """+CREG/+CGREG/+CEREG read answer (with <n>) or URC (without)."""
    stat = domain_registration(state, session, name)
    n = getattr(session, _REG_N[name])
    head = f"{name}: {n},{stat}" if with_n else f"{name}: {stat}"
    if n == 2 and stat in (1, 5):
        head += ',"1A2B","0C3D"' if name != "+CEREG" else ',"1A2B","01A2B3C4",7'
    return head


@handles("+CREG", "+CGREG")
def creg(eng: AtEngine, cmd: Command) -> list[str]:
    if cmd.kind == "test":
        return [f"{cmd.name}: (0-2)"]
    if cmd.kind == "read":
        return [creg_line(eng.state, eng.session, with_n=True, name=cmd.name)]
    (n,) = cmd.int_params()[:1] or [0]
    if n not in (0, 1, 2):
        raise eng.cme(50)
    setattr(eng.session, _REG_N[cmd.name], n)
    return []


@handles("+CEREG", vendor=True)
def cereg(eng: AtEngine, cmd: Command) -> list[str]:
    return creg(eng, cmd)


@handles("+CIREG", vendor=True)
def cireg(eng: AtEngine, cmd: Command) -> list[str]:
    """IMS registration (TS 27.007 §8.71): +CIREG: <n>,<reg_info> (1 registered)."""
    if cmd.kind == "test":
        return ["+CIREG: (0-2)"]
    if cmd.kind == "read":
        return [f"+CIREG: {eng.session.cireg_n},{int(eng.state.ims_registered)}"]
    (n,) = cmd.int_params()[:1] or [0]
    eng.session.cireg_n = n or 0
    return []


@handles("+CGSMS", vendor=True)
def cgsms(eng: AtEngine, cmd: Command) -> list[str]:
    """The SMS service's domain: 1 circuit-switched (the LTE-only module has none to offer but PS/IMS)."""
    if cmd.kind == "test":
        return ["+CGSMS: (0-3)"]
    return ["+CGSMS: 2"] if cmd.kind == "read" else []


@handles("+QCFG", "+QINDCFG", vendor=True)
def quectel_config(eng: AtEngine, cmd: Command) -> list[str]:
    """Quectel's configuration commands: accepted; a read of "ims" says IMS is on."""
    params = cmd.params()
    if cmd.kind == "set" and len(params) == 1 and params[0].strip('"').lower() == "ims":
        return ['+QCFG: "ims",1,1']
    return []


@handles("+QNWINFO", vendor=True)
def quectel_network_info(eng: AtEngine, cmd: Command) -> list[str]:
    return [] if cmd.kind == "test" else ['+QNWINFO: "FDD LTE","23410","LTE BAND 3",1300']


@handles("+CGATT")
def cgatt(eng: AtEngine, cmd: Command) -> list[str]:
    if cmd.kind == "test":
        return ["+CGATT: (0,1)"]
    if cmd.kind == "read":
        return [f"+CGATT: {int(eng.registration in (1, 5))}"]
    return []


@handles("+COPS")
def cops(eng: AtEngine, cmd: Command) -> list[str]:
    name = eng.state.operator
    if cmd.kind == "test":
        return [f'+COPS: (2,"{name}","{name[:8]}","23410"),,(0-4),(0-2)']
    if cmd.kind == "read":
        if eng.registration not in (1, 5):
            return ["+COPS: 0"]
        fmt = eng.session.cops_format
        oper = {0: eng.te_encode(name), 1: eng.te_encode(name[:8]), 2: "23410"}[fmt]
        return [f'+COPS: 0,{fmt},"{oper}",{eng.profile.access_technology}']
    params = cmd.int_params()[:2]
    if params[0] == 3 and len(params) > 1:
        if params[1] not in (0, 1, 2):
            raise eng.cme(50)
        eng.session.cops_format = params[1]
    return []


@handles("+CNUM")
def cnum(eng: AtEngine, cmd: Command) -> list[str]:
    if cmd.kind == "test":
        return []
    number = eng.state.own_number
    return [f'+CNUM: "","{eng.te_encode(number)}",{145 if number.startswith("+") else 129}']


@handles("+CLAC")
def clac(eng: AtEngine, cmd: Command) -> list[str]:
    if eng.profile.clac is None or cmd.kind != "exec":
        raise AtError("ERROR")
    return [name + eng.profile.clac_line_end for name in eng.profile.clac]


@handles("+CSCS")
def cscs(eng: AtEngine, cmd: Command) -> list[str]:
    if cmd.kind == "test":
        return ['+CSCS: ("IRA","GSM","UCS2")']
    if cmd.kind == "read":
        return [f'+CSCS: "{eng.session.cscs}"']
    charset = cmd.params()[0].upper()
    if charset not in ("IRA", "GSM", "UCS2"):
        raise eng.cme(4)
    eng.session.cscs = charset
    return []


@handles("+CPBS")
def cpbs(eng: AtEngine, cmd: Command) -> list[str]:
    """Phonebook memory: present (SIM and phone, both empty) so phonebook probes get sane answers."""
    if cmd.kind == "test":
        return ['+CPBS: ("SM","ME")']
    if cmd.kind == "read":
        return [f'+CPBS: "{eng.session.cpbs}",0,{250 if eng.session.cpbs == "SM" else 500}']
    memory = cmd.params()[0].upper()
    if memory not in ("SM", "ME"):
        raise eng.cme(3)
    eng.session.cpbs = memory
    return []


# --- USSD --------------------------------------------------------------------------------------

USSD_REPLIES = {"*100#": "Your balance is 10.00", "*101#": "You have 500 free SMS left"}


@handles("+CUSD")
def cusd(eng: AtEngine, cmd: Command) -> list[str]:
    if cmd.kind == "test":
        return ["+CUSD: (0-2)"]
    if not eng.session.ussd_enabled:
        raise AtError("ERROR")
    if cmd.kind == "read":
        return [f"+CUSD: {eng.session.settings.get('+CUSD', '0')}"]
    params = cmd.params()
    eng.session.settings["+CUSD"] = params[0] or "0"
    if len(params) > 1 and params[1]:
        if eng.registration not in (1, 5):
            raise eng.cme(30)
        code = eng.te_decode(params[1])
        if code in eng.state.ussd_replies:
            reply = eng.state.ussd_replies[code]
            if reply is None:  # the network never answers
                return []
        else:
            reply = USSD_REPLIES.get(code, f"Unknown service code {code}")
        eng.urc(f'+CUSD: 0,"{eng.te_encode(reply)}",15')
    return []


@handles("^USSDMODE", vendor=True)
def ussd_mode(eng: AtEngine, cmd: Command) -> list[str]:
    if cmd.kind == "test":
        return ["^USSDMODE: (0-1)"]
    if cmd.kind == "read":
        return [f"^USSDMODE: {0 if eng.session.ussd_enabled else 1}"]
    eng.session.ussd_enabled = cmd.int_params()[0] == 0
    return []


# --- voice calls (only ever refused) ------------------------------------------------------------

@handles("H", "+CHUP")
def hang_up(eng: AtEngine, cmd: Command) -> list[str]:
    if cmd.kind == "test":
        return []
    with eng.state.lock:
        eng.state.ringing = None
    return []


# --- settings it accepts and remembers -----------------------------------------------------------

def setting(eng: AtEngine, cmd: Command) -> list[str]:
    if cmd.kind == "test":
        return []
    if cmd.kind == "read":
        return [f"{cmd.name}: {eng.session.settings.get(cmd.name, '0')}"]
    eng.session.settings[cmd.name] = cmd.args
    return []


for _name in ("+CLIP", "+CRC", "+CVHU", "+CSSN", "+CCWA", "+CMOD", "+CBST"):
    HANDLERS[_name] = setting
for _name in ("+DDET", "+VTS", "+CSCLK", "^CVOICE", "^DTMF", "^CURC"):
    VENDOR[_name] = setting


@handles("+CBC", vendor=True)
def battery(eng: AtEngine, cmd: Command) -> list[str]:
    return [] if cmd.kind == "test" else ["+CBC: 0,85,4100"]


@handles("^SYSINFO", vendor=True)
def sysinfo(eng: AtEngine, cmd: Command) -> list[str]:
    stat = eng.registration
    return [f"^SYSINFO: {2 if stat in (1, 5) else 0},3,{int(stat == 5)},3,1,,3"]
