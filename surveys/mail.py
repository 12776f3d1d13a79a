"""Survey emails: the bilingual invitation and reminder templates, composing a message
(plain text and HTML, every value escaped) and the backends that deliver it.

Templates are plain text with placeholders in braces — ``{name}``, ``{link}``,
``{deadline}``, ``{campaign}``, ``{unsubscribe_link}`` — and ``{{``/``}}`` for a
literal brace. Admins may override them per campaign, kind and language
(``Campaign.email_templates``); :func:`check_template` refuses unknown placeholders
and a body without ``{link}``.

Backends (``MAIL_BACKEND``):

* ``smtp`` — :mod:`smtplib` with STARTTLS (``MAIL_USE_TLS``) or implicit TLS
  (``MAIL_USE_SSL``), optional login and a timeout; one connection per batch.
* ``outbox`` — every message is written as an ``.eml`` file to ``MAIL_OUTBOX_DIR``
  (default ``<instance>/outbox``), which admins browse in the app (development).
* ``memory`` — messages are appended to ``app.extensions["orbit_mail_sent"]`` (tests).
"""

from __future__ import annotations

import contextlib
import email.policy
import re
import smtplib
import ssl
import string
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesHeaderParser, BytesParser
from email.utils import format_datetime as rfc2822_date
from email.utils import make_msgid, parseaddr
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_time
from flask import current_app
from markupsafe import escape

from core.i18n import lazy_gettext as _l

KINDS = ("invitation", "reminder")
LANGUAGES = ("en", "zh_CN")
PLACEHOLDERS = ("name", "link", "deadline", "campaign", "unsubscribe_link")
MAX_SUBJECT = 200
MAX_BODY = 10_000

DEFAULT_TEMPLATES: dict[str, dict[str, dict[str, str]]] = {
    "invitation": {
        "en": {
            "subject": "Your invitation: {campaign}",
            "body": (
                "Hello {name},\n\n"
                "You are invited to answer the survey “{campaign}”. It takes a few "
                "minutes, and your answers help us improve.\n\n"
                "Answer here: {link}\n\n"
                "Please answer by {deadline}. This link is personal: please do not "
                "forward it.\n\n"
                "Thank you!\n\n"
                "To stop receiving survey emails: {unsubscribe_link}"
            ),
        },
        "zh_CN": {
            "subject": "问卷邀请：{campaign}",
            "body": (
                "尊敬的{name}：\n\n"
                "诚邀您填写问卷“{campaign}”，只需几分钟，您的意见将帮助我们改进工作。\n\n"
                "填写链接：{link}\n\n"
                "请于{deadline}前完成。此链接为您专属，请勿转发。\n\n"
                "感谢您的参与！\n\n"
                "如不希望再收到问卷邮件，请点击：{unsubscribe_link}"
            ),
        },
    },
    "reminder": {
        "en": {
            "subject": "Reminder: {campaign}",
            "body": (
                "Hello {name},\n\n"
                "A friendly reminder: we have not received your answers to the survey "
                "“{campaign}” yet. If you have started, you can continue where you "
                "left off.\n\n"
                "Answer here: {link}\n\n"
                "The survey closes on {deadline}.\n\n"
                "Thank you!\n\n"
                "To stop receiving survey emails: {unsubscribe_link}"
            ),
        },
        "zh_CN": {
            "subject": "提醒：{campaign}",
            "body": (
                "尊敬的{name}：\n\n"
                "温馨提醒：我们尚未收到您对问卷“{campaign}”的回答。如已开始填写，"
                "可从上次中断处继续。\n\n"
                "填写链接：{link}\n\n"
                "问卷将于{deadline}截止。\n\n"
                "感谢您的参与！\n\n"
                "如不希望再收到问卷邮件，请点击：{unsubscribe_link}"
            ),
        },
    },
}

# Words used in a message when a value is missing, and the footer added to a custom
# template that leaves out {unsubscribe_link} (every email must carry one).
_FALLBACKS = {
    "en": {
        "name": "there",
        "deadline": "the closing date",
        "no_deadline": "as soon as you can",
        "footer": "To stop receiving survey emails: {unsubscribe_link}",
    },
    "zh_CN": {
        "name": "用户",
        "deadline": "截止日期",
        "no_deadline": "尽快",
        "footer": "如不希望再收到问卷邮件，请点击：{unsubscribe_link}",
    },
}

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class MailError(Exception):
    """A message could not be delivered now; trying again later may work."""


