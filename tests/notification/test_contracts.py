"""Every field of the notification's events, API schemas and settings is described."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from psp_common.events.feed import FeedEntry, SafetyCallFeedPublished
from psp_notification.adapters import schemas
from psp_notification.settings import CallWindow, ChannelConfig, NotificationSettings

MODELS: list[type[BaseModel]] = [
    FeedEntry,
    SafetyCallFeedPublished,
    CallWindow,
    ChannelConfig,
    NotificationSettings,
    schemas.ChannelIn,
    schemas.ContactIn,
    schemas.ContactOut,
    schemas.ActionResult,
    schemas.Delivery,
    schemas.Deliveries,
    schemas.StatusChange,
    schemas.CaseStatus,
]
OWN_SETTINGS = set(NotificationSettings.model_fields) - {"service_name", "http_port"}


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_field_has_a_description(model: type[BaseModel]) -> None:
    missing = [
        name
        for name, f in model.model_fields.items()
        if not f.description and (model is not NotificationSettings or name in OWN_SETTINGS)
    ]
    assert missing == []
