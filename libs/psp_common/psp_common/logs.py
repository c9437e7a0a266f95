"""Logging setup with a redaction filter: no contact details or free text reach a log line."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_PHONE = re.compile(r"(?<![\w.:-])(?:\+\d{8,15}|\(?\d{3}\)?[ .-]?\d{3}[ .-]\d{4})(?![\w.:-])")
_PAGE_LINK = re.compile(r"(/v1/pages/)[^/\s?#\"']+")
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]{0,30}://[^\s'\"<>]+")
_HOST_ARG = re.compile(r"\b(host|server_hostname|sni_hostname)=(b?'[^']*'|b?\"[^\"]*\")")
# Loggers of the HTTP client libraries: they print request URLs (INFO) and host names (DEBUG).
HTTP_CLIENT_LOGGERS = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)

# Libraries whose DEBUG/INFO lines carry SQL parameters or request paths (a person's data): WARNING and up only.
QUIET_LOGGERS = ("aiokafka", "sqlalchemy.engine", "uvicorn.access", "aiosqlite")


def redact_links(text: str) -> str:
    """Mask the token of page links (``/v1/pages/<token>/...``): a link is a credential."""
    return _PAGE_LINK.sub(r"\1[token]", text)


def redact(text: str) -> str:
    """Mask e-mail addresses, phone numbers and page-link tokens."""
    return _PHONE.sub("[phone]", _EMAIL.sub("[email]", redact_links(text)))


def redact_addresses(text: str) -> str:
    """Mask contact details, URLs and host arguments (tracebacks and HTTP client lines: a webhook URL is a contact)."""
    return _HOST_ARG.sub(r"\1=[host]", _URL.sub("[url]", redact(text)))


class RedactingFilter(logging.Filter):
    """Rewrites each record's message with contact details masked, and its traceback with URLs masked too."""

    def __init__(self, mask: Callable[[str], str] = redact) -> None:
        super().__init__()
        self._mask = mask

    def filter(self, record: logging.LogRecord) -> bool:
        """Render and redact the message (and the traceback) once."""
        try:
            message = record.getMessage()
        except Exception:
            return True
        record.msg = self._mask(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_addresses(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_addresses(record.stack_info)
        return True


def quiet_http_clients() -> None:
    """HTTP client libraries log at WARNING and up only, and whatever they log has URLs and hosts masked."""
    for name in HTTP_CLIENT_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter(redact_addresses))
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


def configure(level: str = "INFO", service: str = "psp") -> None:
    """Configure the root logger once for a service process."""
    root = logging.getLogger()
    root.setLevel(level.upper())
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    for noisy in QUIET_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    quiet_http_clients()
