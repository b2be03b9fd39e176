"""The one model loader: resolve ``name@alias`` (or a version), download, load, over REST.

Training (scoring the current champion) and the API both load registered models through
:class:`ModelStore`. It speaks the MLflow tracking server's REST API with ``httpx`` and never
imports the MLflow SDK: importing it takes seconds, most of the API's start-up when it did.
Four calls: resolve an alias (or read a version), find the version's artifact URI, download
the model file, read the run's metrics. Artifacts come through the server's artifact proxy
(``mlflow-artifacts:`` URIs, how aircast's MLflow server runs everywhere:
``--serve-artifacts``); any other artifact URI (say a server writing straight to S3) is
downloaded with MLflow's artifact client, imported only then.

A version holds either a CatBoost model (``*.cb``, the trained forecaster) or a baseline's
JSON file (:data:`BASELINE_FILE`); both load into :class:`aircast.forecaster.Forecaster`.

Credentials, as the MLflow client reads them: ``MLFLOW_TRACKING_TOKEN`` (bearer) or
``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD`` (basic), from the environment only.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx

from aircast.forecaster import Forecaster

CHAMPION = "champion"
CHALLENGER = "challenger"
# The artifact file of a baseline version (a trained version holds the CatBoost ``*.cb``).
BASELINE_FILE = "aircast-baseline.json"
_API = "/api/2.0/mlflow"
_ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
_MISSING = {"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"}


class RegistryError(RuntimeError):
    """A registry operation cannot be done; the message names the problem and the fix."""


class ModelNotFoundError(RegistryError, LookupError):
    """No such registered model, version or alias."""


@dataclass(frozen=True)
class LoadedModel:
    """A registered forecaster ready to predict, with what the API reports about it."""

    forecaster: Forecaster
    name: str
    version: int
    alias: str | None
    run_id: str
    trained_at: datetime
    metrics: dict[str, float]
    feature_names: list[str]
    unit: str

    @property
    def kind(self) -> str:
        """``catboost`` (a trained model) or ``baseline`` (no trees; served before one)."""
        return self.forecaster.kind


def is_model_file(path: str) -> bool:
    """True for a file a registered version's forecaster is loaded from."""
    return path.endswith(".cb") or path.rsplit("/", 1)[-1] == BASELINE_FILE


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

    def __enter__(self) -> ModelStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

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

    def _model_version(self, name: str, alias: str | None, version: int | None) -> dict[str, Any]:
        """The registry's model version record; :class:`ModelNotFoundError` names what is
        missing and the fix."""
        try:
            if version is not None:
                body = self._get(f"{_API}/model-versions/get", name=name, version=str(version))
            elif alias is not None:
                body = self._get(f"{_API}/registered-models/alias", name=name, alias=alias)
            else:
                raise ValueError("give an alias or a version")
        except ModelNotFoundError as error:
            what = f"version {version}" if version is not None else f"alias {alias!r}"
            raise ModelNotFoundError(
                f"registered model {name!r} has no {what}; train one with `aircast train` "
                "(or register a baseline with `aircast baseline`)"
            ) from error
        record: dict[str, Any] = body["model_version"]
        return record

    # ------------------------------------------------------------------ the loader's calls

    def champion_version(self, name: str, alias: str = CHAMPION) -> int | None:
        """The version behind ``name@alias``; None when there is none (one request)."""
        try:
            return int(self._model_version(name, alias, None)["version"])
        except ModelNotFoundError:
            return None

    def load_model(
        self, name: str, alias: str | None = CHAMPION, *, version: int | None = None
    ) -> LoadedModel:
        """Resolve ``name@alias`` (or an explicit ``version``), download its model file and
        load it. :class:`ModelNotFoundError` when the model, alias or version does not exist."""
        record = self._model_version(name, alias, version)
        number = str(record["version"])
        uri = self._get(f"{_API}/model-versions/get-download-uri", name=name, version=number)[
            "artifact_uri"
        ]
        with tempfile.TemporaryDirectory(prefix="aircast-model-") as tmp:
            forecaster = Forecaster.load(self._download(uri, name, number, Path(tmp)))
        run_id = str(record.get("run_id") or "")
        metrics: dict[str, float] = {}
        if run_id:
            run = self._get(f"{_API}/runs/get", run_id=run_id)["run"]
            metrics = {m["key"]: float(m["value"]) for m in run["data"].get("metrics", [])}
        return LoadedModel(
            forecaster=forecaster,
            name=name,
            version=int(number),
            alias=None if version is not None else alias,
            run_id=run_id,
            trained_at=datetime.fromtimestamp(int(record["creation_timestamp"]) / 1000, tz=UTC),
            metrics=metrics,
            feature_names=forecaster.model_feature_names,
            unit=forecaster.spec.unit,
        )

    def _download(self, uri: str, name: str, version: str, folder: Path) -> Path:
        """The version's model file, downloaded into ``folder``."""
        parsed = urlparse(uri)
        if parsed.scheme != "mlflow-artifacts":
            import mlflow.artifacts

            local = Path(
                mlflow.artifacts.download_artifacts(
                    artifact_uri=uri, dst_path=str(folder), tracking_uri=self.tracking_uri
                )
            )
            files = sorted(p for p in local.rglob("*") if is_model_file(str(p)))
            if not files:
                raise RegistryError(f"{name} version {version} has no model file")
            return files[0]
        path = self._model_file(parsed.path.lstrip("/"), name, version)
        target = folder / path.rsplit("/", 1)[-1]
        with (
            target.open("wb") as handle,
            self._http.stream("GET", f"{_ARTIFACTS}/{path}") as response,
        ):
            response.raise_for_status()
            for chunk in response.iter_bytes():
                handle.write(chunk)
        return target

    def _model_file(self, root: str, name: str, version: str) -> str:
        """Path (below the artifact proxy) of the version's model file."""
        pending = [root]
        while pending:  # breadth first: the flavour writes the file at the top
            folder = pending.pop(0)
            listing = self._get(_ARTIFACTS, path=folder).get("files", [])
            for entry in listing:
                path = f"{folder}/{entry['path'].rsplit('/', 1)[-1]}"
                if not entry.get("is_dir") and is_model_file(path):
                    return path
            pending += [
                f"{folder}/{e['path'].rsplit('/', 1)[-1]}" for e in listing if e.get("is_dir")
            ]
        raise RegistryError(f"{name} version {version} has no model file")


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
