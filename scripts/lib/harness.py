"""Helpers shared by the project's Python drivers (scripts/lib/soak.py,
scripts/interop/run.py): child processes stopped together, and the gateway's
Prometheus text read into (name, labels, value) samples. Standard library only."""

import re
import signal
import subprocess


class Procs:
    """Every process a driver started, stopped in reverse order (SIGTERM, then kill
    after 15 s) so nothing outlives the driver."""

    def __init__(self):
        self.procs = []

    def start(self, args, **kw):
        p = subprocess.Popen(args, **kw)
        self.procs.append(p)
        return p

    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def parse_metrics(text):
    """Prometheus text exposition → [(name, {label: value}, float)]."""
    out = []
    for line in text.splitlines():
        m = re.match(r'^(\w+)\{(.*)\} ([0-9.eE+-]+)$', line)
        if m:
            labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2)))
            out.append((m.group(1), labels, float(m.group(3))))
            continue
        m = re.match(r'^(\w+) ([0-9.eE+-]+)$', line)
        if m:
            out.append((m.group(1), {}, float(m.group(2))))
    return out


def msum(ms, name, **want):
    """Sum of the samples called `name` whose labels include `want`."""
    return sum(v for n, l, v in ms if n == name and all(l.get(k) == w for k, w in want.items()))
