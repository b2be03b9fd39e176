"""The champion from the MLflow server: the core's one loader, :mod:`aircast.model_store`
(REST with ``httpx``; the API never imports the MLflow SDK at start-up)."""

from __future__ import annotations

from aircast.model_store import LoadedModel, ModelNotFoundError, ModelStore, RegistryError

__all__ = ["LoadedModel", "ModelNotFoundError", "ModelStore", "RegistryError"]
