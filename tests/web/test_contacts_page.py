"""The contacts page in a real Chromium against a whole gateway: groups and contacts made by hand, a CSV file
imported through its column mapping (bad and repeated rows reported by line), a contact edited and opted out,
one deleted; a person of an account who sees and imports into that account's contacts only, and the admin who
sees every account's; screenshots at desktop and phone width (tests/artifacts/contacts*.png)."""

from __future__ import annotations

import pytest

from tests.web.pages import DESKTOP, logged_in, needs_chromium, shoot, submit_login
from tests.web.test_users import PASSWORD

pytestmark = needs_chromium

CSV = ("Parent;Mobile;Child;Class\n"
       "Mrs Smith;07911 123456;Amelia;4B\n"  # already a contact: updated
       "Mr Jones;+447911123457;Tom;4B\n"
       "Ms Brown;not a phone;Ivy;4C\n"
       "\n"
       "Mr Green;07911123457;Lily;4C\n")  # Mr Jones's number again


def test_a_teacher_builds_a_class_list_imports_a_file_and_keeps_it_tidy(browser, gateway_factory, tmp_path):
    gateway, _, _ = gateway_factory(1)
    page, errors, base = logged_in(browser, gateway)
    page.click("nav >> text=Contacts")
    page.wait_for_selector("#contacts >> text=No contacts yet")

    page.fill("#new-group-name", "Year 4 parents")
    page.click("#new-group button[type=submit]")
    page.wait_for_selector(".notice-ok >> text=Group “Year 4 parents” added.")
    page.fill("#new-group-name", "Amelia's class")  # a dynamic group: whoever's child is Amelia
    page.fill("#new-group-field", "child")
    page.fill("#new-group-value", "amelia")
    page.click("#new-group button[type=submit]")
    page.wait_for_selector(".notice-ok >> text=Group “Amelia's class” added.")
    assert page.locator("#new-contact input[value=\"Amelia's class\"]").count() == 0  # nobody picks its members
    page.fill("#new-contact-number", "07911 123456")
    page.fill("#new-contact-name", "Amelia's mum")
    page.fill("#new-contact-fields", "child: Amelia")
    page.check("#new-contact input[value='Year 4 parents']")
    page.click("#new-contact button[type=submit]")
    page.wait_for_selector(".notice-ok >> text=Amelia's mum added.")
    row = page.locator("#contacts tbody tr").nth(0).inner_text()
    assert "+447911123456" in row and "Year 4 parents" in row and "child: Amelia" in row
    assert "Amelia's class" in row  # its rule put her in
    assert "everyone whose child is “amelia”" in page.locator("#groups").inner_text()
    page.fill("#new-contact-number", "12")
    page.click("#new-contact button[type=submit]")
    page.wait_for_selector(".notice-error >> text=not a phone number")

    csv_file = tmp_path / "class-4.csv"
    csv_file.write_text(CSV, encoding="utf-8")
    page.set_input_files("#import-file", str(csv_file))
    page.click("#import button[type=submit]")
    page.wait_for_selector("text=Import 4 rows")
    assert page.locator("#column-1").input_value() == "number"  # "Mobile" recognised
    assert page.locator("#column-2").input_value() == "field:child"
    page.select_option("#column-0", "name")
    page.select_option("#column-3", "")  # the class is not kept
    page.check("#import-mapping input[value='Year 4 parents']")
    shoot(page, "contacts_import")
    page.click("#import-run")
    notice = page.wait_for_selector(".notice-warn").inner_text()
    assert "Imported 1 new contacts, updated 1." in notice
    assert "line 4: 'not a phone' is not a phone number" in notice and "is on row 2 already" in notice

    names = page.locator("#contacts tbody tr td:first-child").all_inner_texts()
    assert [n.strip() for n in names] == ["Mrs Smith", "Mr Jones"]
    page.select_option("#contact-group-filter", label="Year 4 parents (2)")
    page.click("form.search button[type=submit]")
    page.wait_for_selector("#contact-count >> text=2 of 2")
    page.fill("#contact-search", "jones")
    page.click("form.search button[type=submit]")
    page.wait_for_selector("#contact-count >> text=1 of 2")

    page.click("#contacts >> text=Mr Jones")
    page.wait_for_selector("#edit-contact")
    assert page.locator("#contact-fields").input_value() == "child: Tom"
    page.fill("#contact-name", "Mr T. Jones")
    page.check("#contact-opted-out")
    page.click("#edit-contact button[type=submit]")
    page.wait_for_selector(".notice-ok >> text=Mr T. Jones saved.")
    page.click("#contacts >> text=Mr T. Jones")
    page.wait_for_selector("#consent-history >> text=opted out")
    assert "by the contacts page" in page.locator("#consent-history").inner_text()
    shoot(page, "contact_edit")
    page.goto(page.url.rsplit("/contacts/", 1)[0] + "/contacts")
    assert "opted out" in page.locator("#contacts tbody tr", has_text="Mr T. Jones").inner_text()
    assert gateway.store.consent.suppressed_among(["+447911123457"])
    shoot(page, "contacts")

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#contacts tbody tr", has_text="Mrs Smith").locator("button.btn-danger").click()
    page.wait_for_selector(".notice-ok >> text=Mrs Smith deleted.")
    assert [c.name for c, _ in gateway.service.contacts.list_contacts()] == ["Mr T. Jones"]
    audit = [e.action for e in gateway.store.audit.list_audit()]
    assert {"contact.added", "group.added", "contacts.imported", "contact.changed", "contact.deleted"} <= set(audit)
    assert errors == []


