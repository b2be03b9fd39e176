"""Start moto's server with the harness's workarounds for listed emulator gaps applied.

Run by tests/infra/emulator.py with the Python of the `tf` Hatch environment (which has moto):

    python moto_launcher.py --patch rds_unique_resource_id -H 127.0.0.1 -p 5000

Each patch is named by an entry of emulator_gaps.toml (`emulator_patch`). Patches change the
emulator only, in this process; the probes of emulator_gaps.toml run against an unpatched server.

Whatever the patches, the server is moto's own WSGI app and request handler, served with two
changes to how it talks HTTP (not to what it answers):

- every response leaves in one send, its headers with its body (OneSendWriter). Werkzeug's dev
  server writes the headers and the body in two sends, and on a loaded machine the body followed
  the headers by up to 23 ms. The AWS provider (aws-sdk-go-v2 on Go's HTTP/1 transport)
  sometimes closes its own connection in that window, right after reading the headers: reading
  the body then fails ("StatusCode: 200 ... read tcp ...: use of closed network connection") and
  the SDK retries the call, which the emulator had already carried out. A retried DeleteSecret
  then fails ("marked deleted"): CI's flake of test_destroy_leaves_nothing_behind[prod]. With the
  body in the same segment, the client holds the whole response in its read buffer when it
  parses the headers;
- a journal on stderr (the emulator's log): every request an SDK sent again (header
  `amz-sdk-request: attempt=N`, N > 1) with what the emulator answered its earlier attempts, every
  5xx answer, and every connection the client dropped. The harness quotes these lines when a
  terraform step fails (emulator.Emulator.notes).
"""

from __future__ import annotations

import argparse
import io
import os
import re
import secrets
import signal
import string
import sys
import threading
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

# The journal's line prefix, which emulator.py looks for.
JOURNAL = "aircast-emulator:"
# Form-encoded request bodies up to this size are read for the journal's operation name.
FORM_LIMIT = 1 << 20


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


# --- How the server talks HTTP -------------------------------------------------------------------


def _journal(message: str) -> None:
    stamp = time.strftime("%H:%M:%S", time.gmtime())
    sys.stderr.write(f"{JOURNAL} {stamp} {message}\n")
    sys.stderr.flush()


def operation(environ: dict[str, Any]) -> str:
    """The AWS operation of a request: X-Amz-Target, the query protocol's Action, or the path.

    Reads a form-encoded body (query protocol) and puts it back for the app.
    """
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return str(target)
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
    if "Action" in query:
        return query["Action"][0]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if 0 < length <= FORM_LIMIT and str(environ.get("CONTENT_TYPE", "")).startswith(
        "application/x-www-form-urlencoded"
    ):
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        action = urllib.parse.parse_qs(body.decode(errors="replace")).get("Action")
        if action:
            return action[0]
    return f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}"


class Journal:
    """WSGI middleware: logs retried requests and 5xx answers (see the module docstring)."""

    def __init__(self, app: Callable[..., Iterable[bytes]], remember: int = 10_000) -> None:
        self.app = app
        self.remember = remember
        self.answers: OrderedDict[str, list[str]] = OrderedDict()  # invocation id -> statuses
        self.lock = threading.Lock()

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        name = operation(environ)
        environ["aircast.operation"] = name
        invocation = str(environ.get("HTTP_AMZ_SDK_INVOCATION_ID", ""))
        found = re.search(r"attempt=(\d+)", str(environ.get("HTTP_AMZ_SDK_REQUEST", "")))
        attempt = int(found.group(1)) if found else 1
        if attempt > 1:
            with self.lock:
                earlier = list(self.answers.get(invocation, []))
            _journal(
                f"RETRY {name} attempt {attempt}, invocation {invocation or '?'}: earlier "
                f"attempts answered {', '.join(earlier) or 'nothing (never reached the app)'}"
            )

        def recording_start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            code = status.split(None, 1)[0]
            if invocation:
                with self.lock:
                    self.answers.setdefault(invocation, []).append(code)
                    self.answers.move_to_end(invocation)
                    while len(self.answers) > self.remember:
                        self.answers.popitem(last=False)
            if code.startswith("5"):
                _journal(f"HTTP {code} for {name} (attempt {attempt})")
            return start_response(status, headers, exc_info)

        return self.app(environ, recording_start_response)


class OneSendWriter:
    """The handler's socket writer, holding the header block back until the body's first write.

    Werkzeug writes the status line and headers, then the body (or each chunk), then flushes:
    with the header block held, a response with a body leaves in one send. Anything written
    without a header block before it (`100 Continue`) goes out at once.
    """

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.held = b""

    def hold(self, data: bytes) -> None:
        self.held += data

    def write(self, data: bytes) -> int:
        if self.held:
            data, self.held = self.held + bytes(data), b""
        self.raw.write(data)
        return len(data)

    def flush(self) -> None:
        if self.held:
            self.write(b"")
        self.raw.flush()

    def __getattr__(self, name: str) -> Any:  # closed, close, ... of the socket writer
        return getattr(self.raw, name)


def serve(host: str, port: int) -> None:
    """moto's server (moto.server.main), with the two changes of the module docstring."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import run_simple

    class RequestHandler(MotoRequestHandler):  # type: ignore[misc]
        def setup(self) -> None:
            super().setup()
            self.wfile = OneSendWriter(self.wfile)

        def flush_headers(self) -> None:
            # http.server writes the header block here; it leaves with the body's first write.
            if hasattr(self, "_headers_buffer"):
                self.wfile.hold(b"".join(self._headers_buffer))
                self._headers_buffer = []

        def connection_dropped(
            self, error: BaseException, environ: dict[str, Any] | None = None
        ) -> None:
            name = (environ or {}).get("aircast.operation", "a request")
            _journal(f"DROPPED by the client during {name}: {error!r}")

    os.environ.setdefault("MOTO_PORT", str(port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    app.debug = True  # as moto.server.main
    run_simple(host, port, Journal(app), threaded=True, request_handler=RequestHandler)


def main() -> None:
    """Apply the requested patches, then serve moto."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--patch", action="append", default=[], choices=sorted(PATCHES))
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args()
    for name in args.patch:
        PATCHES[name]()
    serve(args.host, args.port)


if __name__ == "__main__":
    main()
    sys.exit(0)
