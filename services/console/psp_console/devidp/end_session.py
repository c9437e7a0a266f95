"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) at the dev provider.

``/end_session`` forgets the browser's sign-in here (its cookie and the server's record of it), then sends the
browser to ``post_logout_redirect_uri`` only when that URI is registered and the client is known (from
``client_id`` or the ``id_token_hint``'s audience, which must agree). Otherwise it shows a signed-out page.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit

import jwt

from psp_console.devidp.settings import DevIdpSettings

SESSION_COOKIE = "devidp_session"


class LogoutRefused(Exception):
    """The request names no known client or carries a hint this provider did not issue."""


def hinted_client(hint: str | None, public_key: Any, issuer: str) -> str | None:
    """The audience of an ID token this provider signed (expired hints are accepted, as the spec allows)."""
    if not hint:
        return None
    try:
        claims = jwt.decode(
            hint, public_key, algorithms=["RS256"], issuer=issuer, options={"verify_aud": False, "verify_exp": False}
        )
    except jwt.PyJWTError as exc:
        raise LogoutRefused("the id_token_hint was not issued by this provider") from exc
    aud = claims.get("aud")
    return str(aud[0] if isinstance(aud, list) and aud else aud)


def post_logout_allowed(settings: DevIdpSettings, uri: str) -> bool:
    """A registered post-logout URI, or (none registered) an http(s) URI on this machine."""
    if settings.devidp_post_logout_redirect_uris:
        return uri in settings.devidp_post_logout_redirect_uris
    parts = urlsplit(uri)
    return parts.scheme in ("http", "https") and parts.hostname in ("127.0.0.1", "localhost") and not parts.fragment


def redirect_target(settings: DevIdpSettings, params: dict[str, str], hint_client: str | None) -> str | None:
    """Where to send the browser after signing out, or None (stay on the provider's signed-out page)."""
    client_id = params.get("client_id") or hint_client
    if params.get("client_id") and hint_client and params["client_id"] != hint_client:
        raise LogoutRefused("client_id and the id_token_hint's audience differ")
    uri = params.get("post_logout_redirect_uri")
    if not uri or client_id not in settings.devidp_clients or not post_logout_allowed(settings, uri):
        return None
    state = params.get("state")
    return f"{uri}{'&' if '?' in uri else '?'}{urlencode({'state': state})}" if state else uri