class PermanentMailError(MailError):
    """The server refused the recipient for good (an SMTP 5xx answer)."""


# ----------------------------------------------------------------- templates


def language_of(locale: str | None, default: str | None = None) -> str:
    """``"zh_CN"`` or ``"en"`` for a stored locale (``zh``, ``zh-CN``… count as Chinese)."""
    value = (locale or default or "en").replace("-", "_").lower()
    return "zh_CN" if value.startswith("zh") else "en"


def template_of(campaign, kind: str, language: str) -> dict[str, str]:
    """The campaign's subject and body for ``kind`` in ``language`` (else the default)."""
    custom = ((campaign.email_templates or {}).get(kind) or {}).get(language)
    if custom and custom.get("subject") and custom.get("body"):
        return {"subject": custom["subject"], "body": custom["body"]}
    return dict(DEFAULT_TEMPLATES[kind][language])


def is_customised(campaign, kind: str, language: str) -> bool:
    return bool(((campaign.email_templates or {}).get(kind) or {}).get(language))


def _fields(text: str) -> list[tuple[str, str | None, str | None, str | None]]:
    return list(string.Formatter().parse(text))


def check_template(subject: str, body: str) -> dict[str, list]:
    """Problems of a template, by form field (empty if it can be used)."""
    problems: dict[str, list] = {}
    for name, text, limit in (("subject", subject, MAX_SUBJECT), ("body", body, MAX_BODY)):
        messages = problems.setdefault(name, [])
        if not (text or "").strip():
            messages.append(_l("This field is required."))
            continue
        if len(text) > limit:
            messages.append(_l("Use at most %(n)d characters.", n=limit))
        if name == "subject" and ("\n" in text or "\r" in text):
            messages.append(_l("The subject must be a single line."))
        try:
            parsed = _fields(text)
        except ValueError:
            messages.append(
                _l("A “{” or “}” has no partner. Write {{ or }} for a brace in the text.")
            )
            continue
        unknown = []
        for _literal, field, spec, conversion in parsed:
            if field is None:
                continue
            if field not in PLACEHOLDERS or spec or conversion:
                shown = "{" + field + (f"!{conversion}" if conversion else "")
                shown += (f":{spec}" if spec else "") + "}"
                unknown.append(shown)
        if unknown:
            messages.append(
                _l(
                    "Unknown placeholder %(found)s. Use only %(allowed)s.",
                    found=", ".join(dict.fromkeys(unknown)),
                    allowed=", ".join("{" + p + "}" for p in PLACEHOLDERS),
                )
            )
        if name == "body" and "link" not in {f for _, f, _, _ in parsed if f}:
            messages.append(_l("The body must contain {link}: it is the person's survey link."))
        if name == "subject" and {"link", "unsubscribe_link"} & {f for _, f, _, _ in parsed if f}:
            messages.append(_l("Links cannot go in the subject."))
    return {k: v for k, v in problems.items() if v}


# ----------------------------------------------------------------- composing


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def single_line(value: str | None, limit: int = 300) -> str:
    """Text safe for a header or one line: control characters become spaces."""
    return _CONTROL.sub(" ", value or "").strip()[:limit]


def format_deadline(closes_at: datetime | None, language: str) -> str:
    """The closing date-time in the recipient's language and the app's time zone."""
    if closes_at is None:
        return _FALLBACKS[language]["no_deadline"]
    zone_name = current_app.config.get("BABEL_DEFAULT_TIMEZONE") or "UTC"
    try:
        zone = ZoneInfo(zone_name)
    except (KeyError, ValueError):
        zone, zone_name = ZoneInfo("UTC"), "UTC"
    local = closes_at.astimezone(zone)
    locale = Locale.parse(language)
    day = format_date(local, "long", locale=locale)
    time = format_time(local, "HH:mm", locale=locale)
    return f"{day} {time} ({zone_name})"


