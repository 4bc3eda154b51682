"""A GSM modem on a pseudo-terminal that real tools (Gammu, python-gsmmodem-new, pyserial) talk to.

    with FakeModem(link="/tmp/x/modem0", profile="simcom") as m:   # or "huawei", "quectel", "lte"
        ...                          # open /tmp/x/modem0 like /dev/ttyUSB0
        m.sent                       # [SentSms(...)] accepted via AT+CMGS, in order
        m.commands                   # every AT line received (and each AT+CMGS body, as sent)
        m.inject_sms("+447911123456", "hi")           # stored, announced with +CMTI
        m.wait_for(lambda m: len(m.sent) == 2, timeout_s=2)

Behaviour worth knowing:
* Incoming SMS go to the +CPMS receive memory (<mem3>, "SM" at power-on) and are announced per
  +CNMI (<mt>=1: +CMTI; 2/3: +CMT with the PDU, not stored; 0: stored silently). AT+CMGL/CMGR/CMGD
  work on <mem1>. Status reports: +CNMI <ds>=1 -> +CDS, 2 -> stored in "SR" + +CDSI, 0 -> dropped; their
  TP-ST is `report_status`, or "not delivered" (0x41) for the share set_undelivered_rate() asks for.
* +CME ERROR follows +CMEE (0: plain ERROR); +CMS ERROR (27.005) is always numeric.
* A submit fails with +CMS ERROR: 331 while not registered (+CREG stat not 1/5), then with
  set_fail_next()'s error, then at `fail_rate`; failed submits are not in `sent` and use no TP-MR.
* replug() is a power cycle: a fresh session (echo on, +CMEE=0, PIN asked again, +CNMI defaults),
  storage, `sent`, `commands` and the TP-MR counter are kept. restart() does the same on the open line,
  with the dialect's boot banners.
* Misbehaving on purpose: remove_sim()/insert_sim(), set_radio(), set_ims() (the "lte" profile has no CS
  domain and sends only over IMS), save_profile() (a stored ATV0/ATQ1), line_noise() (bare LF, NULs, stray
  bytes), lose_final_ok(), hang(), emit() (raw bytes, e.g. a supply warning), and `charset` at power-on.

Modules: `modem` (FakeModem: pty thread + test API), `engine` (AT interpreter, sans I/O),
`basic_commands` / `sms_commands` (handlers), `pdu` (TPDU codec), `storage`, `profiles`, `state`,
`port` (pty + link), `messages` (SentSms, StoredSms, reassemble), `network` (FakeNetwork: modems that reach
each other, and silent SIMs).
"""

from .messages import SentSms, StoredSms, reassemble
from .modem import FakeModem
from .network import FakeNetwork
from .profiles import PROFILES, Profile
from .storage import StorageFull

__all__ = ["FakeModem", "FakeNetwork", "SentSms", "StoredSms", "reassemble", "PROFILES", "Profile", "StorageFull"]
