"""Run the dev identity provider: ``python -m psp_console.devidp`` (refused unless PSP_ENV=dev)."""

from psp_common import logs, startup
from psp_common.runtime import serve
from psp_console.devidp.app import build
from psp_console.devidp.settings import DevIdpSettings, production_problems


def main() -> None:
    """Refuse outside dev (exit 2, one line), else serve."""
    settings = startup.load(DevIdpSettings, production_problems)
    logs.configure(settings.log_level, settings.service_name)
    serve(build(settings), settings)


main()
