"""Annotations on the readings: the store's rules (SQLite and PostgreSQL), then the real room
under attack (other groups' ids in URLs and API calls, no XSRF header, paths out of the book).
"""

from __future__ import annotations

import uuid

import pytest
import requests
from sqlalchemy import func, select

from annotation_helpers import (CHANGING, KEPT, READING, build_book, groups_of, make_groups_cohort,
                                mini_course, reading_markdown)
from course.cohort import annotations as A
from course.cohort.db import open_store
from course.cohort.models import (Annotation, AuditEntry, Membership, Person, StudyGroup,
                                  TutorAssignment, utcnow)
from course.cohort.reviewing import Invalid, NotFound, Refused
from room_helpers import ROOM, room_login, start_room_hub

PAGE = "modules/sample/reading.html"
TEXT = reading_markdown()  # the page's text, as far as anchoring is concerned


def target(exact: str, text: str = TEXT, before: int = 10, after: int = 10) -> list[dict]:
    """A W3C target as the library writes it, for `exact` in `text`."""
    at = text.index(exact)
    return [{"source": "http://room/book/" + PAGE, "id": "ignored", "selector": [
        {"type": "TextQuoteSelector", "exact": exact, "prefix": text[max(0, at - before):at],
         "suffix": text[at + len(exact):at + len(exact) + after]},
        {"type": "TextPositionSelector", "start": at, "end": at + len(exact)}]}]


def new(who_for: str = "group", exact: str = CHANGING, **extra) -> dict:
    return {"id": str(uuid.uuid4()), "page": PAGE, "target": target(exact), "body": "A comment.",
            "audience": who_for, **extra}


@pytest.fixture
def store(db_url):
    """Two study groups (G1: a1, a2; G2: b1), their tutors t1 and t2, a coordinator c."""
    store = open_store(db_url)
    with store.session() as s:
        for pid, role in [("a1", "participant"), ("a2", "participant"), ("b1", "participant"),
                          ("t1", "tutor"), ("t2", "tutor"), ("c", "coordinator")]:
            s.add(Person(id=pid, role=role, name=f"Name of {pid}"))
        s.add_all([StudyGroup(label="G1"), StudyGroup(label="G2")])
        s.flush()
        s.add_all([Membership(person_id="a1", group_label="G1"),
                   Membership(person_id="a2", group_label="G1"),
                   Membership(person_id="b1", group_label="G2"),
                   TutorAssignment(group_label="G1", tutor_id="t1"),
                   TutorAssignment(group_label="G2", tutor_id="t2")])
    yield store
    store.close()


def ids(store, who: str, key: str = "annotations") -> list[str]:
    with store.session() as s:
        return [a["id"] for a in A.page_annotations(s, who, PAGE)[key]]


def count(store) -> int:
    with store.session() as s:
        return s.scalar(select(func.count()).select_from(Annotation))


def test_a_group_comment_is_seen_by_the_group_its_tutor_and_the_coordinator_only(store):
    data = new()
    with store.session() as s:
        made = A.create(s, "a1", data)
    assert made["audience"] == "group" and made["group"] == "G1" and made["mine"]
    assert made["quote"] == CHANGING
    for who in ("a1", "a2", "t1", "c"):
        assert ids(store, who) == [data["id"]], who
    for who in ("b1", "t2"):
        assert ids(store, who) == [], who
        with store.session() as s:
            assert not A.can_see(s, who, s.get(Annotation, data["id"]))
            with pytest.raises(NotFound):
                A.get(s, who, data["id"])
    with store.session() as s:
        item = s.get(Annotation, data["id"])
        assert [A.can_moderate(s, w, item) for w in ("a2", "t1", "t2", "c")] == [False, True, False, True]
        assert not A.can_see(s, "nobody", item)


def test_a_cohort_comment_is_seen_by_everyone_and_moderated_by_the_authors_tutor(store):
    data = new("cohort")
    with store.session() as s:
        A.create(s, "b1", data)
    for who in ("a1", "a2", "b1", "t1", "t2", "c"):
        assert ids(store, who) == [data["id"]], who
    with store.session() as s:
        item = s.get(Annotation, data["id"])
        assert item.group_label == "G2"  # whose tutor looks after it
        assert [A.can_moderate(s, w, item) for w in ("t1", "t2", "c", "b1")] == [False, True, True, False]


