"""Contacts and contact groups over the API (the real app, service and SQLite/PostgreSQL store): what is kept,
what is refused and how, that numbers and names are sealed at rest like message bodies, and that each account
keeps its own contacts and groups, on the API and on the pages of its people."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from tests.web.test_accounts import key_of
from tests.web.test_status_page import log_in
from tests.web.test_users import PASSWORD, csrf_on, log_in_as

pytestmark = pytest.mark.both_databases


def add_contact(client, auth, **values):
    response = client.post("/api/v1/contacts", json=values, headers=auth)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def add_group(client, auth, name):
    response = client.post("/api/v1/groups", json={"name": name}, headers=auth)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_contacts_with_fields_and_groups_are_kept_found_changed_and_deleted(client, auth):
    parents = add_group(client, auth, "Year 4 parents")
    staff = add_group(client, auth, "Staff")
    amelia = add_contact(client, auth, number="07911 123456", name="Amelia's mum", fields={"child": "Amelia"},
                         groups=["Year 4 parents"])
    assert (amelia["number"], amelia["fields"], amelia["groups"]) == ("+447911123456", {"child": "Amelia"},
                                                                      ["Year 4 parents"])
    add_contact(client, auth, number="+447911123457", name="Mr Jones")

    found = client.get("/api/v1/contacts?q=MUM", headers=auth).get_json()["contacts"]
    assert [c["id"] for c in found] == [amelia["id"]]
    members = client.get(f"/api/v1/contacts?group={parents['id']}", headers=auth).get_json()["contacts"]
    assert [c["name"] for c in members] == ["Amelia's mum"]
    page = client.get("/api/v1/contacts?limit=1", headers=auth).get_json()
    assert len(page["contacts"]) == 1 and page["next_cursor"] == "1"
    rest = client.get(f"/api/v1/contacts?limit=1&cursor={page['next_cursor']}", headers=auth).get_json()
    assert [c["name"] for c in rest["contacts"]] == ["Mr Jones"] and rest["next_cursor"] is None

    jones = rest["contacts"][0]
    added = client.post(f"/api/v1/groups/{staff['id']}/members", json={"contacts": [jones["id"], amelia["id"]]},
                        headers=auth).get_json()
    assert added == {"added": 2, "members": 2}
    again = client.post(f"/api/v1/groups/{staff['id']}/members", json={"contacts": [jones["id"]]}, headers=auth)
    assert again.get_json() == {"added": 0, "members": 2}
    groups = client.get("/api/v1/groups", headers=auth).get_json()["groups"]
    assert [(g["name"], g["members"]) for g in groups] == [("Staff", 2), ("Year 4 parents", 1)]

    changed = client.patch(f"/api/v1/contacts/{amelia['id']}", json={"name": "Mrs Smith", "groups": []},
                           headers=auth).get_json()
    assert (changed["name"], changed["groups"], changed["fields"]) == ("Mrs Smith", [], {"child": "Amelia"})
    assert client.delete(f"/api/v1/groups/{staff['id']}/members/{jones['id']}", headers=auth).status_code == 204
    assert client.delete(f"/api/v1/groups/{parents['id']}", headers=auth).status_code == 204
    assert client.get(f"/api/v1/contacts/{amelia['id']}", headers=auth).status_code == 200  # contacts stay
    assert client.delete(f"/api/v1/contacts/{jones['id']}", headers=auth).status_code == 204
    gone = client.get(f"/api/v1/contacts/{jones['id']}", headers=auth)
    assert gone.status_code == 404 and gone.get_json()["error"]["code"] == "contact_not_found"
    audit = client.get("/api/v1/audit", headers=auth).get_json()
    actions = [(e["action"], e["target"]) for e in audit["entries"]]
    assert ("contact.deleted", jones["id"]) in actions and ("contact.added", amelia["id"]) in actions


@pytest.mark.parametrize("values, status, code", [
    ({"number": "not a number"}, 422, "invalid_number"),
    ({"number": "+447911123456", "groups": ["No such group"]}, 404, "group_not_found"),
    ({"number": "+447911123456", "fields": {"name": "x"}}, 400, "invalid_request"),
    ({"number": "+447911123456", "fields": {"bad key": "x"}}, 400, "invalid_request"),
    ({"number": "+447911123456", "fields": {"child": 7}}, 400, "invalid_request"),
    ({"number": "+447911123456", "name": "x" * 101}, 400, "invalid_request"),
    ({"name": "no number"}, 400, "invalid_request"),
])
def test_a_bad_contact_is_refused_saying_why_and_nothing_is_kept(client, auth, values, status, code):
    response = client.post("/api/v1/contacts", json=values, headers=auth)
    assert (response.status_code, response.get_json()["error"]["code"]) == (status, code), response.get_json()
    assert client.get("/api/v1/contacts", headers=auth).get_json()["contacts"] == []


def test_one_contact_per_number_and_one_group_per_name(client, auth):
    add_contact(client, auth, number="+447911123456")
    twin = client.post("/api/v1/contacts", json={"number": "07911123456"}, headers=auth)
    assert (twin.status_code, twin.get_json()["error"]["code"]) == (409, "contact_exists")
    add_group(client, auth, "Staff")
    same = client.post("/api/v1/groups", json={"name": " Staff "}, headers=auth)
    assert (same.status_code, same.get_json()["error"]["code"]) == (409, "group_exists")
    comma = client.post("/api/v1/groups", json={"name": "a,b"}, headers=auth)
    assert comma.status_code == 400


def test_names_numbers_and_fields_are_sealed_at_rest(client, auth, service):
    add_contact(client, auth, number="+447911123456", name="Amelia's mum", fields={"child": "Amelia"})
    with service.store.db.engine.connect() as db:
        row = db.execute(text("SELECT number, name, fields FROM contacts")).one()
    assert "447911123456" not in row.number and "Amelia" not in row.name and "Amelia" not in row.fields


def test_a_message_to_a_group_is_filled_from_each_contact_and_skips_who_cannot_get_it(client, auth, service):
    group = add_group(client, auth, "Year 4 parents")
    for number, name, fields in (("+447911123456", "Mrs Smith", {"child": "Amelia"}),
                                 ("+447911123457", "Mr Jones", {"child": "Tom"}),
                                 ("+447911123458", "Ms Brown", {}),  # no child on file
                                 ("+447911123459", "Mr Green", {"child": "Ivy"})):  # opted out below
        add_contact(client, auth, number=number, name=name, fields=fields, groups=[group["name"]])
    service.consent.set_consent("+447911123459", opted_out=True)
    add_group(client, auth, "Empty")

    body = {"body": "Dear {name}, {child}'s trip is on Friday.", "class": "marketing"}
    answer = client.post(f"/api/v1/groups/{group['id']}/messages", json=body, headers=auth)
    assert answer.status_code == 202, answer.get_json()
    batch = answer.get_json()
    assert (batch["rows"], batch["accepted"]) == (4, 2)
    assert [(r["row"], r["code"]) for r in batch["rejected"]] == [(3, "invalid_template_params"),
                                                                  (4, "recipient_opted_out")]
    assert "has no child" in batch["rejected"][0]["message"]
    listed = client.get("/api/v1/messages", headers=auth).get_json()["messages"]
    assert sorted(m["body"] for m in listed) == ["Dear Mr Jones, Tom's trip is on Friday.",
                                                 "Dear Mrs Smith, Amelia's trip is on Friday."]
    assert client.get(answer.headers["Location"], headers=auth).get_json()["counts"] == {"queued": 2}

    empty = client.get("/api/v1/groups", headers=auth).get_json()["groups"][0]
    refused = client.post(f"/api/v1/groups/{empty['id']}/messages", json={"body": "hi"}, headers=auth)
    assert (refused.status_code, refused.get_json()["error"]["field"]) == (400, "group")
    both = client.post(f"/api/v1/groups/{group['id']}/messages", json={"body": "x", "template": "y"}, headers=auth)
    assert both.status_code == 400


def test_a_campaign_not_yet_sent_can_be_cancelled_whole(client, auth, service):
    group = add_group(client, auth, "Staff")
    for number in ("+447911123456", "+447911123457"):
        add_contact(client, auth, number=number, groups=["Staff"])
    batch = client.post(f"/api/v1/groups/{group['id']}/messages", json={"body": "Staff meeting at 4"},
                        headers=auth).get_json()
    service.messages.send("+447911123458", "not in the campaign")
    listed = client.get(f"/api/v1/messages?batch={batch['id']}", headers=auth).get_json()["messages"]
    assert sorted(m["to"] for m in listed) == ["+447911123456", "+447911123457"]
    assert len(client.get("/api/v1/messages?since=2000-01-01", headers=auth).get_json()["messages"]) == 3
    assert client.get("/api/v1/messages?since=2999-01-01T00:00", headers=auth).get_json()["messages"] == []
    assert client.get("/api/v1/messages?modem=modem9", headers=auth).get_json()["messages"] == []
    refused = client.get("/api/v1/messages?since=last tuesday", headers=auth)
    assert (refused.status_code, refused.get_json()["error"]["field"]) == (400, "since")
    assert service.batches.cancel_batch(batch["id"]) == 2
    assert service.batches.cancel_batch(batch["id"]) == 0  # nothing left to cancel
    assert client.get(f"/api/v1/batches/{batch['id']}", headers=auth).get_json()["counts"] == {"cancelled": 2}
    assert service.batches.retry_failed(batch["id"]) == 0


def test_a_group_message_can_wait_until_a_time_in_a_zone(client, auth, service):
    group = add_group(client, auth, "Night shift")
    add_contact(client, auth, number="+447911123456", groups=["Night shift"])
    later = (service.clock() + timedelta(days=2)).replace(microsecond=0, tzinfo=None)
    batch = client.post(f"/api/v1/groups/{group['id']}/messages", json={
        "body": "Rota changes tomorrow", "send_at": later.isoformat(), "time_zone": "Europe/Paris"}, headers=auth)
    assert batch.status_code == 202, batch.get_json()
    [message] = client.get(f"/api/v1/messages?batch={batch.get_json()['id']}", headers=auth).get_json()["messages"]
    assert message["state"] == "scheduled"
    held = datetime.fromisoformat(message["send_at"].replace("Z", "+00:00"))
    assert held == later.replace(tzinfo=ZoneInfo("Europe/Paris"))
    wrong = client.post(f"/api/v1/groups/{group['id']}/messages", json={"body": "x", "send_at": "soon"}, headers=auth)
    assert (wrong.status_code, wrong.get_json()["error"]["field"]) == (400, "send_at")


def test_a_group_message_can_wait_until_a_time_where_each_recipient_lives(client, auth, service):
    group = add_group(client, auth, "Parents abroad")
    add_contact(client, auth, number="+447911123456", groups=["Parents abroad"])  # London
    add_contact(client, auth, number="+33612345678", groups=["Parents abroad"])  # Paris
    nine = (service.clock() + timedelta(days=2)).replace(hour=9, minute=0, second=0, microsecond=0, tzinfo=None)
    batch = client.post(f"/api/v1/groups/{group['id']}/messages", json={
        "body": "School opens at ten", "send_at": nine.isoformat(), "time_zone": "recipient"}, headers=auth)
    assert batch.status_code == 202, batch.get_json()
    messages = client.get(f"/api/v1/messages?batch={batch.get_json()['id']}", headers=auth).get_json()["messages"]
    held = {m["to"]: datetime.fromisoformat(m["send_at"].replace("Z", "+00:00")) for m in messages}
    assert held == {"+447911123456": nine.replace(tzinfo=ZoneInfo("Europe/London")),
                    "+33612345678": nine.replace(tzinfo=ZoneInfo("Europe/Paris"))}  # 09:00 for each of them
    with_offset = client.post(f"/api/v1/groups/{group['id']}/messages", json={
        "body": "x", "send_at": nine.isoformat() + "+01:00", "time_zone": "recipient"}, headers=auth)
    assert (with_offset.status_code, with_offset.get_json()["error"]["field"]) == (400, "time_zone")


def test_a_dynamic_group_holds_the_contacts_whose_field_matches_as_their_fields_change(client, auth, service):
    ann = add_contact(client, auth, number="+447911123401", fields={"class": "4B"})
    add_contact(client, auth, number="+447911123402", fields={"class": "4b"})  # the case does not matter
    ben = add_contact(client, auth, number="+447911123403", fields={"class": "5A"})
    made = client.post("/api/v1/groups", json={"name": "Class 4B", "match": {"field": "class", "value": "4B"}},
                       headers=auth)
    assert made.status_code == 201, made.get_json()
    group = made.get_json()
    assert (group["members"], group["match"]) == (2, {"field": "class", "value": "4B"})

    def members() -> set[str]:
        listed = client.get(f"/api/v1/contacts?group={group['id']}", headers=auth).get_json()["contacts"]
        return {c["number"] for c in listed}

    client.patch(f"/api/v1/contacts/{ben['id']}", json={"fields": {"class": "4B"}}, headers=auth)
    client.patch(f"/api/v1/contacts/{ann['id']}", json={"fields": {"class": "5A"}}, headers=auth)
    add_contact(client, auth, number="+447911123404", fields={"class": "4B"})
    assert members() == {"+447911123402", "+447911123403", "+447911123404"}
    by_hand = client.post(f"/api/v1/groups/{group['id']}/members", json={"contacts": [ann["id"]]}, headers=auth)
    assert (by_hand.status_code, by_hand.get_json()["error"]["field"]) == (400, "groups")
    named = client.post("/api/v1/contacts", json={"number": "+447911123405", "groups": ["Class 4B"]}, headers=auth)
    assert named.status_code == 400 and "change their fields" in named.get_json()["error"]["message"]
    assert members() == {"+447911123402", "+447911123403", "+447911123404"}  # nothing changed by the refusals
    service.contacts.import_contacts([{"number": "+447911123402", "class": "6C"},
                                      {"number": "+447911123406", "class": "4B"}], [])
    assert members() == {"+447911123403", "+447911123404", "+447911123406"}  # an import moves them too
    wrong = client.post("/api/v1/groups", json={"name": "x", "match": {"field": "number", "value": "1"}},
                        headers=auth)
    assert (wrong.status_code, wrong.get_json()["error"]["field"]) == (400, "match.field")


def test_each_account_keeps_its_own_contacts_and_groups_and_a_key_of_no_account_sees_them_all(client, auth,
                                                                                                service):
    for name in ("clinic", "school"):
        assert client.post("/api/v1/accounts", json={"name": name}, headers=auth).status_code == 201
    clinic, school = key_of(service, "clinic"), key_of(service, "school")
    ours = add_contact(client, clinic, number="+447911123456", name="Mrs Smith", fields={"child": "Amelia"})
    theirs = add_contact(client, school, number="07911 123456", name="Amelia's mother")  # the same number
    boxs = add_contact(client, auth, number="+447911123456", name="A. Smith")  # and in the box's own book
    twin = client.post("/api/v1/contacts", json={"number": "+447911123456"}, headers=clinic)
    assert (twin.status_code, twin.get_json()["error"]["code"]) == (409, "contact_exists")
    staff, their_staff = add_group(client, clinic, "Staff"), add_group(client, school, "Staff")
    assert client.post("/api/v1/groups", json={"name": "Staff"}, headers=clinic).status_code == 409

    def listed(key, path="/api/v1/contacts"):
        return [c["id"] for c in client.get(path, headers=key).get_json()["contacts"]]

    assert listed(clinic) == [ours["id"]] and listed(school) == [theirs["id"]]
    assert listed(clinic, "/api/v1/contacts?q=amelia") == [] and listed(school, "/api/v1/contacts?q=amelia") == [
        theirs["id"]]
    assert listed(auth) == [ours["id"], theirs["id"], boxs["id"]]  # no account: every book
    assert [g["id"] for g in client.get("/api/v1/groups", headers=clinic).get_json()["groups"]] == [staff["id"]]
    assert len(client.get("/api/v1/groups", headers=auth).get_json()["groups"]) == 2

    for answer in (client.get(f"/api/v1/contacts/{theirs['id']}", headers=clinic),
                   client.patch(f"/api/v1/contacts/{theirs['id']}", json={"name": "x"}, headers=clinic),
                   client.delete(f"/api/v1/contacts/{theirs['id']}", headers=clinic),
                   client.post(f"/api/v1/groups/{staff['id']}/members", json={"contacts": [theirs["id"]]},
                               headers=clinic)):
        assert (answer.status_code, answer.get_json()["error"]["code"]) == (404, "contact_not_found")
    for answer in (client.get(f"/api/v1/groups/{their_staff['id']}", headers=clinic),
                   client.get(f"/api/v1/contacts?group={their_staff['id']}", headers=clinic),
                   client.post(f"/api/v1/groups/{their_staff['id']}/members", json={"contacts": [ours["id"]]},
                               headers=clinic),
                   client.delete(f"/api/v1/groups/{their_staff['id']}/members/{theirs['id']}", headers=clinic),
                   client.post(f"/api/v1/groups/{their_staff['id']}/messages", json={"body": "hi"}, headers=clinic),
                   client.delete(f"/api/v1/groups/{their_staff['id']}", headers=clinic)):
        assert (answer.status_code, answer.get_json()["error"]["code"]) == (404, "group_not_found")
    assert client.get(f"/api/v1/contacts/{theirs['id']}", headers=school).get_json()["name"] == "Amelia's mother"

    mixed = client.post(f"/api/v1/groups/{staff['id']}/members", json={"contacts": [theirs["id"]]}, headers=auth)
    assert mixed.status_code == 400 and "holds contacts of its own account only" in mixed.get_json()["error"]["message"]
    joined = client.patch(f"/api/v1/contacts/{ours['id']}", json={"groups": ["Staff"]}, headers=clinic)
    assert joined.get_json()["groups"] == ["Staff"]  # the clinic's Staff, not the school's
    assert client.get(f"/api/v1/groups/{their_staff['id']}", headers=school).get_json()["members"] == 0
    assert client.post("/api/v1/contacts", json={"number": "+447911123457", "groups": ["Staff"]},
                       headers=auth).get_json()["error"]["code"] == "group_not_found"  # the box's book has none

    sent = client.post(f"/api/v1/groups/{staff['id']}/messages", json={"body": "Dear {name}, {child} is ill."},
                       headers=clinic)
    assert sent.status_code == 202, sent.get_json()
    [message] = client.get(f"/api/v1/messages?batch={sent.get_json()['id']}", headers=clinic).get_json()["messages"]
    assert message["body"] == "Dear Mrs Smith, Amelia is ill."
    assert client.delete(f"/api/v1/contacts/{theirs['id']}", headers=auth).status_code == 204  # no account: any
    assert listed(school) == []


def test_an_account_imports_numbers_other_accounts_hold_and_its_dynamic_groups_hold_its_own_contacts(
        client, auth, service):
    for name in ("clinic", "school"):
        assert client.post("/api/v1/accounts", json={"name": name}, headers=auth).status_code == 201
    clinic, school = key_of(service, "clinic"), key_of(service, "school")
    add_contact(client, school, number="+447911123456", name="Mrs Smith", fields={"class": "4B"})
    add_contact(client, auth, number="+447911123457", name="Mr Jones", fields={"class": "4B"})
    four_b = client.post("/api/v1/groups", json={"name": "4B", "match": {"field": "class", "value": "4B"}},
                         headers=clinic).get_json()
    assert four_b["members"] == 0  # the school's and the box's 4B are not the clinic's

    account = service.accounts.account_named("clinic")
    rows = [{"number": "+447911123456", "name": "Amelia's mum", "class": "4B"}, {"number": "+447911123457"}]
    result = service.contacts.import_contacts(rows, [], account)
    assert (result.added, result.updated, result.rejected) == (2, 0, [])
    again = service.contacts.import_contacts(rows[:1], [], account)
    assert (again.added, again.updated) == (0, 1)
    mine = client.get("/api/v1/contacts", headers=clinic).get_json()["contacts"]
    assert [(c["number"], c["name"]) for c in mine] == [("+447911123456", "Amelia's mum"), ("+447911123457", "")]
    theirs = client.get("/api/v1/contacts", headers=school).get_json()["contacts"]
    assert [(c["number"], c["name"]) for c in theirs] == [("+447911123456", "Mrs Smith")]  # untouched
    assert client.get(f"/api/v1/groups/{four_b['id']}", headers=clinic).get_json()["members"] == 1


def test_the_pages_of_a_person_of_an_account_show_and_send_to_its_contacts_only(app, client, auth, service,
                                                                                 admin_password):
    for name in ("clinic", "school"):
        assert client.post("/api/v1/accounts", json={"name": name}, headers=auth).status_code == 201
    clinic, school = (service.accounts.account_named(name) for name in ("clinic", "school"))
    theirs = service.contacts.add_contact("+447911123456", "Mrs Brown", account=school)  # the oldest of the number
    ours = service.contacts.add_contact("+447911123456", "Mrs Smith", account=clinic)
    their_group = service.contacts.add_group("Parents", account=school)
    service.messages.send("+447911123456", "See you at ten", account=clinic)
    service.admin.add_user("reception", "operator", PASSWORD, account_id=clinic.id)
    reception = app.test_client()
    assert log_in_as(reception, "reception").status_code == 302

    book = reception.get("/contacts").get_data(as_text=True)
    assert "Mrs Smith" in book and "Mrs Brown" not in book and "Parents" not in book
    conversations = reception.get("/conversations").get_data(as_text=True)
    assert "Mrs Smith" in conversations and "Mrs Brown" not in conversations
    assert "Parents" not in reception.get("/compose").get_data(as_text=True)
    token = csrf_on(reception, "/compose")
    for answer in (reception.get(f"/contacts/{theirs.uid}", follow_redirects=True),
                   reception.post(f"/contacts/{theirs.uid}/delete", data={"csrf_token": token},
                                  follow_redirects=True),
                   reception.post("/compose/review", data={"csrf_token": token, "body": "hi",
                                                           "groups": [their_group.uid]})):
        said = answer.get_data(as_text=True)  # as for one that does not exist
        assert "Mrs Brown" not in said and ("no contact" in said or "no group" in said), said[:300]
    assert [c.uid for c, _ in service.contacts.list_contacts()] == [theirs.uid, ours.uid]  # nothing deleted
    review = reception.post("/compose/review", data={"csrf_token": token, "body": "Dear {name}",
                                                     "numbers": "07911 123456"}).get_data(as_text=True)
    assert "Dear Mrs Smith" in review  # filled from the clinic's contact, not the school's

    admin = app.test_client()
    assert log_in(admin).status_code == 302
    everyone = admin.get("/contacts").get_data(as_text=True)
    assert "Mrs Smith" in everyone and "Mrs Brown" in everyone and "school only" in everyone
