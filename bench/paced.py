"""Open-loop load at a fixed rate: latency counted from each request's scheduled start.

Run as its own process by ``bench/api.py`` (gevent patches the standard library, which must
not happen inside the asyncio benchmark). A greenlet is scheduled per request at
``start + i / rate`` and waits for one of ``--connections`` pooled keep-alive connections of
``geventhttpclient`` (a C HTTP parser: a fraction of the CPU per request that httpx needs,
so the load generator takes little of the machine it shares with the server). When the
server falls behind, requests wait for a connection and their latency says so (no
coordinated omission). The first ``--warmup`` seconds run at the same rate but are not
measured: they open the client's connections and fill the server's pools and caches.
Prints one JSON object.

    python bench/paced.py URL --rate 200 --seconds 20 --path /a --path /b [--header K:V]
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402 - after the monkey patch, as gevent requires
import json  # noqa: E402
import time  # noqa: E402
from urllib.parse import urlparse  # noqa: E402

import gevent  # noqa: E402
import numpy as np  # noqa: E402
from geventhttpclient import HTTPClient  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--rate", type=int, required=True)
    parser.add_argument("--seconds", type=int, required=True)
    parser.add_argument("--path", action="append", required=True)
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--warmup",
        type=float,
        default=2.0,
        help="seconds at the same rate before measuring (connections, pools, caches fill)",
    )
    args = parser.parse_args()
    target = urlparse(args.url)
    headers = dict(item.split(":", 1) for item in args.header)
    client = HTTPClient(
        target.hostname or "127.0.0.1",
        target.port,
        concurrency=args.connections,
        network_timeout=30,
        headers=headers,
    )
    latencies: list[float] = []
    failures = 0

    def one(path: str, scheduled: float, measured: bool) -> None:
        nonlocal failures
        try:
            response = client.get(path)
            response.read()
            failed = response.status_code != 200
        except Exception:  # noqa: BLE001 - any transport error counts as a failure
            failed = True
        if measured:
            failures += failed
            latencies.append((time.perf_counter() - scheduled) * 1000)

    warmup = int(args.rate * args.warmup)
    planned = args.rate * args.seconds
    start = time.perf_counter() + 0.2
    greenlets = []
    sent = 0
    for index in range(warmup + planned):
        scheduled = start + index / args.rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            gevent.sleep(delay)
        elif -delay > 10:
            break  # more than 10 s behind schedule: the server cannot keep up
        measured = index >= warmup
        path = args.path[index % len(args.path)]
        greenlets.append(gevent.spawn(one, path, scheduled, measured))
        sent += measured
    gevent.joinall(greenlets)
    elapsed = time.perf_counter() - (start + warmup / args.rate)
    client.close()
    ordered = np.sort(np.asarray(latencies))
    print(
        json.dumps(
            {
                "rate": args.rate,
                "warmup_seconds": args.warmup,
                "sent": sent,
                "planned": planned,
                "achieved_rps": round(len(latencies) / elapsed, 1),
                "p50_ms": round(float(np.percentile(ordered, 50)), 2),
                "p99_ms": round(float(np.percentile(ordered, 99)), 2),
                "failures": failures,
            }
        )
    )


if __name__ == "__main__":
    main()
