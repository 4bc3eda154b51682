"""Modem dialects: what differs between a SIMCom SIM800 and a Huawei E1752 at the AT level."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    manufacturer: str                    # AT+CGMI
    model: str                           # AT+CGMM
    revision: str                        # AT+CGMR
    ati: tuple[str, ...]                 # ATI lines
    tac: str                             # first 8 IMEI digits (type allocation code)
    unknown_reply: str                   # final answer to a command it does not know
    clac: tuple[str, ...] | None         # AT+CLAC lines; None -> answers ERROR
    clac_line_end: str                   # appended to each CLAC line before the CRLF framing
    extra_commands: frozenset[str]       # vendor commands it answers (^CVOICE, +DDET, ...)
    ussd_needs_mode: bool                # AT+CUSD gives ERROR until AT^USSDMODE=0
    cgmr_prefix: str = ""
    sim_removed: tuple[str, ...] = ("+CPIN: NOT READY",)   # URCs when the SIM is pulled out
    # ... and when it is put back ({sim}: READY or SIM PIN)
    sim_inserted: tuple[str, ...] = ("+CPIN: {sim}", "Call Ready", "SMS Ready")
    boot_banners: tuple[str, ...] = ("RDY", "+CFUN: 1", "+CPIN: {sim}", "Call Ready", "SMS Ready")  # after a restart
    access_technology: int = 0           # +COPS <AcT>: 0 GSM, 2 UTRAN, 7 E-UTRAN (LTE)
    circuit_switched: bool = True        # +CREG reports the registration; False: LTE only, SMS over IMS alone


_COMMON = (
    "+CGMI", "+CGMM", "+CGMR", "+CGSN", "+CIMI", "+CMEE", "+CFUN", "+CPIN", "+CSQ", "+CREG", "+COPS",
    "+CMGF", "+CSCA", "+CSMP", "+CSCS", "+CPMS", "+CNMI", "+CLIP", "+CRC", "+CVHU", "+CMGS", "+CMGL",
    "+CMGR", "+CMGD", "+CMMS", "+CUSD", "+CNUM", "+CMGW", "+CMSS", "+CSMS", "+CLAC",
)

SIMCOM = Profile(
    name="simcom",
    manufacturer="SIMCOM_Ltd",
    model="SIMCOM_SIM800L",
    revision="1418B04SIM800L24",
    cgmr_prefix="Revision:",
    ati=("SIM800 R14.18",),
    tac="86777703",
    unknown_reply="ERROR",
    clac=None,
    clac_line_end="",
    extra_commands=frozenset({"+DDET", "+VTS", "+CSCLK", "+CBC"}),
    ussd_needs_mode=False,
)

HUAWEI = Profile(
    name="huawei",
    manufacturer="huawei",
    model="E1752",
    revision="11.126.03.00.00",
    ati=("Manufacturer: huawei", "Model: E1752", "Revision: 11.126.03.00.00", "+GCAP: +CGSM,+DS,+ES"),
    tac="35686803",
    unknown_reply="COMMAND NOT SUPPORT",
    clac=_COMMON + ("^CVOICE", "^DTMF", "^USSDMODE", "^CURC", "^SYSINFO"),
    clac_line_end="\r",
    extra_commands=frozenset({"^CVOICE", "^DTMF", "^USSDMODE", "^CURC", "^SYSINFO"}),
    ussd_needs_mode=True,
    sim_removed=("^SIMST: 255",),
    sim_inserted=("^SIMST: 1",),
    access_technology=2,
)

QUECTEL = Profile(  # EC25/EG25: LTE with SMS over SGs (CS registration kept by combined attach), +QIND URCs
    name="quectel",
    manufacturer="Quectel",
    model="EC25",
    revision="EC25EFAR06A06M4G",
    cgmr_prefix="Revision:",
    ati=("Quectel", "EC25", "Revision: EC25EFAR06A06M4G"),
    tac="86143203",
    unknown_reply="ERROR",
    clac=None,
    clac_line_end="",
    extra_commands=frozenset({"+CEREG", "+QCFG", "+QINDCFG", "+QNWINFO", "+CBC"}),
    ussd_needs_mode=False,
    sim_inserted=("+CPIN: {sim}", "+QUSIM: 1", "+QIND: SMS DONE"),
    boot_banners=("RDY", "+CFUN: 1", "+CPIN: {sim}", "+QUSIM: 1", "+QIND: SMS DONE"),
    access_technology=7,
)

LTE_ONLY = Profile(  # a generic LTE-only module (Cat-M/Cat-1): no 2G/3G, so no CS domain; SMS over IMS only
    name="lte",
    manufacturer="Generic",
    model="LTE-CAT1",
    revision="LTE1.0.7",
    ati=("Generic LTE-CAT1", "Revision: LTE1.0.7"),
    tac="35912345",
    unknown_reply="ERROR",
    clac=None,
    clac_line_end="",
    extra_commands=frozenset({"+CEREG", "+CIREG", "+CGSMS"}),
    ussd_needs_mode=False,
    sim_inserted=("+CPIN: {sim}",),
    boot_banners=("RDY", "+CFUN: 1", "+CPIN: {sim}"),
    access_technology=7,
    circuit_switched=False,
)

PROFILES = {p.name: p for p in (SIMCOM, HUAWEI, QUECTEL, LTE_ONLY)}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown modem profile {name!r}; known: {', '.join(PROFILES)}") from None
