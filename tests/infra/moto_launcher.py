"""Start moto's server with the harness's workarounds for listed emulator gaps applied.

Run by tests/infra/emulator.py with the Python of the `tf` Hatch environment (which has moto):

    python moto_launcher.py --patch rds_unique_resource_id -H 127.0.0.1 -p 5000

Each patch is named by an entry of emulator_gaps.toml (`emulator_patch`). Patches change the
emulator only, in this process; the probes of emulator_gaps.toml run against an unpatched server.
"""

from __future__ import annotations

import argparse
import secrets
import string
import sys
from collections.abc import Callable


def rds_unique_resource_id() -> None:
    """Give every RDS instance its own DbiResourceId (moto gives all the same literal)."""
    from moto.rds import models

    original = models.DBInstance.__init__
    alphabet = string.ascii_uppercase + string.digits

    def init(self: models.DBInstance, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)
        self.dbi_resource_id = "db-" + "".join(secrets.choice(alphabet) for _ in range(26))

    models.DBInstance.__init__ = init  # type: ignore[method-assign]


PATCHES: dict[str, Callable[[], None]] = {"rds_unique_resource_id": rds_unique_resource_id}


def main() -> None:
    """Apply the requested patches, then hand the remaining arguments to moto's server."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--patch", action="append", default=[], choices=sorted(PATCHES))
    known, rest = parser.parse_known_args()
    for name in known.patch:
        PATCHES[name]()
    from moto.server import main as serve

    serve(rest)


if __name__ == "__main__":
    main()
    sys.exit(0)