def test_a_tutor_names_a_group_they_tutor_and_a_participant_only_their_own(store):
    with store.session() as s:
        with pytest.raises(Invalid) as err:
            A.create(s, "t1", new(group="G2"))
        assert err.value.errors == {"group": "not a study group you tutor"}
        with pytest.raises(Invalid) as err:
            A.create(s, "t1", new())
        assert set(err.value.errors) == {"group"}
        with pytest.raises(Invalid) as err:
            A.create(s, "a1", new(group="G2"))
        assert set(err.value.errors) == {"group"}
        with pytest.raises(Invalid) as err:
            A.create(s, "c", new(group="G9"))
        assert set(err.value.errors) == {"group"}
    data = new(group="G1")
    with store.session() as s:
        A.create(s, "t1", data)
        assert A.audience_choices(s, "t1")["groups"] == ["G1"]
        assert A.audience_choices(s, "c")["groups"] == ["G1", "G2"]
        assert A.audience_choices(s, "b1")["groups"] == ["G2"]
    assert ids(store, "a2") == [data["id"]] and ids(store, "b1") == [] and ids(store, "t2") == []
    assert count(store) == 1


def test_replies_carry_the_roots_audience_and_only_those_who_see_it_reply(store):
    group, cohort = new(), new("cohort", exact=KEPT)
    with store.session() as s:
        A.create(s, "a1", group)
        A.create(s, "a1", cohort)
        reply = A.reply(s, "a2", group["id"], "I agree, and the RIRs publish their policies.")
        assert reply["audience"] == "group" and "target" not in reply
        with pytest.raises(NotFound):
            A.reply(s, "b1", group["id"], "Not my group's.")
        with pytest.raises(NotFound):
            A.reply(s, "a1", reply["id"], "Replies are one level deep.")
        answer = A.reply(s, "b1", cohort["id"], "From group two.")
    with store.session() as s:
        seen = A.page_annotations(s, "a1", PAGE)["annotations"]
        by_id = {a["id"]: a for a in seen}
        assert [r["body"] for r in by_id[group["id"]]["replies"]] == ["I agree, and the RIRs publish their policies."]
        assert [r["author"] for r in by_id[cohort["id"]]["replies"]] == ["Name of b1"]
        item = s.get(Annotation, answer["id"])
        assert item.audience == "cohort" and item.group_label == "G2"  # b1's tutor moderates it
        assert A.can_moderate(s, "t2", item) and not A.can_moderate(s, "t1", item)
        assert A.can_see(s, "t1", item) and not A.can_see(s, "b1", s.get(Annotation, reply["id"]))
    assert ids(store, "b1") == [cohort["id"]]


def test_hidden_comments_reach_only_their_author_with_the_reason_and_their_moderators(store):
    data = new()
    with store.session() as s:
        A.create(s, "a1", data)
        reply = A.reply(s, "a2", data["id"], "A reply that gets hidden.")
        item = s.get(Annotation, reply["id"])
        item.hidden_at, item.hidden_by, item.hidden_reason = utcnow(), "t1", "Off topic."
    with store.session() as s:
        for who, sees in [("a1", False), ("a2", True), ("t1", True), ("c", True), ("t2", False)]:
            listing = A.page_annotations(s, who, PAGE)["annotations"]
            replies = [r for a in listing for r in a["replies"]]
            assert bool(replies) == sees, who
            if sees:
                assert replies[0]["hidden"] and replies[0]["hidden_reason"] == "Off topic."
        root = s.get(Annotation, data["id"])
        root.hidden_at, root.hidden_by, root.hidden_reason = utcnow(), "t1", "Personal data."
    assert ids(store, "a2") == [] and ids(store, "b1") == []
    assert ids(store, "a1") == ids(store, "t1") == ids(store, "c") == [data["id"]]
    with store.session() as s:
        mine = A.page_annotations(s, "a1", PAGE)["annotations"][0]
        assert mine["hidden"] and mine["hidden_reason"] == "Personal data."
        with pytest.raises(NotFound):
            A.reply(s, "a2", data["id"], "Can I still reply?")
        with pytest.raises(Refused):
            A.reply(s, "t1", data["id"], "The tutor cannot reply to a hidden comment either.")
        with pytest.raises(Refused):
            A.edit(s, "a1", data["id"], "Editing it away.")


