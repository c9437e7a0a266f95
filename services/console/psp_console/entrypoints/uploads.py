"""File uploads from a page's form (multipart): the CSRF check of ``checked_form`` plus one file, size-capped.

    @router.post("/roster/import")
    async def import_roster(request: Request, upload: Upload = Depends(checked_upload("roster"))) -> Response: ...

The file's bytes go to a service as they are (the services parse and report each bad row); the console only
checks that a file was chosen and is not larger than ``MAX_UPLOAD_BYTES``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from fastapi import Depends, Request
from starlette.datastructures import UploadFile

from psp_console.adapters.sessions import WebSession
from psp_console.entrypoints.web import check_csrf, page

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
MAX_FIELDS = 20


@dataclass
class Upload:
    """A submitted upload form: its text fields, the file's bytes (empty when none was chosen) and a problem."""

    user: WebSession
    fields: dict[str, str] = field(default_factory=dict)
    content: bytes = b""
    problem: str = ""

    def flag(self, name: str) -> bool:
        """Whether a checkbox was ticked."""
        return self.fields.get(name) in ("on", "true", "1", "yes")


def _too_big(request: Request) -> bool:
    try:
        return int(request.headers.get("content-length", "0")) > MAX_UPLOAD_BYTES + 64 * 1024
    except ValueError:
        return True


async def _read(request: Request, user: WebSession, file_field: str) -> Upload:
    """Parse the multipart form; the CSRF check runs before the file is looked at."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        check_csrf(request, user, {})
        return Upload(user, problem="The form was not sent as an upload. Reload the page and choose the file again.")
    if _too_big(request):  # refused unread: nothing changes, so the CSRF check is not needed to refuse
        return Upload(user, problem=f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
    async with request.form(max_files=1, max_fields=MAX_FIELDS, max_part_size=64 * 1024) as form:
        fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        check_csrf(request, user, {"csrf": [fields.get("csrf", "")]})
        chosen = form.get(file_field)
        content = await chosen.read(MAX_UPLOAD_BYTES + 1) if isinstance(chosen, UploadFile) else b""
    if len(content) > MAX_UPLOAD_BYTES:
        return Upload(user, fields, problem=f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
    if not content:
        return Upload(user, fields, problem="No file was chosen (or it is empty). Choose the file, then send again.")
    return Upload(user, fields, content)


def checked_upload(key: str, file_field: str = "file") -> Callable[..., Awaitable[Upload]]:
    """Dependency of an upload route: ``page(key)``, the CSRF check, then the file (see :class:`Upload`)."""

    async def dependency(request: Request, user: WebSession = Depends(page(key))) -> Upload:
        return await _read(request, user, file_field)

    return dependency
