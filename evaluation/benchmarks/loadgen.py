"""A small HTTP/1.1 load generator for loopback benchmarks, run as its own process.

Closed loop (``--concurrency N``: N keep-alive connections, each sends its next request when the previous answer
is in) or open loop (``--rate R``: requests are due at a fixed rate whatever the server does; latency counts from
when a request was due, so a stalled server cannot hide its queue, i.e. no coordinated omission).

Every request can differ: the body is a template whose ``@@KEY@@`` markers (in the body and the
``Idempotency-Key`` header) become a fresh key, and whose ``@@TEXT@@`` marker cycles through a list of texts.
The summary (one JSON line on stdout) includes the generator's own CPU time, because on a 2-core machine the
load generator competes with the server it measures.

    python -m returns_triage.evaluation.benchmarks.loadgen --url http://127.0.0.1:8000/v1/returns/score \\
        --body body.json --texts texts.json --header "Authorization: Bearer KEY" --concurrency 8 --duration 5
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import resource
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["RequestFactory", "LoadResult", "run_load", "main"]

KEY = "@@KEY@@"
TEXT = "@@TEXT@@"


class RequestFactory:
    """Raw request bytes, each with a unique key and the next text; built from pre-split parts (no parsing)."""

    def __init__(self, method: str, url: str, *, body: str = "", headers: list[str] | None = None,
                 texts: list[str] | None = None, key_prefix: str = "load") -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        head = [f"{method} {parts.path or '/'}{'?' + parts.query if parts.query else ''} HTTP/1.1",
                f"Host: {self.host}:{self.port}", *(headers or [])]
        if body:
            head.append("Content-Type: application/json")
        self._head = "\r\n".join(head)
        self._body = body
        # JSON-escaped once: the texts are inserted into a JSON string literal.
        self._texts = [json.dumps(t)[1:-1] for t in (texts or [""])]
        self._prefix = f"{key_prefix}-{os.getpid()}-{time.time_ns()}"
        self._n = itertools.count()

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        i = next(self._n)
        key = f"{self._prefix}-{i}"
        body = self._body.replace(KEY, key).replace(TEXT, self._texts[i % len(self._texts)]).encode()
        head = self._head.replace(KEY, key)
        return f"{head}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


@dataclass(frozen=True, slots=True)
class LoadResult:
    requests: int
    errors: int
    status: dict[str, int]
    seconds: float
    latencies_ms: list[float]
    cpu_s: float

    def summary(self) -> dict[str, object]:
        lat = sorted(self.latencies_ms)

        def pct(p: float) -> float | None:
            if not lat:
                return None
            return lat[min(len(lat) - 1, int(round(p / 100 * (len(lat) - 1))))]

        ok = self.requests - self.errors
        return {
            "requests": self.requests, "errors": self.errors, "status": self.status, "seconds": self.seconds,
            "throughput_rps": ok / self.seconds if self.seconds else 0.0,
            "p50_ms": pct(50), "p90_ms": pct(90), "p99_ms": pct(99), "max_ms": lat[-1] if lat else None,
            "generator_cpu_s": self.cpu_s,
            "generator_cpu_us_per_request": 1e6 * self.cpu_s / self.requests if self.requests else None,
        }


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
            break
    if length:
        await reader.readexactly(length)
    return status


async def _load(factory: RequestFactory, *, concurrency: int, duration: float, rate: float | None,
                warmup: float) -> LoadResult:
    latencies: list[float] = []
    status: dict[str, int] = {}
    errors = 0
    started = time.perf_counter()
    measure_from = started + warmup
    stop_at = measure_from + duration
    clock = time.perf_counter
    # Open loop: request i is due at measure_from - warmup + i / rate; connections take the next due request.
    due = itertools.count()

    async def connection() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(factory.host, factory.port)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                if rate:
                    t_due = started + next(due) / rate
                    if t_due >= stop_at:
                        return
                    delay = t_due - clock()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    t0 = t_due
                else:
                    t0 = clock()
                    if t0 >= stop_at:
                        return
                writer.write(next(factory))
                code = await _read_response(reader)
                t1 = clock()
                if t0 >= measure_from and t1 <= stop_at + 5.0:
                    latencies.append((t1 - t0) * 1000.0)
                    status[str(code)] = status.get(str(code), 0) + 1
                    if code >= 400:
                        errors += 1
        finally:
            writer.close()

    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    elapsed = min(clock(), stop_at + 5.0) - measure_from
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return LoadResult(requests=len(latencies), errors=errors, status=status, seconds=max(elapsed, 1e-9),
                      latencies_ms=latencies, cpu_s=cpu)


def run_load(factory: RequestFactory, *, concurrency: int, duration: float, rate: float | None = None,
             warmup: float = 0.5) -> LoadResult:
    """Drive the server for ``warmup + duration`` seconds; only requests sent after the warm-up count."""
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # uvicorn[standard] brings uvloop; plain asyncio works too, at some CPU cost
        runner = asyncio.run
    return runner(_load(factory, concurrency=concurrency, duration=duration, rate=rate, warmup=warmup))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", required=True)
    p.add_argument("--method", default="POST")
    p.add_argument("--body", help="file with the body template (markers @@KEY@@, @@TEXT@@)")
    p.add_argument("--texts", help="JSON file: a list of texts cycled through @@TEXT@@")
    p.add_argument("--header", action="append", default=[], help="'Name: value' (may hold @@KEY@@)")
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--rate", type=float, help="open loop: requests per second")
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--warmup", type=float, default=0.5)
    args = p.parse_args(argv)
    body = open(args.body, encoding="utf-8").read() if args.body else ""
    texts = json.load(open(args.texts, encoding="utf-8")) if args.texts else None
    factory = RequestFactory(args.method, args.url, body=body, headers=args.header, texts=texts)
    result = run_load(factory, concurrency=args.concurrency, duration=args.duration, rate=args.rate,
                      warmup=args.warmup)
    print(json.dumps(result.summary()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
