#!/usr/bin/env bash
# Soak test: 10 minutes of mixed traffic at a fixed rate against `dualroad serve` and
# the two stack simulators on loopback, with a rollback and a release every minute.
# Checks zero restarts, no fd/RSS growth beyond 10 % after warm-up and that every
# request is accounted for. The driver is scripts/lib/soak.py (stdlib Python).
#
#   scripts/soak.sh                   # 180 s warm-up, then 600 s at 40 req/s, release build
#   SOAK_SECONDS=120 scripts/soak.sh  # shorter (needs 2 minutes after the warm-up)
#
# Env: SOAK_SECONDS (600, after the warm-up), SOAK_RATE (req/s, 40), SOAK_WARMUP (s, 180),
# SOAK_WARMUP_RATE (req/s during the warm-up, 200: sled's page cache only reaches its
# steady state after some 30 000 records, see README "Soak"), SOAK_SAMPLE
# (s between RSS/fd samples, 5), SOAK_WORKERS (client connections, 8),
# SOAK_PROFILE (release | debug, release), SOAK_CACHE_BYTES (the store's page cache,
# 4 MiB: small, so it is full after the warm-up and growth means a leak; the
# gateway's default is 64 MiB), SOAK_WRAP (a command put before the gateway's, e.g.
# "heaptrack -o /tmp/soak"; RSS is then sampled from the gateway process itself).
# Everything runs under `nice -n 10`.
# Exit status: 0 when every check passed, 1 otherwise (the report says which).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PROFILE=${SOAK_PROFILE:-release}
command -v python3 >/dev/null || { echo "soak: python3 is needed" >&2; exit 2; }
flag=()
[[ $PROFILE == release ]] && flag=(--release)
echo "soak: building dualroad ($PROFILE)" >&2
(cd "$ROOT" && nice -n 10 cargo build "${flag[@]}" --quiet --bin dualroad --example exchange_count)
TARGET_DIR=$(cd "$ROOT" && cargo metadata --no-deps --format-version 1 |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
built="$TARGET_DIR/$PROFILE/dualroad"
[[ -x $built ]] || { echo "soak: no binary at $built" >&2; exit 2; }
# The target dir may be shared with other checkouts that overwrite the binary: run a
# private copy.
BIN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/dualroad-soak-bin.XXXXXX")
trap 'rm -rf "$BIN_DIR"' EXIT
cp "$built" "$BIN_DIR/dualroad"
cp "$TARGET_DIR/$PROFILE/examples/exchange_count" "$BIN_DIR/exchange_count"
export DUALROAD_BIN="$BIN_DIR/dualroad" EXCHANGE_COUNT_BIN="$BIN_DIR/exchange_count"
nice -n 10 python3 "$ROOT/scripts/lib/soak.py"
