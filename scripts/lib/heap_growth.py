#!/usr/bin/env python3
"""Which call sites hold more heap at time T2 than at T1, from a heaptrack recording.

    SOAK_WRAP="heaptrack -o /tmp/soak" scripts/soak.sh
    python3 scripts/lib/heap_growth.py /tmp/soak.zst 120 600

heaptrack_print answers "what is allocated" and "what leaked at exit"; a soak needs
"what grew after the warm-up". This reads heaptrack's own line format (zstd-compressed
text: `a size trace` allocation kinds, `+ kind`/`- kind` events, `c ms` timestamps in
hex, `R pages` RSS samples, `t ip parent` and `i addr module fn file line ...` frames),
prints heap and RSS every 30 s, then the live-bytes difference between the two times
grouped by the first three frames of dualroad or its crates. Needs `zstd` on PATH.
"""
import collections
import re
import subprocess
import sys

CRATES = r"dualroad|sled|hyper|tokio|h2|rustls|tracing|quick_xml"


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: heap_growth.py RECORDING.zst T1_SECONDS T2_SECONDS")
    path, t1, t2 = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    p = subprocess.Popen(["zstd", "-dc", path], stdout=subprocess.PIPE, text=True, errors="replace")
    strings, ips, traces, kinds = [""], [None], [None], []
    live = collections.Counter()
    heap = rss_pages = 0
    snaps, series = {}, []
    for line in p.stdout:
        c = line[0]
        if c == "+":
            k = int(line[2:], 16)
            live[k] += 1
            heap += kinds[k][0]
        elif c == "-":
            k = int(line[2:], 16)
            live[k] -= 1
            heap -= kinds[k][0]
        elif c == "c":
            t = int(line[2:], 16) / 1000
            for name, at in (("t1", t1), ("t2", t2)):
                if name not in snaps and t >= at:
                    snaps[name] = (t, heap, dict(live))
            if not series or t - series[-1][0] >= 30:
                series.append((t, heap, rss_pages))
        elif c == "R":
            rss_pages = int(line[2:], 16)
        elif c == "a":
            size, trace = line[2:].split()
            kinds.append((int(size, 16), int(trace, 16)))
        elif c == "s":
            rest = line[2:].rstrip("\n")
            strings.append(rest.split(" ", 1)[1] if " " in rest else "")
        elif c == "i":
            f = line[2:].split()
            ips.append(strings[int(f[2], 16)] if len(f) > 2 else f[0])
        elif c == "t":
            f = line[2:].split()
            traces.append((int(f[0], 16), int(f[1], 16)))
    for t, h, r in series:
        print(f"t={t:6.0f} s  heap {h / 2**20:7.2f} MiB  rss {r * 4096 / 2**20:7.2f} MiB")
    if "t1" not in snaps or "t2" not in snaps:
        sys.exit("the recording does not reach both times")
    (ta, ha, la), (tb, hb, lb) = snaps["t1"], snaps["t2"]
    print(f"\nheap {ha / 2**20:.2f} MiB at {ta:.0f} s -> {hb / 2**20:.2f} MiB at {tb:.0f} s")

    def frames(trace):
        out = []
        while trace and len(out) < 60:
            ip, parent = traces[trace]
            out.append(ips[ip])
            trace = parent
        return out

    grown = collections.Counter()
    for k, (size, trace) in enumerate(kinds):
        d = (lb.get(k, 0) - la.get(k, 0)) * size
        if d:
            key = [re.sub(r"::h[0-9a-f]{16}$", "", f)[:90] for f in frames(trace)
                   if re.search(CRATES, f) and "alloc::" not in f][:3]
            grown[" <- ".join(key) or "?"] += d
    print(f"{'bytes':>10}  call site (innermost first)")
    for key, d in grown.most_common(20):
        print(f"{d:>10}  {key}")
    print("...\nlargest shrinkage:")
    for key, d in sorted(grown.items(), key=lambda kv: kv[1])[:5]:
        print(f"{d:>10}  {key}")


if __name__ == "__main__":
    main()
