"""Credit read from operators' balance answers (gateway/rules/credit.py)."""

from decimal import Decimal

import pytest

from gateway.rules.credit import Credit, parse_credit


@pytest.mark.parametrize("text, amount, currency", [
    ("Your balance is £3.45. Top up at shop.example", "3.45", "GBP"),
    ("Saldo: 12,50 EUR. Valido fino al 31/12/2026", "12.50", "EUR"),
    ("Votre solde est de 5,20 €. Offre valable jusqu'au 01/01", "5.20", "EUR"),
    ("Dear customer, your main account balance is Rs. 45.30 and data 1.2 GB", "45.30", "INR"),
    ("KES 1,234.50 is your airtime balance. Dial *144#", "1234.50", "KES"),
    ("Bonus 100 SMS valid 30 days. Credit: USD 0.75", "0.75", "USD"),
    ("Ihr Guthaben beträgt 1.234,56 EUR", "1234.56", "EUR"),
    ("Balance 250 NGN, 500MB left", "250", "NGN"),
    ("Your credit is R$ 10,00", "10.00", "BRL"),
])
def test_the_usual_answers_give_amount_and_currency(text, amount, currency):
    assert parse_credit(text) == Credit(Decimal(amount), currency)


@pytest.mark.parametrize("text", [
    None, "", "Your request could not be processed", "You have 500 MB and 100 SMS left until 31/12",
    "UNKNOWN APPLICATION", "Call 0800 123 456 for help",
])
def test_answers_without_money_give_none(text):
    assert parse_credit(text) is None


def test_the_amount_after_the_word_balance_wins():
    assert parse_credit("Top up 10 EUR and get 5 EUR free! Your balance: 2.10 EUR") == Credit(Decimal("2.10"), "EUR")
    assert str(parse_credit("balance £3.4")) == "3.40 GBP"