def test_people_edit_and_delete_their_own_and_the_log_keeps_what_changed(store):
    data = new()
    with store.session() as s:
        A.create(s, "a1", data)
        reply = A.reply(s, "a2", data["id"], "A reply.")
        with pytest.raises(NotFound):
            A.edit(s, "a2", data["id"], "Not mine to edit.")
        with pytest.raises(NotFound):
            A.delete(s, "a2", data["id"])
        with pytest.raises(NotFound):
            A.delete(s, "b1", reply["id"])
        edited = A.edit(s, "a1", data["id"], "A better comment.")
        assert edited["body"] == "A better comment." and edited["edited"]
    with store.session() as s:
        # a comment with replies keeps its place, text removed, for the replies' sake
        assert A.delete(s, "a1", data["id"]) == {"deleted": data["id"], "kept": True}
        root = A.page_annotations(s, "a2", PAGE)["annotations"][0]
        assert root["deleted"] and root["body"] == "" and len(root["replies"]) == 1
        with pytest.raises(Refused):
            A.reply(s, "a2", data["id"], "Too late.")
    with store.session() as s:
        assert A.delete(s, "a2", reply["id"]) == {"deleted": reply["id"], "kept": False}
    assert count(store) == 0  # the last reply took the deleted comment with it
    with store.session() as s:
        log = {e.action: e.detail for e in s.scalars(select(AuditEntry))}
    assert log["annotation.edit"]["previous"] == "A comment."
    assert log["annotation.delete"]["previous"] in ("A better comment.", "A reply.")
    assert {"annotation.create", "annotation.reply", "annotation.edit", "annotation.delete"} <= set(log)


def test_flags_on_a_deleted_annotation_are_closed_as_deleted(store):
    from course.cohort import moderation
    from course.cohort.models import ContentFlag

    data = new()
    with store.session() as s:
        A.create(s, "a1", data)
        moderation.flag(s, "a2", "annotation", data["id"], "Off topic.")
    with store.session() as s:
        assert A.delete(s, "a1", data["id"]) == {"deleted": data["id"], "kept": False}
    with store.session() as s:
        flag = s.scalar(select(ContentFlag))
        assert (flag.outcome, flag.decided_by) == ("deleted", "a1")
        assert moderation.queue(s, "c") == []


def test_a_rebuild_orphans_a_changed_passage_and_keeps_an_unchanged_one(store):
    changing, kept = new(), new(exact=KEPT)
    with store.session() as s:
        A.create(s, "a1", changing, page_text=TEXT)
        A.create(s, "a1", kept, page_text=TEXT)
    with store.session() as s:
        assert A.reanchor(s, PAGE, TEXT) == {"page": PAGE, "orphaned": [], "restored": []}
    # An earlier paragraph changes: every offset after it moves, both passages are still there.
    longer_intro = TEXT.replace("introduces who runs", "introduces, at some length, who runs")
    with store.session() as s:
        assert A.reanchor(s, PAGE, longer_intro)["orphaned"] == []
    assert ids(store, "a2") == [changing["id"], kept["id"]] and ids(store, "a2", "orphaned") == []
    # The commented passage itself changes: that comment is orphaned, listed apart, not lost.
    rebuilt = reading_markdown(changed=True)
    with store.session() as s:
        assert A.reanchor(s, PAGE, rebuilt) == {"page": PAGE, "orphaned": [changing["id"]], "restored": []}
        A.reply(s, "a2", changing["id"], "Replies still work on an orphaned comment.")
    assert ids(store, "a2") == [kept["id"]] and ids(store, "a2", "orphaned") == [changing["id"]]
    with store.session() as s:
        orphan = A.page_annotations(s, "a2", PAGE)["orphaned"][0]
        assert orphan["quote"] == CHANGING and orphan["orphaned"] and len(orphan["replies"]) == 1
        assert s.get(Annotation, changing["id"]).orphaned_at is not None
        # and a later build with the passage back restores it
        assert A.reanchor(s, PAGE, TEXT)["restored"] == [changing["id"]]
        # a new comment on a passage not on the page is orphaned at once
        ghost = new(exact=KEPT)
        ghost["target"][0]["selector"][0]["exact"] = "Words that are not on the page"
        assert A.create(s, "a1", ghost, page_text=TEXT)["orphaned"]


def test_the_quote_is_found_by_its_context_or_when_it_is_the_only_one():
    text = A.normalize("The RIR allocates addresses.\n\nThe regulator sets rules. The RIR allocates addresses again.")
    assert A.find_quote(text, "RIR allocates", "The ", " addresses.") == 4
    assert A.find_quote(text, "RIR allocates", "rules. The ", " addresses again") == 59
    assert A.find_quote(text, "RIR allocates", "changed ", " context") is None  # twice, no context
    assert A.find_quote(text, "regulator", "changed ", " context") == 33  # only once: found
    assert A.find_quote(text, "allocates   addresses\n", "RIR", "again") == 63  # spacing differs
    assert A.find_quote(text, "not there") is None


