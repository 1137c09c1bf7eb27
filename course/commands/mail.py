"""`igcb mail`: the course room's e-mail outbox (status), and one round of sending (send).

The room sends reminders and digests by itself when `igcb hub` has SMTP settings; these
commands are for the coordinator: what waits or failed, and sending what is due now with the
same code as the room's worker (e.g. from cron, for a room started without SMTP settings).
"""

from __future__ import annotations

import os

import click

from course.cohort import mail as outbox_store
from course.cohort.structure import get_setting
from course.commands.output import print_table
from course.commands.store import cohort_session, open_cohort, store_options, stored_plan
from course.errors import UserError
from course.layout import Layout


@click.group()
def mail():
    """The course room's e-mail: reminders and digests (see `igcb hub --smtp-host`)."""


@mail.command()
@store_options
def status(state, db):
    """Messages waiting, given up on (with the error) and sent."""
    store = open_cohort(state, db)
    with cohort_session(store) as session:
        view = outbox_store.outbox_view(session)
    click.echo(f"{view['waiting']} waiting ({view['retrying']} after a failed attempt), "
               f"{view['failed']} could not be sent, {view['sent']} sent")
    for title, rows, when in (("could not be sent", view["failed_mail"], "failed_at"),
                              ("waiting for another attempt", view["retrying_mail"], "next_try_at")):
        if rows:
            click.echo(f"\n{title}:")
            headers = ["id", "person", "subject", "attempts", when.replace("_", " ") + " (UTC)",
                       "last error"]
            print_table(headers,
                        [[m["id"], m["person"], m["subject"][:50], m["attempts"], m[when],
                          m["error"][:60]] for m in rows])


@mail.command()
@store_options
def send(state, db):
    """Queue what is due now and send it, once, with the SMTP settings in the environment.

    IGCB_SMTP_HOST, IGCB_SMTP_PORT, IGCB_SMTP_TLS (none|starttls|ssl), IGCB_SMTP_FROM,
    IGCB_SMTP_USER, IGCB_SMTP_PASSWORD and IGCB_ROOM_URL, as the room reads them.
    """
    from course.modules import load_catalogue
    from course.room.calendar import sessions as plan_sessions
    from course.room.mailer import MailConfigError, config_from_env, run_once

    try:
        config = config_from_env(os.environ)
    except MailConfigError as err:
        raise UserError(str(err)) from None
    if config is None:
        raise UserError("set IGCB_SMTP_HOST (and IGCB_SMTP_FROM, IGCB_ROOM_URL) to send e-mail")
    store = open_cohort(state, db)
    try:
        with store.session() as session:
            _, plan = stored_plan(session)
            course = get_setting(session, "course") or ""
        catalogue, _ = load_catalogue(Layout.default().modules)
        result = run_once(store, plan_sessions(plan, catalogue), config, course)
    finally:
        store.close()
    click.echo(f"{result['queued']} queued, {result['sent']} sent, {result['failed']} failed")
    if result["failed"]:
        click.echo("see `igcb mail status` for the errors; failed messages are tried again later")


COMMANDS = [mail]
