"""A SIM's credit from its operator's answer to the balance USSD code: the amount and currency, when the text
says them in one of the usual ways; None when it does not (the raw text is kept beside it, on the modem's row).

Read: a currency symbol or code before or after the amount ("£3.45", "EUR 12,50", "12.50 EUR", "45.30 Rs",
"Rs. 45.30", "KES 1,234.50"), a decimal comma or point, thousands separators. A figure next to a data or time
unit (MB, GB, min, SMS) or a date is not credit; of several amounts the first one after a word like "balance",
"credit", "saldo" or "solde" wins, else the first one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

_SYMBOLS = {"£": "GBP", "€": "EUR", "$": "USD", "₹": "INR", "₦": "NGN", "₱": "PHP", "¥": "JPY", "₺": "TRY",
            "zł": "PLN", "R$": "BRL", "Rs.": "INR", "Rs": "INR", "KSh": "KES", "Ksh": "KES", "TL": "TRY",
            "Kč": "CZK", "kr": "SEK", "lei": "RON", "руб.": "RUB", "руб": "RUB", "₽": "RUB"}
_CODE = r"[A-Z]{3}"
_CURRENCY = "|".join(sorted((re.escape(s) for s in _SYMBOLS), key=len, reverse=True)) + "|" + _CODE
_NUMBER = r"\d{1,3}(?:[ ,.\u00a0]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?"
_AMOUNT = re.compile(rf"(?P<before>{_CURRENCY})\s?(?P<n1>{_NUMBER})(?![\d/:])|"
                     rf"(?<![\d/:.])(?P<n2>{_NUMBER})\s?(?P<after>{_CURRENCY})(?![A-Za-z])")
_KEYWORD = re.compile(r"balance|credit|saldo|solde|guthaben|bakiye|balans", re.IGNORECASE)
_NOT_MONEY = {"SMS", "MIN", "MBS", "GBS", "KBS"}


@dataclass(frozen=True)
class Credit:
    amount: Decimal
    currency: str

    def __str__(self) -> str:
        return f"{self.amount:.2f} {self.currency}"


def parse_credit(text: str | None) -> Credit | None:
    if not text:
        return None
    found = []
    for match in _AMOUNT.finditer(text):
        currency = match.group("before") or match.group("after")
        code = _SYMBOLS.get(currency, currency)
        if code.upper() in _NOT_MONEY or not (code in _SYMBOLS.values() or re.fullmatch(_CODE, code)):
            continue
        amount = _amount(match.group("n1") or match.group("n2"))
        if amount is not None:
            found.append((match.start(), Credit(amount, code)))
    if not found:
        return None
    keyword = _KEYWORD.search(text)
    after = [credit for at, credit in found if keyword is not None and at >= keyword.start()]
    return (after or [credit for _, credit in found])[0]


def _amount(figure: str) -> Decimal | None:
    """"1,234.50", "1.234,50", "12,5", "1 234" → Decimal."""
    figure = figure.replace("\u00a0", " ").replace(" ", "")
    last_sep = max(figure.rfind(","), figure.rfind("."))
    if last_sep != -1 and len(figure) - last_sep - 1 in (1, 2):  # a decimal part
        whole, decimals = figure[:last_sep], figure[last_sep + 1:]
    else:
        whole, decimals = figure, "0"
    try:
        return Decimal(re.sub(r"[.,]", "", whole) + "." + decimals)
    except InvalidOperation:
        return None