def test_bad_input_is_refused_naming_the_field(store):
    good = new()
    bad_cases = [
        ({"id": "not-a-uuid"}, "id"),
        ({"id": 7}, "id"),
        ({"page": "../../etc/passwd"}, "page"),
        ({"page": "/modules/sample/reading.html"}, "page"),
        ({"page": "modules/sample/reading.ipynb"}, "page"),
        ({"page": "a/" * 200 + "x.html"}, "page"),
        ({"target": []}, "target"),
        ({"target": "a string"}, "target"),
        ({"target": [{"selector": [{"type": "TextQuoteSelector", "exact": "x"}]}]}, "target[0].selector"),
        ({"target": target(CHANGING) * 21}, "target"),
        ({"target": [{"selector": [{"type": "TextQuoteSelector", "exact": "x" * 5001},
                                   {"type": "TextPositionSelector", "start": 0, "end": 1}]}]}, "target[0].exact"),
        ({"target": [{"selector": [{"type": "TextQuoteSelector", "exact": "x"},
                                   {"type": "TextPositionSelector", "start": 5, "end": 2}]}]}, "target[0].start"),
        ({"target": [{"selector": [{"type": "TextQuoteSelector", "exact": "x", "prefix": ["no"]},
                                   {"type": "TextPositionSelector", "start": 0, "end": 1}]}]}, "target[0].prefix"),
        ({"body": ""}, "body"),
        ({"body": "   \n "}, "body"),
        ({"body": "x" * 5001}, "body"),
        ({"body": {"text": "no"}}, "body"),
        ({"audience": "world"}, "audience"),
        ({"audience": None}, "audience"),
    ]
    for change, field in bad_cases:
        with store.session() as s:
            with pytest.raises(Invalid) as err:
                A.create(s, "a1", {**good, **change})
        assert field in err.value.errors, (change, err.value.errors)
    with store.session() as s:
        A.create(s, "a1", good)
    with store.session() as s:
        with pytest.raises(Invalid) as err:
            A.create(s, "a2", {**good, "body": "Same id again."})
        assert set(err.value.errors) == {"id"}
        with pytest.raises(Invalid) as err:
            A.reply(s, "a2", good["id"], "")
        assert set(err.value.errors) == {"body"}
        with pytest.raises(Invalid) as err:
            A.edit(s, "a1", good["id"], "y" * 5001)
        assert set(err.value.errors) == {"body"}
        with pytest.raises(Invalid):
            A.page_annotations(s, "a1", "../secret.html")
        with pytest.raises(NotFound):
            A.reply(s, "a2", "'; drop table annotations; --", "x")
    assert count(store) == 1
    with store.session() as s:  # what was kept of the target: the two selectors, nothing else
        kept = s.get(Annotation, good["id"]).target
    assert kept == [{"source": good["target"][0]["source"], "selector": good["target"][0]["selector"]}]


# --- the real room under attack --------------------------------------------------------------

@pytest.fixture(scope="module")
def room(tmp_path_factory):
    """A hub whose room serves a built book, on a cohort in groups; one comment per group."""
    tmp = tmp_path_factory.mktemp("annotations-room")
    html = build_book(mini_course(tmp), tmp / "out")
    (tmp / "out" / "_build" / "secret.txt").write_text("outside the book")
    url = f"sqlite:///{tmp}/cohort.sqlite"
    make_groups_cohort(url)
    store = open_store(url)
    groups = groups_of(store)
    hub = start_room_hub(tmp, url, [p for k, v in groups.items() if not k.startswith("tutor:") for p in v],
                         sorted({v[0] for k, v in groups.items() if k.startswith("tutor:")}),
                         room_args=("--book", str(html)))
    try:
        yield {"url": hub.url, "store": store, "groups": groups, "sessions": {}, "html": html}
    finally:
        hub.stop()
        store.close()


def session(room, who: str) -> requests.Session:
    if who not in room["sessions"]:
        s = room_login(room["url"], who)
        s.get(f"{room['url']}{ROOM}book/{READING}", timeout=60).raise_for_status()
        room["sessions"][who] = s
    return room["sessions"][who]


