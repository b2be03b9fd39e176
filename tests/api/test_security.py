"""API keys: hashed, compared in constant time, never logged; probes open by configuration."""

from __future__ import annotations

import pytest

from aircast_api.deps import key_accepted

from .conftest import API_KEY, AppFactory, history_body, key_digest


def test_forecast_routes_need_a_valid_key_when_keys_are_configured(
    make_client: AppFactory,
) -> None:
    client = make_client(api_keys=key_digest())
    missing = client.get("/v1/model")
    wrong = client.get("/v1/model", headers={"X-API-Key": "nope"})
    right = client.get("/v1/model", headers={"X-API-Key": API_KEY})
    for response in (missing, wrong):
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("/unauthorized")
        assert "X-API-Key" in response.headers["www-authenticate"]
    assert right.status_code == 200
    posted = client.post("/v1/forecast", json=history_body())
    assert posted.status_code == 401


def test_probes_are_open_by_default_and_closable(make_client: AppFactory) -> None:
    open_client = make_client(api_keys=key_digest())
    assert open_client.get("/healthz").status_code == 200
    assert open_client.get("/metrics").status_code == 200
    closed = make_client(api_keys=key_digest(), api_open_health=False)
    assert closed.get("/healthz").status_code == 401
    assert closed.get("/metrics").status_code == 401
    assert closed.get("/healthz", headers={"X-API-Key": API_KEY}).status_code == 200


def test_key_comparison_accepts_any_configured_key() -> None:
    digests = (key_digest("one").encode(), key_digest("two").encode())
    assert key_accepted("two", digests)
    assert not key_accepted("three", digests)
    assert not key_accepted(None, digests)
    assert not key_accepted(key_digest("one"), digests)  # the digest itself is not a key


def test_keys_never_reach_the_logs(
    make_client: AppFactory, capfd: pytest.CaptureFixture[str]
) -> None:
    client = make_client(api_keys=key_digest())
    client.get("/v1/model", headers={"X-API-Key": API_KEY})
    client.get("/v1/model", headers={"X-API-Key": "wrong-key-value"})
    logged = capfd.readouterr().err
    assert '"route":"/v1/model"' in logged  # the access log was written...
    assert API_KEY not in logged  # ...without the keys
    assert "wrong-key-value" not in logged
    assert key_digest() not in logged