def test_a_receptionist_keeps_the_clinics_contacts_and_the_admin_sees_every_accounts(browser, gateway_factory,
                                                                                        tmp_path):
    gateway, _, _ = gateway_factory(1)
    service = gateway.service
    clinic, school = service.accounts.add_account("clinic"), service.accounts.add_account("school")
    jones = service.contacts.add_contact("+447911123457", "Mr Jones", account=school)
    service.contacts.add_group("Parents", account=school)
    service.contacts.add_group("Staff")  # the box's own
    service.admin.add_user("reception", "operator", PASSWORD, account_id=clinic.id)
    admin, errors, base = logged_in(browser, gateway)

    page = browser.new_page(viewport=DESKTOP)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{base}/login")
    submit_login(page, PASSWORD, "reception")
    page.wait_for_url(f"{base}/")
    page.click("nav >> text=Contacts")
    page.wait_for_selector("#contacts >> text=No contacts yet")  # the school's Mr Jones is not the clinic's
    assert "No groups yet" in page.locator("#groups").inner_text()
    page.fill("#new-group-name", "Parents")  # the school has a group of that name: the clinic may too
    page.click("#new-group button[type=submit]")
    page.wait_for_selector(".notice-ok >> text=Group “Parents” added.")

    csv_file = tmp_path / "patients.csv"
    csv_file.write_text("Name,Phone\nMr Jones,+447911123457\nMrs Smith,07911 123456\n", encoding="utf-8")
    page.set_input_files("#import-file", str(csv_file))
    page.click("#import button[type=submit]")
    page.wait_for_selector("text=Import 2 rows")
    assert page.locator("#import-mapping input[name=groups]").count() == 1  # the clinic's Parents only
    page.check("#import-mapping input[value='Parents']")
    page.click("#import-run")
    page.wait_for_selector(".notice-ok >> text=Imported 2 new contacts, updated 0.")  # Mr Jones is new here
    names = page.locator("#contacts tbody tr td:first-child").all_inner_texts()
    assert [n.strip() for n in names] == ["Mr Jones", "Mrs Smith"]
    assert "2 members" in page.locator("#groups").inner_text()
    page.goto(f"{base}/contacts/{jones.uid}")  # the school's: as if there were none
    page.wait_for_selector(f".notice-error >> text=no contact {jones.uid}")
    page.click("nav >> text=Send")
    pickers = page.locator("#compose label.check", has=page.locator("input[name=groups]"))
    assert [" ".join(label.split()) for label in pickers.all_inner_texts()] == ["Parents (2)"]

    admin.goto(f"{base}/contacts")
    rows = [" ".join(r.split()) for r in admin.locator("#contacts tbody tr td:first-child").all_inner_texts()]
    assert rows == ["Mr Jones school only", "Mr Jones clinic only", "Mrs Smith clinic only"]
    groups = admin.locator("#groups li").all_inner_texts()
    assert [" ".join(g.split()) for g in groups] == [
        "Parents 0 members · school only Delete", "Parents 2 members · clinic only Delete", "Staff 0 members Delete"]
    assert admin.locator("#new-contact input[name=groups]").count() == 1  # what the admin adds is the box's own
    shoot(admin, "contacts_accounts")
    assert errors == []
