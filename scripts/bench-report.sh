#!/usr/bin/env bash
# Migration report over a large exchange store: time and peak memory.
#
#   scripts/bench-report.sh [EXCHANGES]        (default 1000000)
#
# Builds the release binary, fills a store with EXCHANGES sample exchanges from the
# stack simulators once (kept in $CARGO_TARGET_DIR/bench-report-EXCHANGES, reused by
# later runs: filling a million takes minutes), then times `dualroad report` over it
# in each format with /usr/bin/time: wall seconds, CPU seconds and peak RSS (max
# resident set, the kernel's figure for the whole process). The store is closed
# between runs, so each run opens sled cold (its page cache is the OS's).
set -euo pipefail

cd "$(dirname "$0")/.."
n="${1:-1000000}"
target="${CARGO_TARGET_DIR:-target}"
bin="$target/release/dualroad"
dir="$target/bench-report-$n"

nice -n 10 cargo build --release --bin dualroad >&2
if [ ! -f "$dir.complete" ]; then
    rm -rf "$dir"
    echo "bench-report: filling $dir with $n exchanges (once)" >&2
    /usr/bin/time -f "bench-report: filled in %e s (peak RSS %M KB)" \
        "$bin" report --sample --sample-size "$n" --sample-dir "$dir" --format json --out /dev/null
    touch "$dir.complete"
fi
echo "bench-report: store $(du -sh "$dir" | cut -f1) on disk; $(nproc) CPUs; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
for format in json md html; do
    for run in 1 2 3; do
        /usr/bin/time -f "report --format $format run $run: %e s wall, %U s user, %S s sys, peak RSS %M KB" \
            "$bin" report --data "$dir" --format "$format" --out /dev/null 2>&1 | grep -v '^dualroad: report written'
    done
done
