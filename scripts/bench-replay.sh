#!/usr/bin/env bash
# Replay throughput: `dualroad replay` against the two stack simulators on loopback.
#
#   scripts/bench-replay.sh                     # COPIES=250 CONCURRENCY=8 RATE=200
#
# One run, all on 127.0.0.1:
#   1. `dualroad sim legacy` and `dualroad sim uxp` on free ports;
#   2. a fixture directory with COPIES copies of each v3.1-eu read request
#      (getPatientSummary, findPerson in ISO-8859-1, getPaymentStatus, getCompany,
#      RR19IsikuElukoht with its wrapper renamed);
#   3. replay unlimited (`--rate 1000000/s`) at CONCURRENCY, then at `--rate RATE/s`,
#      each into a fresh data directory; the summaries' first lines give the rate
#      achieved (requests answered by both stacks, compared and stored).
# The machine is shared and noisy: compare numbers from the same run only.
#
# Env: COPIES (250), CONCURRENCY (8), RATE (200), KEEP_TMP=1 (keep the temp dir).
# Needs: cargo, python3 (nothing else).

set -euo pipefail

COPIES=${COPIES:-250}
CONCURRENCY=${CONCURRENCY:-8}
RATE=${RATE:-200}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log() { printf '%s\n' "bench-replay: $*" >&2; }
die() { log "$*"; exit 2; }

TMP=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    if [[ ${KEEP_TMP:-0} == 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

log "building dualroad (release)"
(cd "$ROOT" && cargo build --release --quiet --bin dualroad) || die "cargo build --release failed"
TARGET_DIR=$(cd "$ROOT" && cargo metadata --no-deps --format-version 1 |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
DUALROAD="$TARGET_DIR/release/dualroad"
[[ -x $DUALROAD ]] || die "no binary at $DUALROAD"

# Not called in $(...): a subshell's PIDS+= would not reach the cleanup trap, and the
# simulators would outlive the script.
start_sim() { # kind: starts it; its address ends up in $TMP/KIND.addr
    "$DUALROAD" sim "$1" --listen 127.0.0.1:0 >"$TMP/$1.addr" 2>"$TMP/$1.log" &
    PIDS+=("$!")
    for _ in $(seq 100); do
        [[ -s $TMP/$1.addr ]] && return
        sleep 0.1
    done
    die "the $1 simulator did not start; see $TMP/$1.log"
}
start_sim legacy
start_sim uxp
LEGACY=$(head -n1 "$TMP/legacy.addr")
UXP=$(head -n1 "$TMP/uxp.addr")

mkdir -p "$TMP/requests"
for f in request-getPatientSummary request-findPerson-iso-8859-1 request-getPaymentStatus \
    request-getCompany-empty-issue request-RR19IsikuElukoht; do
    for i in $(seq -w 1 "$COPIES"); do
        cp "$ROOT/fixtures/messages/v3.1-eu/$f.xml" "$TMP/requests/$f-$i.xml"
    done
done
N=$(ls "$TMP/requests" | wc -l)
log "$N requests; legacy $LEGACY, uxp $UXP; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

run() { # label rate
    local out="$TMP/data-$1"
    "$DUALROAD" replay --from "$TMP/requests" --legacy "http://$LEGACY/" --uxp "http://$UXP/" \
        --data "$out" --rate "$2" --concurrency "$CONCURRENCY" --mappings "$ROOT/mappings" \
        >"$TMP/$1.out" 2>"$TMP/$1.err" || die "replay ($1) failed: $(cat "$TMP/$1.err")"
    printf '%-10s %s\n' "$1" "$(head -n1 "$TMP/$1.out")"
    grep -E '^  (match|body-diff|not-compared) ' "$TMP/$1.out" | tr -s ' ' | paste -sd';' | sed 's/^/           /'
}
run unlimited 1000000/s
run "limited" "$RATE/s"
