"""E-mail from the room: SMTP settings, the sending worker, people's choices, the outbox page.

The room sends mail only when IGCB_SMTP_HOST is set (`igcb hub --smtp-host`). A task on the
room's event loop wakes every IGCB_MAIL_INTERVAL seconds and, in a thread of its own (so no
page ever waits on the store's queries or on SMTP), queues what is due (course/cohort/mail.py)
and sends the outbox's ready messages with smtplib. A failed send stays in the outbox and is
tried again later (1, 5, 30 minutes, 2 hours ...); after the last attempt it is listed on the
coordinator's outbox page, where it can be retried.

Environment (the password only from here, never from a command line):

  IGCB_SMTP_HOST       the SMTP server (no host: no e-mail)
  IGCB_SMTP_PORT       its port (default 25, 587 with starttls, 465 with ssl)
  IGCB_SMTP_TLS        none | starttls | ssl (default starttls)
  IGCB_SMTP_FROM       the sender, e.g. "IG course <course@example.org>"
  IGCB_SMTP_USER       login name, if the server wants one (with IGCB_SMTP_PASSWORD)
  IGCB_SMTP_PASSWORD
  IGCB_ROOM_URL        the room's public address, for the links in messages
  IGCB_MAIL_INTERVAL   seconds between two rounds of sending (default 60)
"""

from __future__ import annotations

import asyncio
import logging
import re
import smtplib
import ssl
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from tornado import web

from course.cohort import mail, reviewing
from course.cohort.models import utcnow
from course.room.base import PageHandler

log = logging.getLogger("igcb.room.mail")
TLS_MODES = ("none", "starttls", "ssl")
DEFAULT_PORTS = {"none": 25, "starttls": 587, "ssl": 465}
SMTP_TIMEOUT = 60  # seconds for each exchange with the server
BATCH = 50  # messages sent in one round


class MailConfigError(ValueError):
    """A bad e-mail setting; the message names the variable and what is expected."""


@dataclass(frozen=True)
class MailConfig:
    host: str
    port: int
    tls: str
    sender: str
    room_url: str
    user: str = ""
    password: str = field(default="", repr=False)
    interval: float = 60.0

    @property
    def sender_address(self) -> str:
        return parseaddr(self.sender)[1]


def config_from_env(environ) -> MailConfig | None:
    """The SMTP settings from the environment; None when no host is set (no e-mail)."""
    host = (environ.get("IGCB_SMTP_HOST") or "").strip()
    if not host:
        return None
    tls = (environ.get("IGCB_SMTP_TLS") or "starttls").strip().lower()
    if tls not in TLS_MODES:
        raise MailConfigError(f"IGCB_SMTP_TLS: {tls!r}: expected one of {', '.join(TLS_MODES)}")
    port_text = (environ.get("IGCB_SMTP_PORT") or "").strip()
    if port_text:
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise MailConfigError(f"IGCB_SMTP_PORT: {port_text!r}: expected a port number, 1 to 65535")
        port = int(port_text)
    else:
        port = DEFAULT_PORTS[tls]
    sender = (environ.get("IGCB_SMTP_FROM") or "").strip()
    address = parseaddr(sender)[1]
    if not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+", address):
        raise MailConfigError(f"IGCB_SMTP_FROM: {sender!r}: expected the sender's address, e.g. "
                              "course@example.org or \"IG course <course@example.org>\"")
    user = (environ.get("IGCB_SMTP_USER") or "").strip()
    password = environ.get("IGCB_SMTP_PASSWORD") or ""
    if bool(user) != bool(password):
        raise MailConfigError("IGCB_SMTP_USER and IGCB_SMTP_PASSWORD: give both (to log in to the "
                              "SMTP server) or neither")
    if password and tls == "none":
        raise MailConfigError("IGCB_SMTP_TLS: none would send the SMTP password unencrypted: "
                              "use starttls or ssl")
    room_url = (environ.get("IGCB_ROOM_URL") or "").strip()
    if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", room_url):
        raise MailConfigError(f"IGCB_ROOM_URL: {room_url!r}: expected the room's public address "
                              "for the links in e-mail, e.g. https://hub.example.org/services/room/")
    interval_text = (environ.get("IGCB_MAIL_INTERVAL") or "60").strip()
    try:
        interval = float(interval_text)
    except ValueError:
        interval = 0.0
    if not 0 < interval <= 86400:
        raise MailConfigError(f"IGCB_MAIL_INTERVAL: {interval_text!r}: expected seconds between "
                              "two rounds of sending, more than 0 and at most 86400")
    return MailConfig(host=host, port=port, tls=tls, sender=sender, room_url=room_url,
                      user=user, password=password, interval=interval)