def _with_footer(body: str, language: str) -> str:
    if "unsubscribe_link" in {f for _, f, _, _ in _fields(body) if f}:
        return body
    return body.rstrip() + "\n\n" + _FALLBACKS[language]["footer"]


def _text_part(body: str, values: dict[str, str]) -> str:
    out = []
    for literal, field, _spec, _conversion in _fields(body):
        out.append(literal)
        if field is not None:
            out.append(values[field])
    return "".join(out)


def _html_part(body: str, values: dict[str, str], language: str) -> str:
    """The body as HTML: literal text and every value escaped, links as anchors,
    blank lines as paragraphs and single line breaks as ``<br>``."""
    out: list[str] = []
    for literal, field, _spec, _conversion in _fields(body):
        out.append(str(escape(literal)))
        if field in ("link", "unsubscribe_link"):
            url = escape(values[field])
            out.append(f'<a href="{url}">{url}</a>')
        elif field is not None:
            out.append(str(escape(values[field])))
    text = "".join(out).replace("\r\n", "\n")
    paragraphs = [p.strip("\n") for p in re.split(r"\n\s*\n", text) if p.strip()]
    inner = "\n".join(f"<p>{p.replace(chr(10), '<br>' + chr(10))}</p>" for p in paragraphs)
    lang = "zh-CN" if language == "zh_CN" else "en"
    return (
        f'<!doctype html>\n<html lang="{lang}">\n<head><meta charset="utf-8"></head>\n'
        f"<body>\n{inner}\n</body>\n</html>\n"
    )


def render(
    template: dict[str, str],
    *,
    language: str,
    name: str | None,
    campaign_name: str,
    link: str,
    unsubscribe_link: str,
    closes_at: datetime | None,
) -> Rendered:
    """Fill a (checked) template for one recipient."""
    values = {
        "name": single_line(name, 200) or _FALLBACKS[language]["name"],
        "campaign": single_line(campaign_name, 200),
        "deadline": format_deadline(closes_at, language),
        "link": link,
        "unsubscribe_link": unsubscribe_link,
    }
    subject = single_line(_text_part(template["subject"], values), MAX_SUBJECT + 200)
    body = _with_footer(template["body"], language)
    return Rendered(
        subject=subject,
        text=_text_part(body, values),
        html=_html_part(body, values, language),
    )


def build_message(
    rendered: Rendered, *, to_address: str, to_name: str | None, unsubscribe_link: str
) -> EmailMessage:
    """A MIME message (text and HTML alternatives) with the unsubscribe headers."""
    message = EmailMessage(policy=email.policy.SMTP)
    sender = current_app.config["MAIL_DEFAULT_SENDER"]
    message["From"] = sender
    local, _, domain = to_address.partition("@")
    message["To"] = Address(display_name=single_line(to_name, 200), username=local, domain=domain)
    message["Subject"] = rendered.subject
    message["Date"] = rfc2822_date(datetime.now(UTC))
    sender_domain = parseaddr(sender)[1].rpartition("@")[2] or "orbit.local"
    message["Message-ID"] = make_msgid(domain=sender_domain)
    # RFC 2369 and RFC 8058: mail programs show an "Unsubscribe" button that POSTs.
    message["List-Unsubscribe"] = f"<{unsubscribe_link}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message


def text_and_html(message: EmailMessage) -> tuple[str | None, str | None]:
    """The plain-text and HTML parts of a message (None where missing)."""
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    return (
        text.get_content() if text is not None else None,
        html.get_content() if html is not None else None,
    )


# ----------------------------------------------------------------- backends