def xsrf(room, who: str) -> str:
    return next(c.value for c in session(room, who).cookies if c.name == "_xsrf" and c.path == ROOM)


def call(room, who: str, method: str, path: str, body=None, token: str | None = "mine",
         headers: dict | None = None) -> requests.Response:
    sent = {"Sec-Fetch-Mode": "cors", "Sec-Fetch-Site": "same-origin", **(headers or {})}
    if token is not None:
        sent["X-XSRFToken"] = xsrf(room, who) if token == "mine" else token
    return session(room, who).request(method, f"{room['url']}{ROOM}book-annotations{path}",
                                      json=body, headers=sent, timeout=60, allow_redirects=False)


def snapshot(store) -> list[tuple]:
    with store.session() as s:
        return [(a.id, a.body, a.hidden_at, a.orphaned_at, a.updated_at)
                for a in s.scalars(select(Annotation).order_by(Annotation.id))]


def test_the_room_keeps_each_groups_comments_to_itself(room):
    groups = sorted(k for k in room["groups"] if not k.startswith("tutor:"))
    mine, other = room["groups"][groups[0]], room["groups"][groups[1]]
    author, friend, stranger = mine[0], mine[1], other[0]
    stranger_tutor = room["groups"][f"tutor:{groups[1]}"][0]
    created = call(room, author, "POST", "", new(exact=CHANGING) | {"body": "Our group's note."})
    assert created.status_code == 201, created.text
    note = created.json()["id"]
    reply = call(room, friend, "POST", f"/{note}/replies", {"body": "Seen."})
    assert reply.status_code == 201, reply.text
    listing = call(room, friend, "GET", f"?page={PAGE}").json()
    assert [a["id"] for a in listing["annotations"]] == [note]
    before = snapshot(room["store"])
    for who in (stranger, stranger_tutor):
        assert call(room, who, "GET", f"?page={PAGE}").json()["annotations"] == []
        for item in (note, reply.json()["id"], note.upper()):
            attempts = [("GET", f"/{item}", None), ("PATCH", f"/{item}", {"body": "Mine now."}),
                        ("DELETE", f"/{item}", None), ("POST", f"/{item}/replies", {"body": "Hello."}),
                        ("POST", f"/{item}/flag", {"reason": "Probing."})]
            for method, path, body in attempts:
                answer = call(room, who, method, path, body)
                assert answer.status_code == 404, (who, method, path, answer.status_code, answer.text)
                assert "Our group" not in answer.text and "Seen." not in answer.text
    # writing into another group by naming it
    wrong = call(room, stranger, "POST", "", new(group=groups[0]))
    assert wrong.status_code == 400 and set(wrong.json()["fields"]) == {"group"}
    # someone else's comment in one's own group: readable, not writable
    for method, path, body in [("PATCH", f"/{note}", {"body": "Edited by a friend."}),
                               ("DELETE", f"/{note}", None)]:
        assert call(room, friend, method, path, body).status_code == 404
    assert snapshot(room["store"]) == before


def test_flagged_then_hidden_a_comment_reaches_only_its_author_and_moderators(room):
    from course.cohort import moderation
    from course.cohort.models import ContentFlag

    groups = sorted(k for k in room["groups"] if not k.startswith("tutor:"))
    author, friend = room["groups"][groups[1]][:2]
    tutor = room["groups"][f"tutor:{groups[1]}"][0]
    made = call(room, author, "POST", "", new(exact=KEPT) | {"body": "Something to hide."})
    assert made.status_code == 201
    note = made.json()["id"]
    assert call(room, author, "POST", f"/{note}/flag", {"reason": "Mine."}).status_code == 409
    assert call(room, friend, "POST", f"/{note}/flag", {"reason": ""}).json()["fields"] == \
        {"reason": "say briefly what is wrong with it"}
    flagged = call(room, friend, "POST", f"/{note}/flag", {"reason": "Names a colleague."})
    assert flagged.status_code == 201, flagged.text
    with room["store"].session() as s:
        assert s.scalars(select(ContentFlag.flagged_by).where(ContentFlag.item_id == note)).all() == [friend]
        moderation.hide(s, tutor, "annotation", note, "Personal data about a colleague.")
    assert call(room, friend, "GET", f"?page={PAGE}").json()["annotations"] == []
    assert call(room, friend, "GET", f"/{note}").status_code == 404
    for who in (author, tutor, "coord"):
        seen = call(room, who, "GET", f"/{note}").json()
        assert seen["hidden"] and seen["hidden_reason"] == "Personal data about a colleague.", who


