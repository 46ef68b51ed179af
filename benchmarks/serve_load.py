"""A bounded load on ``latentrec serve``: latency per endpoint, throughput, errors.

    python benchmarks/serve_load.py                         # 5,000 requests, 32 connections
    python benchmarks/serve_load.py --requests 20000 --concurrency 64
    python benchmarks/serve_load.py --server-arg=--access-log   # extra `serve` options
    python benchmarks/serve_load.py --scale 1m              # a 1,000,000-item catalogue

The model is ``SGDMatrixFactorization(n_epochs=10, random_state=0)`` (K = 100) on the
bundled ML-100K, trained once and kept in ``bench-data/serve-ml100k.npz`` (or ``--model``).
``--scale 1m`` serves instead the model of benchmarks/topn_large.py: the same settings on
``synthetic(n_users=100_000, n_items=1_000_000, n_ratings=20_000_000, ...)``, K = 100,
kept in ``bench-data/serve-1m.npz``. The server's start-up (imports, loading the model,
the warm-up that builds the bound index of its recommendations and the int8 copy of its
similarity search) is timed to when it prints its address, apart from the load. The real
server process is started as a person
would (``latentrec serve MODEL --items ml-100k --port 0 --no-access-log``; no titles at
1m) on a free loopback port, and nothing but loopback is ever addressed. A lean asyncio
HTTP/1.1 client (keep-alive connections, requests encoded
before the clock starts, responses read by Content-Length) keeps ``--concurrency``
connections busy with a seeded mix of requests:

  * 70% ``GET /users/{id}/recommendations?n=10``  (a random user)
  * 15% ``GET /items/{id}/similar?n=10``          (a random item)
  * 10% ``POST /predict``                         (10 random pairs)
  *  5% ``POST /recommendations``                 (a new user folded in from 5 ratings)

First 500 requests warm up (not counted), then ``--requests`` are timed. Latency is from
sending a request to having its whole response, as the client sees it, so it includes
waiting for the client's own event loop. An error is any status but 200, or any
exception, or a body that is not a JSON object. The client runs on uvloop when it is
installed. Client and server share the machine's cores, and the CPU time each used is
reported: a general-purpose client (httpx) used more CPU per request than the server and
so measured mostly itself, hence this one.

The run ends with PASS or FAIL against the target, recommendations answered within 50 ms
at the 99th percentile, and exits with 1 on a FAIL: a missed target or any error.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from importlib import metadata
from pathlib import Path

import numpy as np
import topn_large
from _machine import busy_cpu_seconds, describe

import latentrec
from latentrec import SGDMatrixFactorization, datasets

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = ROOT / "bench-data" / "serve-ml100k.npz"
MIX = (("recommendations", 0.70), ("similar items", 0.15), ("predict", 0.10),
       ("fold-in", 0.05))
WARM_UP = 500
TARGET_P99_MS = 50.0  # the service's target: recommendations answered within 50 ms at p99


def ensure_model(path: Path) -> Path:
    if not path.exists():
        print(f"training the ML-100K model into {path} ...", flush=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        ml = datasets.load("ml-100k")
        SGDMatrixFactorization(n_epochs=10, random_state=0).fit(ml.ratings).save(path)
    return path


def make_requests(model, n: int, rng: np.random.Generator) -> list[tuple]:
    """``n`` requests (kind, method, path, JSON body as bytes) drawn from the mix; the
    bodies are encoded here, before the clock starts."""
    users, items = model.user_map_.ids, model.item_map_.ids
    kinds = rng.choice(len(MIX), size=n, p=[p for _, p in MIX])
    out = []
    for k in kinds:
        kind = MIX[k][0]
        if kind == "recommendations":
            out.append((kind, "GET", f"/users/{rng.choice(users)}/recommendations?n=10", None))
        elif kind == "similar items":
            out.append((kind, "GET", f"/items/{rng.choice(items)}/similar?n=10", None))
        elif kind == "predict":
            pairs = [{"user": int(u), "item": int(i)}
                     for u, i in zip(rng.choice(users, 10), rng.choice(items, 10))]
            out.append((kind, "POST", "/predict", json.dumps({"pairs": pairs}).encode()))
        else:
            rated = rng.choice(items, 5, replace=False)
            ratings = [{"item": int(i), "rating": int(rng.integers(1, 6))} for i in rated]
            body = {"ratings": ratings, "n": 10}
            out.append((kind, "POST", "/recommendations", json.dumps(body).encode()))
    return out


class Server:
    """``latentrec serve`` in a child process; ``url`` once it announces it."""

    def __init__(self, model: Path, extra: list[str], titles: bool = True):
        command = [sys.executable, "-c", "from latentrec.cli import main; main()", "serve",
                   str(model), *(["--items", "ml-100k"] if titles else []), "--port", "0",
                   "--no-access-log", *extra]
        start = time.perf_counter()
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._drain, daemon=True).start()
        self.url = self._wait_for_url(timeout=600)
        # it prints its address once the model is loaded and warmed up (serve/state.py)
        self.startup = time.perf_counter() - start

    def _drain(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _wait_for_url(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.lines.get(timeout=deadline - time.monotonic())
            if line is None:
                raise SystemExit(f"the server exited with {self.proc.wait()}")
            found = re.search(r"on (http://127\.0\.0\.1:\d+/)", line)
            if found:
                return found.group(1)
        self.stop()
        raise SystemExit("the server did not announce its address")

    def cpu_seconds(self) -> float | None:
        """User + system CPU time of the server process so far (Linux), else None."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def encoded(request: tuple, host: str) -> tuple[str, str, bytes]:
    """(kind, path, the whole HTTP/1.1 request as bytes) for one (kind, method, path, body)."""
    kind, method, path, body = request
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return kind, path, head.encode() + b"\r\n" + (body or b"")


