#!/usr/bin/env python3
"""Soak driver for scripts/soak.sh (stdlib only).

Starts `dualroad sim legacy`, `dualroad sim uxp` (with faults, latency and divergence,
so some shadow copies fail) and `dualroad serve` on loopback, then sends mixed traffic:
a warm-up of SOAK_WARMUP seconds at SOAK_WARMUP_RATE, then SOAK_SECONDS at the fixed
rate SOAK_RATE: five request kinds routed to the five stages (legacy,
shadow, canary 50 %, uxp, uxp-shadow), every request with a fresh message id. Every
minute it rolls agency 10000042 back with `dualroad switch rollback` (second 20) and
releases it (second 50). Every SOAK_SAMPLE seconds it records the gateway's PID,
VmRSS and open file descriptors.

At the end it checks, and exits 1 when any check fails:
  - zero restarts: the gateway's PID is the same and alive in every sample;
  - no growth: peak VmRSS and open fds in the second half of the time after the
    warm-up within 10 % of their peak in the first half (halves: sled's page cache
    is released in a sawtooth of 14 000-19 000 requests, see README "Soak");
  - every request accounted for: sent = answered by the gateway (client side) =
    dualroad_requests_total (gateway side); every request routed to a shadow stage
    has exactly one dualroad_mirror_total outcome (answered, fault, failed, dropped);
  - the exchange store, read after a clean stop with examples/exchange_count.rs:
    served + not-compared + dropped = sent (reported as not run when the gateway
    build writes no exchange records at all).
"""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Procs, msum, parse_metrics  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DUALROAD = os.environ["DUALROAD_BIN"]
SECONDS = int(os.environ.get("SOAK_SECONDS", "600"))
RATE = float(os.environ.get("SOAK_RATE", "40"))
WARMUP = int(os.environ.get("SOAK_WARMUP", "180"))
# sled's page cache grows with the store until its cap (64 MiB by default), which in a
# 10-minute run it never reaches: growth that is a cache filling, not a leak. The soak
# caps it small so that it fills during the warm-up and the growth check sees leaks.
CACHE_BYTES = int(os.environ.get("SOAK_CACHE_BYTES", str(4 * 1024 * 1024)))
SAMPLE = float(os.environ.get("SOAK_SAMPLE", "5"))
WORKERS = int(os.environ.get("SOAK_WORKERS", "8"))
# The warm-up runs faster so that the evidence store's page cache reaches its steady
# state before the growth check's baseline is taken (see scripts/soak.sh).
WARMUP_RATE = float(os.environ.get("SOAK_WARMUP_RATE", "200"))
# A command put before the gateway's (e.g. "heaptrack -o /tmp/soak.heaptrack").
WRAP = os.environ.get("SOAK_WRAP", "").split()
GROWTH = 0.10

UTF8 = "text/xml; charset=utf-8"
# (label = the stage the rules below route it to, fixture, message id in it, content type)
KINDS = [
    ("legacy", "v3.1-eu/request-findPerson-iso-8859-1.xml", "f8590072-e140-40b8-a829-0920a89c0d3f", "text/xml; charset=iso-8859-1"),
    ("shadow", "v3.1-eu/request-getPatientSummary.xml", "b9a5b60b-a69b-46d2-a7ae-5f7ba344a418", UTF8),
    ("canary", "v3.1-eu/request-RR19IsikuElukoht.xml", "da91096e-139f-45aa-810c-aa2214d9c05e", UTF8),
    ("uxp", "v3.1-eu/request-getCompany-empty-issue.xml", "b50ba91a-03df-44ad-b5f6-24f289914be8", UTF8),
    ("uxp-shadow", "v3.1-eu/request-getPaymentStatus.xml", "7e21bb08-61da-4e99-9863-d2b106c563a3", UTF8),
]

RULES = """
[[rollout.rules]]
agency = "10000042"
service = "moh.getPatientSummary.v2"
stage = "shadow"
[[rollout.rules]]
agency = "10000042"
service = "pay.getPaymentStatus"
stage = "uxp-shadow"
[[rollout.rules]]
agency = "10000055"
service = "pop.RR19IsikuElukoht.v1"
stage = "canary"
percent = 50
[[rollout.rules]]
agency = "10000077"
service = "*"
stage = "uxp"
"""


def log(msg):
    print(f"soak: {msg}", file=sys.stderr, flush=True)