def test_script_requests_without_the_xsrf_token_are_refused(room):
    groups = sorted(k for k in room["groups"] if not k.startswith("tutor:"))
    author, other = room["groups"][groups[2]][0], room["groups"][groups[2]][1]
    made = call(room, author, "POST", "", new())
    assert made.status_code == 201
    note = made.json()["id"]
    before = snapshot(room["store"])
    attempts = [("POST", "", new()), ("PATCH", f"/{note}", {"body": "Changed."}),
                ("DELETE", f"/{note}", None), ("POST", f"/{note}/replies", {"body": "Hi."}),
                ("POST", f"/{note}/flag", {"reason": "x"}), ("GET", f"?page={PAGE}", None)]
    for method, path, body in attempts:
        for token in (None, "made-up", xsrf(room, other)):
            answer = call(room, author, method, path, body, token=token)
            assert answer.status_code == 403, (method, path, token, answer.status_code)
        cross = call(room, author, method, path, body, headers={"Sec-Fetch-Site": "cross-site"})
        assert cross.status_code == 403, (method, path, "cross-site")
    assert snapshot(room["store"]) == before
    # and nobody outside the hub gets anything
    assert requests.get(f"{room['url']}{ROOM}book-annotations?page={PAGE}", timeout=30).status_code in (302, 403)


@pytest.mark.parametrize("path", [
    "%2e%2e/secret.txt", "..%2fsecret.txt", "%2e%2e%2f%2e%2e%2fcohort.sqlite", "..%2f..%2fcohort.sqlite",
    "modules/%2e%2e/%2e%2e/secret.txt", "/etc/passwd", "%2fetc%2fpasswd", ".buildinfo",
    "modules/sample/..%5c..%5csecret.txt", "modules/sample/reading.html%00.png", "no-such-page.html",
    "modules/", "_static/", "modules/sample/nothing.html"])
def test_paths_out_of_the_book_give_404(room, path):
    who = room["groups"][sorted(k for k in room["groups"] if not k.startswith("tutor:"))[0]][0]
    s = session(room, who)
    request = s.prepare_request(requests.Request("GET", f"{room['url']}{ROOM}book/x"))
    request.url = f"{room['url']}{ROOM}book/{path}"  # sent as written, not normalised
    answer = s.send(request, timeout=30, allow_redirects=False)
    assert answer.status_code in (400, 404), (path, answer.status_code)
    assert "outside the book" not in answer.text and "root:" not in answer.text


def test_book_pages_carry_the_layer_and_their_own_policy(room):
    who = room["groups"][sorted(k for k in room["groups"] if not k.startswith("tutor:"))[0]][0]
    s = session(room, who)
    page = s.get(f"{room['url']}{ROOM}book/{READING}", timeout=30)
    assert page.status_code == 200 and 'id="igcb-annotate"' in page.text
    policy = page.headers["Content-Security-Policy"]
    assert "'unsafe-eval'" not in policy and "script-src 'self' 'sha256-" in policy
    assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    assert f"{ROOM}vendor/text-annotator/text-annotator.umd.js" in page.text
    library = s.get(f"{room['url']}{ROOM}vendor/text-annotator/text-annotator.umd.js", timeout=30)
    assert library.status_code == 200 and "RecogitoJS" in library.text
    # the public book is unchanged
    assert "igcb-annotate" not in (room["html"] / READING).read_text()
    # a stylesheet of the book: served, not with the room's no-store
    style = s.get(f"{room['url']}{ROOM}book/_static/styles/sphinx-book-theme.css", timeout=30)
    assert style.status_code == 200 and "text/css" in style.headers["Content-Type"]
    outsider = requests.get(f"{room['url']}{ROOM}book/{READING}", timeout=30, allow_redirects=False)
    assert outsider.status_code in (302, 403) and "igcb-annotate" not in outsider.text


# --- igcb hub hands the built book to the room ------------------------------------------------

def test_the_hub_starts_the_room_with_the_built_book():
    from course.hub import room_service
    from conftest import run_igcb

    service = room_service(1234, "/venv/bin/python", "/s/course", "/s/secret", {}, book="/s/book/html")
    assert service["command"][-1] == "--book=/s/book/html"
    assert not any(a.startswith("--book") for a in room_service(1, "p", "c", "s", {})["command"])
    usage = run_igcb("hub", "--help").output
    assert "--book DIRECTORY" in usage and "book/_build/html" in usage
