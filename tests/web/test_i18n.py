"""The pages' languages: every text the templates, page modules and scripts show is in the catalogue and has its
French; the compiled catalogue is the one its .po says; a page is in the language the person chose on their own
page, else the one their browser asks for, else English; the scripts' texts come with the page."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from tests.conftest import wait_until
from tests.web.pages import logged_in, needs_chromium, shoot
from tests.web.test_users import PASSWORD, csrf_on, log_in_as
from web import i18n

ROOT = Path(__file__).resolve().parents[2]
FRENCH = i18n.TRANSLATIONS / "fr" / "LC_MESSAGES"


def test_every_text_of_the_pages_has_its_french(tmp_path):
    """What `make translations` extracts now is what the French catalogue holds, each text translated, with the
    same placeholders."""
    extracted = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg", "-k", "_l",
                    "-k", "said", "-o", str(extracted), "--no-location", "--omit-header", "."], cwd=ROOT, check=True,
                   capture_output=True, timeout=120)
    wanted = {(m.context, m.id) for m in read_po(extracted.open("rb")) if m.id}
    french = read_po((FRENCH / "messages.po").open("rb"), locale="fr")
    held = {(m.context, m.id): m for m in french if m.id}
    assert not wanted - held.keys(), "not in the catalogue yet (run `make translations`, then translate)"
    untranslated = [key for key in wanted if not all(_forms(held[key].string)) or held[key].fuzzy]
    assert not untranslated, "no French yet"
    assert not [(m.id, errors) for m in french if m.id for errors in m.check(french)]
    assert len(wanted) > 300


def test_the_compiled_catalogue_is_the_one_its_po_says():
    written = {(m.context, _forms(m.id)): _forms(m.string) for m in read_po((FRENCH / "messages.po").open("rb"))
               if m.id}
    compiled = {(m.context, _forms(m.id)): _forms(m.string) for m in read_mo((FRENCH / "messages.mo").open("rb"))
                if m.id}
    assert compiled == written, "run `make translations` to compile the catalogue"


def test_a_page_speaks_the_browsers_language_unless_the_person_chose_another(client, service):
    page = client.get("/login", headers={"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"}).get_data(as_text=True)
    assert '<html lang="fr">' in page and "Se connecter" in page
    page = client.get("/login", headers={"Accept-Language": "de-DE,de;q=0.9"}).get_data(as_text=True)
    assert '<html lang="en">' in page and "Log in" in page

    service.admin.add_user("reception", "operator", PASSWORD)
    assert log_in_as(client, "reception").status_code == 302
    chosen = client.post("/me/language", data={"csrf_token": csrf_on(client, "/me"), "lang": "fr"})
    assert chosen.status_code == 302 and "smsgw_lang=fr" in chosen.headers["Set-Cookie"]
    page = client.get("/me", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Connexion en deux étapes" in page and "Changer votre mot de passe" in page
    client.post("/me/language", data={"csrf_token": csrf_on(client, "/me"), "lang": ""})
    assert "Two-step login" in client.get("/me", headers={"Accept-Language": "en"}).get_data(as_text=True)
    client.post("/me/language", data={"csrf_token": csrf_on(client, "/me"), "lang": "xx"})  # not one we have
    assert "Two-step login" in client.get("/me").get_data(as_text=True)


def test_the_scripts_texts_come_with_a_french_page_and_not_with_an_english_one(client, service):
    service.admin.set_password(PASSWORD)
    log_in_as(client, "")

    def script_strings(language: str) -> dict[str, str]:
        page = client.get("/", headers={"Accept-Language": language}).get_data(as_text=True)
        found = re.search(r'<script type="application/json" id="i18n-strings">(.*?)</script>', page, re.S)
        assert found, "the page carries the scripts' texts"
        return json.loads(found.group(1))

    assert script_strings("en") == {}
    french = script_strings("fr")
    assert set(french) == set(i18n.script_texts()) and len(french) > 10
    assert sum(text != said for text, said in french.items()) > len(french) / 2


def test_error_pages_and_refusals_are_in_the_page_language(client, service):
    page = client.get("/no-such-page", headers={"Accept": "text/html", "Accept-Language": "fr"})
    assert page.status_code == 404 and "Page introuvable" in page.get_data(as_text=True)
    service.admin.set_password(PASSWORD)
    wrong = client.post("/login", data={"csrf_token": csrf_on(client, "/login"), "password": "wrong password"},
                        headers={"Accept-Language": "fr"})
    assert wrong.status_code == 401 and "Mot de passe erroné." in wrong.get_data(as_text=True)


def test_what_the_gateway_refuses_is_said_in_the_page_language(client, service):
    service.admin.set_password(PASSWORD)
    log_in_as(client, "")
    refused = client.post("/contacts", data={"csrf_token": csrf_on(client, "/contacts"), "number": "not a phone",
                                             "name": "Ann"}, headers={"Accept-Language": "fr"}, follow_redirects=True)
    assert "&#39;not a phone&#39; n’est pas un numéro de téléphone (" in refused.get_data(as_text=True)
    english = client.post("/contacts", data={"csrf_token": csrf_on(client, "/contacts"), "number": "not a phone",
                                             "name": "Ann"}, follow_redirects=True)
    assert "&#39;not a phone&#39; is not a phone number: The string" in english.get_data(as_text=True)
    api = client.post("/api/v1/messages", json={"to": "not a phone", "body": "x"},
                      headers={"Authorization": f"Bearer {service.keys.create_key('k', ['send'])[1]}",
                               "Accept-Language": "fr"})
    assert api.get_json()["error"]["message"].startswith("'not a phone' is not a phone number:")  # in English


def _forms(text) -> tuple[str, ...]:
    """A message's id or translation as a tuple of its forms (one unless it is counted)."""
    return tuple(text) if isinstance(text, (tuple, list)) else (text,)


@needs_chromium
def test_the_pages_in_french_in_a_real_browser(browser, gateway_factory):
    """Screenshots of the main pages in French at both widths (tests/artifacts/*_fr*.png): longer words still fit
    a phone, and axe-core finds nothing serious."""
    gateway, _, _ = gateway_factory(1)
    wait_until(lambda: [m.state.value for m in gateway.service.modems.list_modems()] == ["online"])
    gateway.service.messages.send("+447911123456", "Votre rendez-vous est demain à 10 h")
    page, errors, base = logged_in(browser, gateway)
    page.context.add_cookies([{"name": i18n.COOKIE, "value": "fr", "url": base}])
    for path, heading, name in (("/", "Derniers envois", "dashboard_fr"), ("/compose", "Envoyer", "compose_fr"),
                                ("/contacts", "Contacts", "contacts_fr"), ("/settings", "Heures de silence",
                                                                           "settings_fr"),
                                ("/me", "Langue", "me_fr")):
        page.goto(f"{base}{path}")
        assert page.get_attribute("html", "lang") == "fr"
        page.wait_for_selector(f"text={heading}")
        shoot(page, name)
    assert errors == []