class Connection:
    """One keep-alive HTTP/1.1 connection that sends a request and reads its response."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    async def send(self, request: bytes) -> str | None:
        """None for a 200 answered with a JSON object, else what went wrong."""
        self.writer.write(request)
        status = (await self.reader.readline()).split(b" ", 2)
        length = None
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length is None:
            return "no Content-Length"
        body = await self.reader.readexactly(length)
        if len(status) < 2 or status[1] != b"200":
            return status[1].decode() if len(status) > 1 else "no status line"
        return None if body.startswith(b"{") else "not a JSON object"


async def send_all(connections: list, requests: list[tuple]) -> tuple[dict, dict, float]:
    """Run the encoded ``requests`` over the connections: (latencies by kind, errors by
    kind, wall seconds)."""
    latencies, errors = defaultdict(list), defaultdict(list)
    todo = iter(requests)  # shared by the workers: every request is sent once

    async def worker(connection):
        for kind, path, request in todo:
            start = time.perf_counter()
            try:
                problem = await connection.send(request)
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                problem = type(exc).__name__
            if problem is not None:
                errors[kind].append(f"{problem} {path}")
            latencies[kind].append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in connections))
    return latencies, errors, time.perf_counter() - start


async def measure(server, warm: list, timed: list, concurrency: int):
    """Warm up, then time: (latencies, errors, wall s, {"server", "client", "machine"}: CPU
    seconds used during the timed requests)."""
    # The same connections serve the warm-up and the timed requests.
    host, port = server.url.split("//")[1].rstrip("/").split(":")
    connections = [Connection(*await asyncio.open_connection(host, int(port)))
                   for _ in range(concurrency)]
    try:
        await send_all(connections, [encoded(r, f"{host}:{port}") for r in warm])
        timed = [encoded(r, f"{host}:{port}") for r in timed]
        before = {"server": server.cpu_seconds(), "client": time.process_time(),
                  "machine": busy_cpu_seconds()}
        latencies, errors, wall = await send_all(connections, timed)
        after = {"server": server.cpu_seconds(), "client": time.process_time(),
                 "machine": busy_cpu_seconds()}
    finally:
        for c in connections:
            c.writer.close()
    cpu = {k: after[k] - before[k] for k in before if before[k] is not None}
    return latencies, errors, wall, cpu


def run(coroutine):
    """On uvloop when it is installed (a cheaper client), else asyncio."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def table(latencies: dict, errors: dict, wall: float) -> str:
    rows = ["| endpoint | requests | errors | p50 ms | p99 ms | max ms |",
            "| --- | ---: | ---: | ---: | ---: | ---: |"]
    everything = []
    for kind, _ in MIX:
        ms = np.array(latencies[kind]) * 1000
        everything.append(ms)
        rows.append(f"| {kind} | {ms.size:,} | {len(errors[kind])} | "
                    f"{np.percentile(ms, 50):.1f} | {np.percentile(ms, 99):.1f} | "
                    f"{ms.max():.1f} |")
    ms = np.concatenate(everything)
    n_errors = sum(len(e) for e in errors.values())
    rows.append(f"| **all** | {ms.size:,} | {n_errors} | {np.percentile(ms, 50):.1f} | "
                f"{np.percentile(ms, 99):.1f} | {ms.max():.1f} |")
    return "\n".join(rows) + f"\n\nThroughput: {ms.size / wall:,.0f} requests/s ({wall:.2f} s)"