def free_ports(n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def gateway_pid(pid):
    """The gateway's own pid: with SOAK_WRAP (e.g. heaptrack) it is a descendant of
    the process we started, found by its executable."""
    if not WRAP:
        return pid
    deadline = time.time() + 10
    while time.time() < deadline:
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                exe = os.readlink(f"/proc/{entry}/exe")
            except OSError:
                continue
            if os.path.basename(exe) == "dualroad" and os.path.realpath(DUALROAD) == exe:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if b"serve" in f.read():
                        return int(entry)
        time.sleep(0.2)
    raise SystemExit("SOAK_WRAP: could not find the gateway's process")


def slope_per_minute(points):
    """Least-squares slope of (seconds, value) points, per minute; None if too few."""
    if len(points) < 3:
        return None
    mt = sum(t for t, _ in points) / len(points)
    mv = sum(v for _, v in points) / len(points)
    den = sum((t - mt) ** 2 for t, _ in points)
    if not den:
        return None
    return 60 * sum((t - mt) * (v - mv) for t, v in points) / den


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def metrics(admin):
    text = urllib.request.urlopen(f"http://{admin}/metrics", timeout=10).read().decode()
    return parse_metrics(text)


def start_sim(procs, tmp, kind, extra):
    out = open(os.path.join(tmp, f"sim-{kind}.addr"), "w+")
    err = open(os.path.join(tmp, f"sim-{kind}.log"), "w")
    procs.start([DUALROAD, "sim", kind, "--listen", "127.0.0.1:0", *extra], stdout=out, stderr=err)
    deadline = time.time() + 20
    while time.time() < deadline:
        out.seek(0)
        addr = out.readline().strip()
        if addr:
            return addr
        time.sleep(0.1)
    raise SystemExit(f"sim {kind} did not start; see {err.name}")


def due_offset(k):
    """Seconds after the start at which request k is due: WARMUP_RATE during the
    warm-up, RATE after it."""
    warm_n = int(WARMUP * WARMUP_RATE)
    if k < warm_n:
        return k / WARMUP_RATE
    return WARMUP + (k - warm_n) / RATE


class Load:
    """Fixed-rate sender: request k is due at start + due_offset(k); WORKERS threads take the
    next due request each, so a slow answer delays only its worker."""

    def __init__(self, port, bodies):
        self.port = port
        self.bodies = bodies
        self.lock = threading.Lock()
        self.next_k = 0
        self.sent = 0
        self.answered = {}
        self.errors = 0
        self.late = 0
        self.per_kind = {k[0]: 0 for k in KINDS}
        self.stop_at = None
        self.start = None

    def run(self, seconds):
        self.start = time.monotonic()
        self.stop_at = self.start + seconds
        threads = [threading.Thread(target=self.worker, args=(i,)) for i in range(WORKERS)]
        for t in threads:
            t.start()
        return threads

    def worker(self, wid):
        conn = None
        while True:
            with self.lock:
                k = self.next_k
                due = self.start + due_offset(k)
                if due >= self.stop_at:
                    return
                self.next_k += 1
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            elif now - due > 1.0:
                with self.lock:
                    self.late += 1
            label, ct, body = self.bodies[k % len(self.bodies)]
            body = body.replace(b"@ID@", f"soak-{k:08d}".encode())
            with self.lock:
                self.sent += 1
                self.per_kind[label] += 1
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                conn.request("POST", "/cgi-bin/consumer_proxy", body,
                             {"Content-Type": ct, "SOAPAction": '""'})
                r = conn.getresponse()
                r.read()
                with self.lock:
                    self.answered[r.status] = self.answered.get(r.status, 0) + 1
            except (OSError, http.client.HTTPException):
                with self.lock:
                    self.errors += 1
                conn = None


def main():
    tmp = tempfile.mkdtemp(prefix="dualroad-soak.")
    log(f"workdir {tmp}; warm-up {WARMUP} s at {WARMUP_RATE} req/s, then {SECONDS} s at {RATE} req/s; "
        f"store cache {CACHE_BYTES} bytes")
    procs = Procs()
    failures = []
    try:
        legacy = start_sim(procs, tmp, "legacy", ["--fault-rate", "0.02", "--latency-ms", "2"])
        # The UXP stack is the shadow upstream for the shadow stage: 5 % service faults,
        # 5 % divergent answers, some latency.
        uxp = start_sim(procs, tmp, "uxp", ["--fault-rate", "0.05", "--divergence-rate", "0.05", "--latency-ms", "15"])
        gw_port, admin_port = free_ports(2)
        admin = f"127.0.0.1:{admin_port}"
        config = os.path.join(tmp, "dualroad.toml")
        with open(config, "w") as f:
            f.write(f"""data_dir = "{tmp}/data"
mappings = "{ROOT}/mappings"
[admin]
listen = "{admin}"
[[listeners]]
name = "agencies"
role = "consumer"
listen = "127.0.0.1:{gw_port}"
[upstreams.legacy-ss]
url = "http://{legacy}/cgi-bin/consumer_proxy"
dialect = "v3.1-eu"
request_timeout_ms = 5000
[upstreams.uxp-ss]
url = "http://{uxp}/"
dialect = "uxp"
request_timeout_ms = 5000
[stacks]
legacy = "legacy-ss"
uxp = "uxp-ss"
[store]
cache_bytes = {CACHE_BYTES}
[rollout]
fallback = "legacy"
{RULES}""")
        gw_log = open(os.path.join(tmp, "dualroad.log"), "w")
        gw = procs.start([*WRAP, DUALROAD, "serve", "--config", config], stdout=subprocess.DEVNULL,
                         stderr=gw_log, env={**os.environ, "RUST_LOG": "warn"})
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://{admin}/healthz", timeout=1)
                break
            except OSError:
                if time.time() > deadline or gw.poll() is not None:
                    raise SystemExit(f"gateway did not start; see {gw_log.name}")
                time.sleep(0.2)
        pid = gateway_pid(gw.pid)

        bodies = []
        for label, fixture, msg_id, ct in KINDS:
            raw = open(os.path.join(ROOT, "fixtures", "messages", fixture), "rb").read()
            assert msg_id.encode() in raw, fixture
            bodies.append((label, ct, raw.replace(msg_id.encode(), b"@ID@")))

        load = Load(gw_port, bodies)
        threads = load.run(WARMUP + SECONDS)
        samples = []  # (t, pid alive and same, rss KiB, fds)
        switch_log = []
        done_minutes = set()
        t0 = load.start
        while any(t.is_alive() for t in threads):
            t = time.monotonic() - t0
            alive = gw.poll() is None
            try:
                rss = status_kib(pid, "VmRSS")
                fds = len(os.listdir(f"/proc/{pid}/fd"))
            except OSError:
                rss, fds, alive = 0, 0, False
            samples.append((t, alive, rss, fds))
            minute, sec = int(t // 60), t % 60
            for action, at in (("rollback", 20), ("release", 50)):
                if sec >= at and (minute, action) not in done_minutes and t < WARMUP + SECONDS:
                    done_minutes.add((minute, action))
                    r = subprocess.run([DUALROAD, "switch", action, "--agency", "10000042",
                                        "--reason", f"soak minute {minute}", "--actor", "soak",
                                        "--config", config], capture_output=True, text=True)
                    switch_log.append((round(t, 1), action, r.returncode))
                    if r.returncode != 0:
                        failures.append(f"switch {action} at {t:.0f}s exited {r.returncode}: {r.stderr.strip()}")
            time.sleep(SAMPLE)
        for th in threads:
            th.join()
        elapsed = time.monotonic() - t0
        # Let detached shadow copies finish before reading the counters.
        time.sleep(6)
        alive = gw.poll() is None
        samples.append((elapsed, alive, status_kib(pid, "VmRSS") if alive else 0,
                        len(os.listdir(f"/proc/{pid}/fd")) if alive else 0))
        ms = metrics(admin)
        faults = sorted(((l.get("code"), v) for n, l, v in ms if n == "dualroad_faults_total"), key=lambda x: -x[1])
        mirrors = sorted(((l.get("stack"), l.get("outcome"), v) for n, l, v in ms if n == "dualroad_mirror_total"))

        # --- checks -------------------------------------------------------------
        restarts = sum(1 for s in samples if not s[1])
        if restarts:
            failures.append(f"gateway not alive in {restarts} samples (PID {pid}, exit {gw.poll()})")
        post = [s for s in samples if s[0] >= WARMUP]
        # Halves, not minutes: sled frees its page cache in a sawtooth (every 256 x 64
        # page accesses, 14 000-19 000 requests here), and one-minute windows would compare a
        # peak with a trough. Each half holds a whole tooth at the default rate.
        half = WARMUP + (elapsed - WARMUP) / 2
        first = [s for s in post if s[0] < half]
        last = [s for s in post if s[0] >= half]
        trend = slope_per_minute([(s[0], s[2]) for s in post])
        growth = {}
        if elapsed - WARMUP >= 120 and first and last:
            for i, name in ((2, "rss_kib"), (3, "fds")):
                base = max(s[i] for s in first)
                end = max(s[i] for s in last)
                growth[name] = (base, end, (end - base) / base if base else 0.0)
                if base and end > base * (1 + GROWTH):
                    failures.append(f"{name} grew {100 * (end - base) / base:.1f} % after warm-up ({base} -> {end})")
        else:
            failures.append("too short for the growth check (needs 2 minutes after the warm-up)")
        answered = sum(load.answered.values())
        gw_requests = msum(ms, "dualroad_requests_total")
        if answered + load.errors != load.sent or load.errors:
            failures.append(f"client: sent {load.sent}, answered {answered}, errors {load.errors}")
        if gw_requests != load.sent:
            failures.append(f"gateway counted {gw_requests:.0f} requests, {load.sent} sent")
        shadowed = msum(ms, "dualroad_requests_total", stage="shadow") + msum(ms, "dualroad_requests_total", stage="uxp-shadow")
        mirrored = msum(ms, "dualroad_mirror_total")
        if mirrored != shadowed:
            failures.append(f"{shadowed:.0f} requests in shadow stages, {mirrored:.0f} mirror outcomes")
        stages = {}
        for n, l, v in ms:
            if n == "dualroad_requests_total":
                stages[l.get("stage")] = stages.get(l.get("stage"), 0) + v
        for st in ("legacy", "shadow", "canary", "uxp", "uxp-shadow", "rollback"):
            if not stages.get(st):
                failures.append(f"no request went through stage {st}")

        # Exchange store: after a clean stop (the writer drains and flushes), every
        # request must be a stored exchange record or a counted drop.
        if WRAP:
            # The wrapper may not pass SIGTERM on: stop the gateway itself.
            os.kill(pid, signal.SIGTERM)
            try:
                gw.wait(timeout=60)
            except subprocess.TimeoutExpired:
                pass
        procs.stop()
        r = subprocess.run([os.environ["EXCHANGE_COUNT_BIN"], os.path.join(tmp, "data")],
                           capture_output=True, text=True)
        if r.returncode != 0:
            failures.append(f"exchange store does not open: {r.stderr.strip()}")
            store_check = "store did not open"
        else:
            c = json.loads(r.stdout)
            total = c["records"] + c["dropped"]
            served = c["records"] - c["not_compared"]
            store_check = (f"served {served} + not-compared {c['not_compared']} + dropped {c['dropped']} = {total} "
                           f"(sent {load.sent}); by outcome {c['by_outcome']}, {c['skipped']} unreadable")
            if total == 0:
                store_check = "not run: this gateway build writes no exchange records (shadow wiring absent)"
            elif total != load.sent or c["skipped"]:
                failures.append(f"exchange store: {store_check}")

        # --- report -------------------------------------------------------------
        print()
        print(f"== dualroad soak, {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}")
        print(f"machine: nproc {os.cpu_count()}, load average {open('/proc/loadavg').read().split()[:3]}")
        print(f"traffic: warm-up {WARMUP} s at {WARMUP_RATE} req/s, then {SECONDS} s at {RATE} req/s, {WORKERS} keep-alive clients; "
              f"{load.sent} sent ({(load.sent - int(WARMUP * WARMUP_RATE)) / max(elapsed - WARMUP, 1e-9):.1f} req/s achieved after warm-up), "
              f"{load.late} started > 1 s late")
        print(f"  per kind: {load.per_kind}")
        print(f"  client saw statuses {dict(sorted(load.answered.items()))}, {load.errors} connection errors")
        print(f"  gateway requests by stage: { {k: int(v) for k, v in sorted(stages.items())} } (total {gw_requests:.0f})")
        print(f"  shadow copies: {shadowed:.0f} routed to shadow stages, outcomes {[(s, o, int(v)) for s, o, v in mirrors]}")
        print(f"  faults by code: {[(c, int(v)) for c, v in faults]}")
        print(f"switch changes: {len(switch_log)} ({sum(1 for s in switch_log if s[2] == 0)} ok): {switch_log}")
        print(f"gateway PID {pid}: alive in {len(samples) - restarts}/{len(samples)} samples")
        for name, (base, end, g) in growth.items():
            print(f"  {name}: first half after warm-up max {base}, second half max {end} ({100 * g:+.1f} %)")
        if trend is not None:
            print(f"  VmRSS least-squares trend after warm-up: {trend:+.0f} KiB/min (information, not a check)")
        print(f"  VmRSS samples (KiB) every {SAMPLE:.0f} s: min {min(s[2] for s in samples)} max {max(s[2] for s in samples)}; "
              f"fds min {min(s[3] for s in samples)} max {max(s[3] for s in samples)}")
        print(f"exchange store: {store_check}")
        with open(os.path.join(tmp, "samples.tsv"), "w") as f:
            for s in samples:
                f.write("\t".join(str(x) for x in s) + "\n")
        print()
        if failures:
            for fl in failures:
                print(f"FAIL: {fl}")
            print(f"(logs and samples in {tmp})")
            return 1
        print("all soak checks passed")
        return 0
    finally:
        procs.stop()


if __name__ == "__main__":
    sys.exit(main())
