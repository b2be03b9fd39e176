"""ApiSettings refuses unsafe configurations outside development."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from aircast_api.settings import ApiSettings

from .conftest import key_digest


def test_production_without_api_keys_is_refused() -> None:
    with pytest.raises(ValidationError, match="AIRCAST_API_KEYS is required"):
        ApiSettings(env="production", api_keys=None)


def test_plain_keys_are_refused_without_echoing_them() -> None:
    with pytest.raises(ValidationError) as raised:
        ApiSettings(api_keys="my-plain-secret-key")
    assert "SHA-256" in str(raised.value)
    assert "my-plain-secret-key" not in str(raised.value)


def test_digests_are_normalised_and_exposed_as_bytes() -> None:
    first, second = key_digest("a"), key_digest("b")
    settings = ApiSettings(env="production", api_keys=f" {first.upper()} ,{second}")
    assert settings.key_digests() == (first.encode(), second.encode())
    assert first not in repr(settings)


def test_environment_variables_configure_the_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRCAST_API_PARAMETERS", "pm25, no2")
    monkeypatch.setenv("AIRCAST_MODEL_POLL_SECONDS", "15")
    settings = ApiSettings()
    assert settings.parameters == ("pm25", "no2")
    assert settings.model_poll_seconds == 15.0
