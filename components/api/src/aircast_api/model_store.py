"""The champion from the MLflow server over its REST API, without importing MLflow.

Importing the MLflow client takes seconds (most of the API's start-up when it did), and the
API needs four calls of it: resolve an alias, find the version's artifacts, download the
native CatBoost file, read the run's metrics. Those are plain REST endpoints of the tracking
server, answered here with ``httpx``. Artifacts come through the server's artifact proxy
(``mlflow-artifacts:`` URIs, how aircast's MLflow server runs everywhere: ``--serve-artifacts``);
any other artifact URI (say a server writing straight to S3) falls back to
:func:`aircast.registry.load_model`, the MLflow client.

Credentials, as the MLflow client reads them: ``MLFLOW_TRACKING_TOKEN`` (bearer) or
``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD`` (basic), from the environment only.
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx

from aircast.forecaster import Forecaster
from aircast.registry import LoadedModel, ModelNotFoundError, RegistryError

_API = "/api/2.0/mlflow"
_ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
_MISSING = {"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"}


class ModelStore:
    """Resolves ``name@alias`` and loads the version's forecaster from an MLflow server."""

    def __init__(self, tracking_uri: str | None = None, *, timeout: float = 10.0) -> None:
        uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI", "")
        if not uri.startswith(("http://", "https://")):
            raise RegistryError(
                f"MLFLOW_TRACKING_URI must be the http(s) URL of the MLflow server, got {uri!r}"
            )
        auth: httpx.Auth | None = None
        headers: dict[str, str] = {}
        token = os.environ.get("MLFLOW_TRACKING_TOKEN")
        user = os.environ.get("MLFLOW_TRACKING_USERNAME")
        if token:
            headers["Authorization"] = f"Bearer {token}"
        elif user:
            auth = httpx.BasicAuth(user, os.environ.get("MLFLOW_TRACKING_PASSWORD", ""))
        self.tracking_uri = uri.rstrip("/")
        self._http = httpx.Client(
            base_url=self.tracking_uri, timeout=timeout, auth=auth, headers=headers
        )

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    # ------------------------------------------------------------------ REST

    def _get(self, route: str, **params: str) -> dict[str, Any]:
        response = self._http.get(route, params=params)
        if _missing(response):
            raise ModelNotFoundError(_message(response))
        if response.status_code >= 400:
            status = response.status_code
            raise RegistryError(f"MLflow {route} answered {status}: {_message(response)}")
        body: dict[str, Any] = response.json()
        return body

    def _version_by_alias(self, name: str, alias: str) -> dict[str, Any]:
        body = self._get(f"{_API}/registered-models/alias", name=name, alias=alias)
        version: dict[str, Any] = body["model_version"]
        return version

    # ------------------------------------------------------------------ the lifecycle's calls

    def champion_version(self, name: str, alias: str = "champion") -> int | None:
        """The version behind ``name@alias``; None when there is none (one request)."""
        try:
            return int(self._version_by_alias(name, alias)["version"])
        except ModelNotFoundError:
            return None

    def load_model(self, name: str, alias: str = "champion") -> LoadedModel:
        """Resolve ``name@alias``, download its native CatBoost model and load it."""
        try:
            version = self._version_by_alias(name, alias)
        except ModelNotFoundError as error:
            raise ModelNotFoundError(
                f"registered model {name!r} has no alias {alias!r}; train one with `aircast train`"
            ) from error
        number = str(version["version"])
        uri = self._get(f"{_API}/model-versions/get-download-uri", name=name, version=number)[
            "artifact_uri"
        ]
        parsed = urlparse(uri)
        if parsed.scheme != "mlflow-artifacts":
            from aircast import registry

            # fail fast so the poller retries on its own schedule, not the client's backoff
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")

            return registry.load_model(name, alias, tracking_uri=self.tracking_uri)
        root = parsed.path.lstrip("/")
        with tempfile.TemporaryDirectory(prefix="aircast-model-") as tmp:
            target = Path(tmp) / "model.cb"
            with (
                target.open("wb") as handle,
                self._http.stream(
                    "GET", f"{_ARTIFACTS}/{self._model_file(root, name, number)}"
                ) as response,
            ):
                response.raise_for_status()
                for chunk in response.iter_bytes():
                    handle.write(chunk)
            forecaster = Forecaster.load(target)
        run_id = str(version.get("run_id") or "")
        metrics: dict[str, float] = {}
        if run_id:
            run = self._get(f"{_API}/runs/get", run_id=run_id)["run"]
            metrics = {m["key"]: float(m["value"]) for m in run["data"].get("metrics", [])}
        return LoadedModel(
            forecaster=forecaster,
            name=name,
            version=int(number),
            alias=alias,
            run_id=run_id,
            trained_at=datetime.fromtimestamp(int(version["creation_timestamp"]) / 1000, tz=UTC),
            metrics=metrics,
            feature_names=forecaster.model_feature_names,
            unit=forecaster.spec.unit,
        )

    def _model_file(self, root: str, name: str, version: str) -> str:
        """Path (below the artifact proxy) of the version's ``*.cb`` file."""
        pending = [root]
        while pending:  # breadth first: the flavour writes the file at the top
            folder = pending.pop(0)
            listing = self._get(_ARTIFACTS, path=folder).get("files", [])
            for entry in listing:
                path = f"{folder}/{entry['path'].rsplit('/', 1)[-1]}"
                if not entry.get("is_dir") and path.endswith(".cb"):
                    return path
            pending += [
                f"{folder}/{e['path'].rsplit('/', 1)[-1]}" for e in listing if e.get("is_dir")
            ]
        raise RegistryError(f"{name} version {version} has no CatBoost model file")


def _missing(response: httpx.Response) -> bool:
    """True when the server says the model, version or alias does not exist."""
    if response.status_code == 404:
        return True
    if response.status_code < 400:
        return False
    code = _error_code(response)
    # a missing alias is INVALID_PARAMETER_VALUE "... alias x not found." (MLflow 3)
    return code in _MISSING or (
        code == "INVALID_PARAMETER_VALUE" and "not found" in _message(response).lower()
    )


def _error_code(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error_code", ""))
    except ValueError:
        return ""


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    return str(body.get("message") or body)[:300]