def machine() -> str:
    versions = ", ".join(f"{name} {_version(name)}" for name in
                         ("fastapi", "uvicorn", "httptools", "uvloop", "numpy"))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"{describe()}; latentrec {latentrec.__version__}, {versions}; load average "
            f"{load}")


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "(not installed)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=5000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--model", type=Path, default=None,
                    help="the model file (default: by --scale, trained if missing)")
    ap.add_argument("--scale", choices=("ml-100k", "1m"), default="ml-100k")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--server-arg", action="append", default=[],
                    help="an extra option for `latentrec serve` (repeatable)")
    args = ap.parse_args()

    if args.scale == "1m":
        model_path = args.model or topn_large.MODEL
        model = topn_large.trained_model(model_path)
    else:
        model_path = ensure_model(args.model or DEFAULT_MODEL)
        model = latentrec.load(model_path)
    rng = np.random.default_rng(args.seed)
    warm, timed = make_requests(model, WARM_UP, rng), make_requests(model, args.requests, rng)
    del model
    server = Server(model_path, args.server_arg, titles=args.scale == "ml-100k")
    # This process imported latentrec and loaded the model: a full garbage collection here
    # would stall all the requests in flight and be counted as server latency.
    gc.freeze()
    try:
        print(f"server at {server.url}, up {server.startup:.1f} s after its process started "
              f"(imports, loading the model, warm-up); {machine()}", flush=True)
        latencies, errors, wall, cpu = run(measure(server, warm, timed, args.concurrency))
    finally:
        server.stop()
    print(f"\n{args.requests:,} requests, {args.concurrency} connections; "
          f"load average at the end {os.getloadavg()[0]:.1f}\n")
    print(table(latencies, errors, wall))
    for who in ("server", "client"):
        if who in cpu:
            print(f"CPU of the {who}: {cpu[who]:.2f} s, {cpu[who] / args.requests * 1000:.2f} "
                  f"ms per request ({cpu[who] / wall:.0%} of one core)")
    if {"server", "client", "machine"} <= set(cpu):
        others = max(cpu["machine"] - cpu["server"] - cpu["client"], 0.0)
        print(f"CPU of other processes meanwhile: {others / wall:.0%} of one core")
    for kind, found in errors.items():
        for line in found[:5]:
            print(f"error ({kind}): {line}")
    sys.exit(0 if verdict(latencies, errors) else 1)


def verdict(latencies: dict, errors: dict) -> bool:
    """Print PASS or FAIL against the target; True for a pass (no errors, target met)."""
    p99 = float(np.percentile(np.array(latencies["recommendations"]) * 1000, 99))
    n_errors = sum(len(e) for e in errors.values())
    passed = p99 < TARGET_P99_MS and n_errors == 0
    print(f"\n{'PASS' if passed else 'FAIL'}: recommendations p99 {p99:.1f} ms (target "
          f"< {TARGET_P99_MS:g} ms), {n_errors} error(s)")
    return passed


if __name__ == "__main__":
    main()
