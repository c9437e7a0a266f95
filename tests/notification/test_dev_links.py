"""make run's supporter page link: in PSP_ENV=dev the console channel appends each page's full links to a file
(never to a log line); production refuses the setting and its console channel never writes a link anywhere."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from psp_common.devrun import first_supporter_link
from psp_notification.adapters.channels import ConsoleChannel, PageMessage
from psp_notification.bootstrap import default_channels
from psp_notification.settings import NotificationSettings

ACK = "http://127.0.0.1:8004/v1/pages/" + "A" * 43 + "/ack"
DECLINE = "http://127.0.0.1:8004/v1/pages/" + "B" * 43 + "/decline"
MESSAGE = PageMessage(
    idempotency_key="k-1",
    recipient_ref="ps_one",
    purpose="page",
    urgency="within_hours",
    text=f"Peer support needed. Take it: {ACK} Can't: {DECLINE}",
    links={"ack": ACK, "decline": DECLINE},
)


def console_of(settings: NotificationSettings) -> ConsoleChannel:
    [console] = [c for c in default_channels(settings, []) if isinstance(c, ConsoleChannel)]
    return console


async def test_in_dev_the_console_channel_appends_the_full_links_to_the_file_and_logs_none(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    path = tmp_path / "supporter-links.txt"
    console = console_of(NotificationSettings(env="dev", dev_links_file=path))
    await console.notify(MESSAGE, "console")
    await console.notify(MESSAGE, "console")  # appended, not overwritten
    assert path.read_text().splitlines() == [f"ps_one ack {ACK}", f"ps_one decline {DECLINE}"] * 2
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # only the owner reads live links
    assert "PAGE page to ps_one" in caplog.text and "A" * 43 not in caplog.text and "B" * 43 not in caplog.text
    assert first_supporter_link(path) == ACK


def test_production_refuses_a_links_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="dev_links_file"):
        NotificationSettings(env="production", dev_links_file=tmp_path / "links.txt")
    monkeypatch.setenv("PSP_ENV", "production")
    monkeypatch.setenv("PSP_DEV_LINKS_FILE", str(tmp_path / "links.txt"))
    with pytest.raises(ValidationError, match="dev_links_file"):
        NotificationSettings()


async def test_production_console_channel_never_writes_a_link(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = NotificationSettings(env="production")
    assert settings.dev_links_file is None
    console = console_of(settings)
    assert console.links_file is None
    await console.notify(MESSAGE, "console")
    assert list(tmp_path.iterdir()) == []
    # Even a settings object built around the validator (model_construct) gives production no links file.
    forced = NotificationSettings.model_construct(**{**settings.model_dump(), "dev_links_file": tmp_path / "x.txt"})
    assert console_of(forced).links_file is None


def test_first_supporter_link_is_the_first_ack_link(tmp_path: Path) -> None:
    path = tmp_path / "supporter-links.txt"
    assert first_supporter_link(path) is None  # no file yet
    path.write_text(f"ps_one decline {DECLINE}\nps_one ack {ACK}\nps_two ack {ACK}x\n")
    assert first_supporter_link(path) == ACK
