"""Model lifecycle: load the champion at start-up, poll its alias, swap versions atomically.

Each served parameter has a :class:`ModelSlot`. A slot's ``served`` attribute holds one
immutable :class:`Served` (the loaded model plus when it was loaded); a new version is loaded
completely in a worker thread and only then assigned to that one attribute, so a request reads
either the old model or the new one, never a half-built state. When MLflow or S3 is
unreachable the slot keeps the last good model and records the failure, which ``/readyz`` and
``/v1/model`` report.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aircast.registry import LoadedModel
from aircast_api import metrics

_log = logging.getLogger("aircast_api.lifecycle")

LoadModel = Callable[[str, str], LoadedModel]
ChampionVersion = Callable[[str], "int | None"]


@dataclass(frozen=True)
class Served:
    """A fully loaded model version; never mutated after construction."""

    model: LoadedModel
    loaded_at: datetime

    @property
    def version(self) -> int:
        """The registered version number."""
        return int(self.model.version)


@dataclass
class ModelSlot:
    """The model served for one parameter, and the health of its registry connection."""

    parameter: str
    name: str
    alias: str
    served: Served | None = None
    registry_reachable: bool = False
    last_error: str | None = None
    last_check: float | None = field(default=None)


_USERINFO = re.compile(r"://[^/@\s]+@")


def _describe(error: BaseException) -> str:
    # Exception text can carry URLs; drop any user:password part before it reaches the
    # health payloads and logs, and keep it short.
    text = _USERINFO.sub("://***@", f"{type(error).__name__}: {error}")
    return text if len(text) <= 300 else text[:297] + "..."


class ModelLifecycle:
    """Loads and hot-swaps the models of every served parameter."""

    def __init__(
        self,
        parameters: tuple[str, ...],
        alias: str,
        *,
        load_model: LoadModel,
        champion_version: ChampionVersion,
        model_name: Callable[[str], str],
        poll_seconds: float,
    ) -> None:
        self.slots = {
            parameter: ModelSlot(parameter=parameter, name=model_name(parameter), alias=alias)
            for parameter in parameters
        }
        self._load_model = load_model
        self._champion_version = champion_version
        self._poll_seconds = poll_seconds
        self._task: asyncio.Task[None] | None = None

    def refresh(self, slot: ModelSlot) -> bool:
        """Check the alias of ``slot`` and load its version if it moved (blocking).

        Returns True when a new version was swapped in. Never raises: a failure is recorded
        on the slot and counted, and the last good model stays in place.
        """
        slot.last_check = time.monotonic()
        try:
            version = self._champion_version(slot.name)
            current = slot.served.version if slot.served else None
            if version is None:
                slot.registry_reachable = True
                slot.last_error = f"{slot.name} has no @{slot.alias} version"
                return False
            if version == current:
                slot.registry_reachable = True
                slot.last_error = None
                return False
            loaded = self._load_model(slot.name, slot.alias)
            candidate = Served(model=loaded, loaded_at=datetime.now(UTC))
        except Exception as error:  # noqa: BLE001 - any registry/S3 failure keeps the old model
            slot.registry_reachable = False
            slot.last_error = _describe(error)
            metrics.MODEL_RELOAD_FAILURES.labels(parameter=slot.parameter).inc()
            _log.warning(
                "model refresh failed; serving the last good model",
                extra={"parameter": slot.parameter, "error": slot.last_error},
            )
            return False
        slot.served = candidate  # the one atomic swap
        slot.registry_reachable = True
        slot.last_error = None
        metrics.MODEL_VERSION.labels(parameter=slot.parameter).set(candidate.version)
        _log.info(
            "model loaded",
            extra={"parameter": slot.parameter, "model": slot.name, "version": candidate.version},
        )
        return True

    async def refresh_all(self) -> None:
        """Refresh every slot in worker threads (the event loop keeps serving)."""
        await asyncio.gather(
            *(asyncio.to_thread(self.refresh, slot) for slot in self.slots.values())
        )

    async def _poll(self) -> None:
        while True:
            await self.refresh_all()
            # Until every slot has a model, retry sooner than the regular poll.
            missing = any(slot.served is None for slot in self.slots.values())
            await asyncio.sleep(min(self._poll_seconds, 2.0) if missing else self._poll_seconds)

    def start(self) -> None:
        """Start the background task: first load now, then an alias check every poll period.

        Start-up does not wait for MLflow: the API answers at once, ``/readyz`` says 503 until a
        model is loaded.
        """
        self._task = asyncio.get_running_loop().create_task(self._poll(), name="model-poller")

    async def stop(self) -> None:
        """Stop the poller."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
