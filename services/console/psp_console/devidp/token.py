"""Print a token from the running dev identity provider: ``python -m psp_console.devidp.token --scope analyst``.

For calling the services' APIs by hand during ``make run`` (client credentials; the provider runs in dev only).
"""

from __future__ import annotations

import argparse
import os

from psp_common.devrun import fetch_dev_token


def main() -> None:
    """Ask the dev provider (``PSP_DEVIDP_URL``, default http://127.0.0.1:8005) for a token and print it."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--scope", action="append", default=[], help="intake, coordinator, supporter, analyst, scim")
    parser.add_argument("--sub", default="dev-tools", help="the token's subject")
    parser.add_argument("--staff-id", help="staff id a supporter token acts for (GET /v1/me/assignments)")
    parser.add_argument("--idp", default=os.environ.get("PSP_DEVIDP_URL", "http://127.0.0.1:8005"))
    args = parser.parse_args()
    print(fetch_dev_token(args.idp, args.scope or ["coordinator"], args.sub, args.staff_id))


if __name__ == "__main__":
    main()
