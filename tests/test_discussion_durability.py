"""Every acknowledged change of the discussion is in the store, even when the room is killed
(SIGKILL, no chance to flush anything) the moment it has answered: a real hub and room on a
SQLite store, changes made through the room's forms and the book page's JSON API."""

from __future__ import annotations

import re
import subprocess
import time

import pytest
import requests
from sqlalchemy import select

from course.cohort import annotations
from course.cohort import discussion as threads
from course.cohort.db import open_store
from course.cohort.models import (Annotation, ContentFlag, MailSetting, Membership, Post, RotaEntry,
                                  TutorAssignment)
from discussion_fixtures import annotation, make_book, plan_sessions
from room_helpers import (PARTICIPANTS, ROOM, TUTORS, dead, make_cohort, room_login, room_process,
                          start_room_hub)

SCRIPT = {"Sec-Fetch-Mode": "cors", "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Dest": "empty"}


class Room:
    """The hub, its room process, and people's sessions (kept across restarts of the room)."""

    def __init__(self, hub, url: str):
        self.hub, self.url, self.sessions, self.started = hub, url, {}, []

    def session(self, who: str) -> requests.Session:
        if who not in self.sessions:
            self.sessions[who] = room_login(self.hub.url, who)
        return self.sessions[who]

    def xsrf(self, who: str) -> str:
        return next(c.value for c in self.session(who).cookies if c.name == "_xsrf" and c.path == ROOM)

    def form(self, who: str, path: str, data: dict) -> requests.Response:
        return self.session(who).post(f"{self.hub.url}{ROOM}{path}", data={**data, "_xsrf": self.xsrf(who)},
                                      allow_redirects=False, timeout=60)

    def script(self, who: str, method: str, path: str, body=None) -> requests.Response:
        return self.session(who).request(method, f"{self.hub.url}{ROOM}{path}", json=body, timeout=60,
                                         headers={**SCRIPT, "X-XSRFToken": self.xsrf(who)})

    def kill(self) -> tuple[int, list, dict, str]:
        """SIGKILL the room; (its pid, command, environment, folder) to start it again."""
        process = room_process(self.hub.process.pid)
        assert process is not None, "no course.room process under the hub"
        spec = (process.pid, process.cmdline(), process.environ(), process.cwd())
        process.kill()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not dead(process):
            time.sleep(0.05)
        assert dead(process)
        assert requests.get(f"{self.hub.url}{ROOM}", timeout=10, allow_redirects=False).status_code >= 500
        return spec

    def restart(self, spec) -> None:
        """JupyterHub polls its services (every 30 s) and starts a dead one again; if it has
        not after a minute, start the room as it would, with its command."""
        pid, command, environment, cwd = spec
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = room_process(self.hub.process.pid)
            if found is not None and found.pid != pid:
                break
            time.sleep(0.5)
        else:
            log = open(self.hub.settings_path.parent / "room-restarted.log", "ab")
            self.started.append(subprocess.Popen(command, env=environment, cwd=cwd, stdout=log,
                                                 stderr=subprocess.STDOUT, start_new_session=True))
            log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if requests.get(f"{self.hub.url}{ROOM}", timeout=10, allow_redirects=False).status_code < 500:
                return
            time.sleep(0.3)
        raise AssertionError("the room did not come back")


@pytest.fixture(scope="module")
def room(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("discussion-durability")
    url = f"sqlite:///{tmp}/cohort.sqlite"
    make_cohort(url, tmp / "cohort", calibration=2)
    store = open_store(url)
    plan = plan_sessions()
    with store.session() as s:
        group = s.scalars(select(Membership.group_label).order_by(Membership.group_label)).first()
        lead = s.get(RotaEntry, (group, "1")).facilitator_id
        members = [m for m in s.scalars(select(Membership.person_id).where(Membership.group_label == group)
                                        .order_by(Membership.person_id)) if m != lead]
        tutor = s.scalar(select(TutorAssignment.tutor_id).where(TutorAssignment.group_label == group))
        threads.open_thread(s, lead, group, "1", "Who governs?", "Our opening.", plan)
        rude = threads.reply(s, members[1], group, "1", "A rude remark.", plan)["post_id"]
        note = annotation(0, "A note to change.")
        annotations.create(s, members[0], note)
    store.close()
    hub = start_room_hub(tmp, url, PARTICIPANTS, TUTORS, room_args=("--book", str(make_book(tmp))))
    running = Room(hub, url)
    running.cast = {"group": group, "member": members[0], "other": members[1], "tutor": tutor,
                    "rude": rude, "note": note["id"]}
    try:
        yield running
    finally:
        hub.stop()
        for process in running.started:
            process.terminate()
            process.wait(timeout=30)


def in_store(url: str, check):
    """`check(session)` on a fresh connection to the store (nothing the test process cached)."""
    store = open_store(url, create=False)
    try:
        with store.session() as s:
            return check(s)
    finally:
        store.close()


def test_acknowledged_changes_survive_the_room_being_killed_right_after_answering(room):
    c = room.cast
    thread = f"discussion/{c['group']}/1"
    for who in (c["member"], c["other"], c["tutor"]):  # logged in while the room runs
        room.session(who)

    # forms: a reply (the redirect is the acknowledgement), a hidden post, e-mail choices
    hidden = room.form(c["tutor"], "moderation", {"kind": "post", "item_id": c["rude"], "action": "hide",
                                                  "reason": "Personal attack."})
    assert hidden.status_code == 302
    chosen = room.form(c["member"], "mail", {"digest": "daily", "reminders": "off"})
    assert chosen.status_code == 302
    replied = room.form(c["member"], thread, {"action": "reply", "body": "Durable reply, sent last."})
    assert replied.status_code == 302
    spec = room.kill()
    post_id = int(re.search(r"#post-(\d+)$", replied.headers["Location"]).group(1))
    assert in_store(room.url, lambda s: (s.get(Post, post_id).body, s.get(Post, c["rude"]).hidden_reason,
                                         s.get(MailSetting, c["member"]).digest)) == \
        ("Durable reply, sent last.", "Personal attack.", "daily")
    room.restart(spec)

    # the book page's JSON: a comment, a reply to it, a flag
    note = annotation(1, "A durable comment.")
    assert room.script(c["member"], "POST", "book-annotations", note).status_code == 201
    flagged = room.script(c["other"], "POST", f"book-annotations/{note['id']}/flag", {"reason": "Unkind."})
    assert flagged.status_code == 201
    answered = room.script(c["other"], "POST", f"book-annotations/{note['id']}/replies",
                           {"body": "A durable reply to it."})
    assert answered.status_code == 201
    spec = room.kill()
    reply_id = answered.json()["id"]
    assert in_store(room.url, lambda s: (s.get(Annotation, note["id"]).body, s.get(Annotation, reply_id).body,
                                         s.scalar(select(ContentFlag.reason).where(ContentFlag.item_id == note["id"])))) == \
        ("A durable comment.", "A durable reply to it.", "Unkind.")
    room.restart(spec)

    # an edit and a deletion (their answers are sent after the commit)
    deleted = room.script(c["other"], "DELETE", f"book-annotations/{reply_id}")
    assert deleted.status_code == 200 and deleted.json() == {"deleted": reply_id, "kept": False}
    edited = room.script(c["member"], "PATCH", f"book-annotations/{c['note']}", {"body": "Changed for good."})
    assert edited.status_code == 200 and edited.json()["body"] == "Changed for good."
    room.kill()
    assert in_store(room.url, lambda s: (s.get(Annotation, c["note"]).body, s.get(Annotation, reply_id))) == \
        ("Changed for good.", None)