# --- sending ---------------------------------------------------------------------------------

def build_message(config: MailConfig, item: dict, now: datetime) -> EmailMessage:
    """A plain-text message from an outbox item (claim_batch's dicts)."""
    message = EmailMessage()
    message["From"] = config.sender
    message["To"] = Address(display_name=item.get("name") or "", addr_spec=item["to"])
    message["Subject"] = item["subject"]
    message["Date"] = format_datetime(now.replace(tzinfo=timezone.utc))
    message["Message-ID"] = make_msgid(domain=config.sender_address.rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies, please
    message.set_content(item["body"])
    return message


def _connect(config: MailConfig) -> smtplib.SMTP:
    context = ssl.create_default_context()
    if config.tls == "ssl":
        smtp = smtplib.SMTP_SSL(config.host, config.port, timeout=SMTP_TIMEOUT, context=context)
    else:
        smtp = smtplib.SMTP(config.host, config.port, timeout=SMTP_TIMEOUT)
        if config.tls == "starttls":
            smtp.starttls(context=context)
    if config.user:
        smtp.login(config.user, config.password)
    return smtp


def _text(reply) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _error(err: Exception) -> str:
    """What went wrong, as the coordinator's outbox page shows it (e.g. "550 5.1.1 ...")."""
    if isinstance(err, smtplib.SMTPRecipientsRefused):
        return "; ".join(f"{code} {_text(reply)}" for code, reply in err.recipients.values()) or str(err)
    if isinstance(err, smtplib.SMTPResponseException):
        return f"{err.smtp_code} {_text(err.smtp_error)}"
    return f"{type(err).__name__}: {err}"


def _quit(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()


def send_ready(store, config: MailConfig, now: datetime | None = None, limit: int = BATCH) -> dict:
    """Send the outbox's ready messages (blocking: run it in a thread); what became of them."""
    now = now or utcnow()
    with store.session() as s:
        batch = mail.claim_batch(s, now, limit)
    result = {"sent": 0, "failed": 0}
    if not batch:
        return result

    def failed(item, err):
        with store.session() as s:
            outcome = mail.mark_failed(s, item["id"], _error(err), now)
        result["failed"] += 1
        later = "given up" if outcome["gave_up"] else f"again after {outcome['next_try_at']:%H:%M} UTC"
        log.warning("mail %s to %s: %s (%s)", item["key"], item["to"], _error(err), later)

    smtp = None
    try:
        for n, item in enumerate(batch):
            if smtp is None:
                try:
                    smtp = _connect(config)
                except (OSError, smtplib.SMTPException) as err:  # the rest wait for next time
                    for rest in batch[n:]:
                        failed(rest, err)
                    break
            try:
                smtp.send_message(build_message(config, item, now),
                                  from_addr=config.sender_address, to_addrs=[item["to"]])
            except (OSError, smtplib.SMTPException, ValueError) as err:
                failed(item, err)
                _quit(smtp)  # the connection may be gone: a fresh one for the next message
                smtp = None
                continue
            with store.session() as s:
                mail.mark_sent(s, item["id"], now)
            result["sent"] += 1
    finally:
        if smtp is not None:
            _quit(smtp)
    return result


def run_once(store, sessions: list[dict], config: MailConfig, course: str = "",
             now: datetime | None = None) -> dict:
    """Queue what is due, then send what is ready (blocking): {"queued", "sent", "failed"}."""
    now = now or utcnow()
    with store.session() as s:
        queued = mail.queue_due(s, now, sessions, config.room_url, course)
    return {"queued": queued, **send_ready(store, config, now)}


class Worker:
    """The periodic task: a round of `run_once` in its own thread, then a pause."""

    def __init__(self, room, config: MailConfig):
        self.room, self.config = room, config
        # One thread: rounds never overlap, and the room's other work keeps its own threads.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="igcb-mail")
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                result = await loop.run_in_executor(self.executor, run_once, self.room.store,
                                                    self.room.sessions(), self.config, self.room.course)
                if any(result.values()):
                    log.info("mail: %(queued)d queued, %(sent)d sent, %(failed)d failed", result)
            except asyncio.CancelledError:
                raise
            except Exception:  # the store or a bug: logged, and the next round tries again
                log.exception("mail: this round failed")
            await asyncio.sleep(self.config.interval)

    async def stop(self) -> None:
        self.task.cancel()
        with suppress(asyncio.CancelledError):
            await self.task
        # A message being sent finishes (bounded by SMTP_TIMEOUT); nothing new starts.
        self.executor.shutdown(wait=False, cancel_futures=True)


def start(room) -> Worker | None:
    """Start sending (on the running event loop) when SMTP is configured."""
    if room.mail is None:
        log.info("e-mail: off (no IGCB_SMTP_HOST)")
        return None
    config = room.mail
    log.info("e-mail: through %s:%s (%s) as %s, every %g s", config.host, config.port, config.tls,
             config.sender_address, config.interval)
    return Worker(room, config)


# --- pages -----------------------------------------------------------------------------------

class MailPage(PageHandler):
    """A person's e-mail choices."""

    def _show(self, settings: dict, status: int = 200, errors: dict | None = None, saved=None):
        self.render_page("mail.html", status=status, title="My e-mail", settings=settings,
                         sending=self.room.mail is not None, errors=errors or {}, saved=saved)

    @web.authenticated
    def get(self):
        me = self.require_person()
        with self.transaction() as s:
            settings = mail.get_settings(s, me.id)
        self._show(settings, saved=self.get_query_argument("saved", None))

    @web.authenticated
    def post(self):
        me = self.require_person()
        digest = self.get_body_argument("digest", "")
        reminders = self.get_body_argument("reminders", "")
        try:
            with self.transaction() as s:
                mail.update_settings(s, me.id, digest, reminders)
        except reviewing.Invalid as err:
            with self.transaction() as s:
                settings = mail.get_settings(s, me.id)
            return self._show(settings, 400, err.errors)
        self.redirect(self.url("mail", saved="1"))


class OutboxPage(PageHandler):
    """The coordinator's outbox: what waits, what failed and why, a retry button."""

    @web.authenticated
    def get(self):
        me = self.require_person()
        with self.transaction() as s:
            view = mail.outbox(s, me.id)
        self.render_page("coordinator_mail.html", title="E-mail outbox", o=view,
                         sending=self.room.mail is not None,
                         notice=self.get_query_argument("notice", None))


class RetryPage(PageHandler):
    @web.authenticated
    def post(self, mail_id):
        me = self.require_person()
        with self.transaction() as s:
            retried = mail.retry(s, me.id, int(mail_id))
        self.redirect(self.url("coordinator/mail",
                               notice=f"“{retried['subject']}” to {retried['to']} will be sent again"))


HANDLERS = [
    (r"mail", MailPage),
    (r"coordinator/mail", OutboxPage),
    (r"coordinator/mail/(\d{1,9})/retry", RetryPage),
]