class Connection(ABC):
    """Delivers messages; use as a context manager around a batch."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @abstractmethod
    def send(self, message: EmailMessage) -> None:
        """Deliver one message; raise :class:`MailError` (retry later) or
        :class:`PermanentMailError` (never)."""

    def close(self) -> None:  # noqa: B027 - most connections hold nothing to close
        """Release what the batch held (an SMTP session)."""


class MemoryConnection(Connection):
    def send(self, message: EmailMessage) -> None:
        current_app.extensions.setdefault("orbit_mail_sent", []).append(message)


class OutboxConnection(Connection):
    def __init__(self, directory: Path):
        self.directory = directory

    def send(self, message: EmailMessage) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
            path = self.directory / f"{stamp}-{uuid.uuid4().hex[:12]}.eml"
            path.write_bytes(message.as_bytes(policy=email.policy.SMTP))
        except OSError as exc:
            raise MailError(f"could not write to the outbox: {exc}") from exc


class SMTPConnection(Connection):
    """One SMTP session for a batch, opened at the first message."""

    def __init__(self, config):
        self.config = config
        self._smtp: smtplib.SMTP | None = None

    def _open(self) -> smtplib.SMTP:
        c = self.config
        host, port, timeout = c["MAIL_SERVER"], int(c["MAIL_PORT"]), c["MAIL_TIMEOUT_SECONDS"]
        context = ssl.create_default_context()
        try:
            if c.get("MAIL_USE_SSL"):
                smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
            else:
                smtp = smtplib.SMTP(host, port, timeout=timeout)
                if c.get("MAIL_USE_TLS"):
                    smtp.starttls(context=context)
            if c.get("MAIL_USERNAME"):
                smtp.login(c["MAIL_USERNAME"], c.get("MAIL_PASSWORD") or "")
        except (smtplib.SMTPException, OSError) as exc:
            raise MailError(f"cannot connect to the mail server {host}:{port}: {exc}") from exc
        return smtp

    def send(self, message: EmailMessage) -> None:
        if self._smtp is None:
            self._smtp = self._open()
        try:
            self._smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            detail = "; ".join(
                f"{code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"
                for code, text in exc.recipients.values()
            )
            if codes and all(code >= 500 for code in codes):
                raise PermanentMailError(f"the mail server refused the address: {detail}") from exc
            raise MailError(f"the mail server refused the address for now: {detail}") from exc
        except smtplib.SMTPServerDisconnected as exc:
            self._smtp = None  # the next message opens a new session
            raise MailError(f"the mail server closed the connection: {exc}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise MailError(f"the mail server did not accept the message: {exc}") from exc

    def close(self) -> None:
        if self._smtp is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self._smtp.quit()
            self._smtp = None


def outbox_dir() -> Path:
    configured = current_app.config.get("MAIL_OUTBOX_DIR")
    return Path(configured) if configured else Path(current_app.instance_path) / "outbox"


def connection() -> Connection:
    """A connection of the configured backend."""
    backend = current_app.config.get("MAIL_BACKEND", "outbox")
    if backend == "smtp":
        return SMTPConnection(current_app.config)
    if backend == "outbox":
        return OutboxConnection(outbox_dir())
    if backend == "memory":
        return MemoryConnection()
    raise RuntimeError(f"MAIL_BACKEND {backend!r}: use smtp, outbox or memory")


# ----------------------------------------------------------------- the outbox


_OUTBOX_NAME = re.compile(r"^\d{8}T\d{12}-[0-9a-f]{12}\.eml$")


@dataclass(frozen=True)
class OutboxEntry:
    name: str
    date: datetime | None
    to: str
    subject: str


def outbox_names() -> list[str]:
    """Message file names in the outbox, newest first."""
    directory = outbox_dir()
    if not directory.is_dir():
        return []
    return sorted((p.name for p in directory.iterdir() if _OUTBOX_NAME.match(p.name)),
                  reverse=True)


def _date_of(name: str) -> datetime | None:
    try:
        return datetime.strptime(name[:22], "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC)
    except ValueError:
        return None


def outbox_entries(names: list[str]) -> list[OutboxEntry]:
    entries = []
    for name in names:
        try:
            with (outbox_dir() / name).open("rb") as handle:
                headers = BytesHeaderParser(policy=email.policy.default).parse(handle)
        except OSError:
            continue
        entries.append(
            OutboxEntry(name, _date_of(name), str(headers.get("To", "")),
                        str(headers.get("Subject", "")))
        )
    return entries


def outbox_message(name: str) -> EmailMessage | None:
    """The stored message ``name`` (None for a missing file or a name not of ours)."""
    if not _OUTBOX_NAME.match(name or ""):
        return None
    path = outbox_dir() / name
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return BytesParser(policy=email.policy.default).parsebytes(data)

