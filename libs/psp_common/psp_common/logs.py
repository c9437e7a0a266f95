"""Logging setup with a redaction filter: no contact details or free text reach a log line."""

from __future__ import annotations

import logging
import re

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_PHONE = re.compile(r"(?<![\w.:-])(?:\+\d{8,15}|\(?\d{3}\)?[ .-]?\d{3}[ .-]\d{4})(?![\w.:-])")
_PAGE_LINK = re.compile(r"(/v1/pages/)[^/\s?#\"']+")


def redact_links(text: str) -> str:
    """Mask the token of page links (``/v1/pages/<token>/...``): a link is a credential."""
    return _PAGE_LINK.sub(r"\1[token]", text)


def redact(text: str) -> str:
    """Mask e-mail addresses, phone numbers and page-link tokens."""
    return _PHONE.sub("[phone]", _EMAIL.sub("[email]", redact_links(text)))


class RedactingFilter(logging.Filter):
    """Rewrites each record's message with contact details masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Render and redact the message once."""
        try:
            message = record.getMessage()
        except Exception:
            return True
        record.msg = redact(message)
        record.args = None
        return True


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
    for noisy in ("aiokafka", "sqlalchemy.engine", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
