#!/usr/bin/env bash
# Instructions per request through the gateway, counted with callgrind (deterministic,
# so it compares two builds on a shared, noisy machine where req/s cannot).
#
#   scripts/callgrind-serve.sh                       # the release build of this checkout
#   DUALROAD_BIN=/path/to/other/dualroad scripts/callgrind-serve.sh   # another build
#   N1=50 N2=250 scripts/callgrind-serve.sh          # request counts of the two runs
#
# The same set-up as bench-load.sh (fallback stage "uxp": every v3.1-eu request is
# translated to UXP, sent to the echo responder, the echoed answer translated back),
# but `dualroad serve` runs under callgrind, twice: once for N1 requests and once for
# N2, on one keep-alive connection. (Ir(N2) - Ir(N1)) / (N2 - N1) is the cost of one
# request with start-up and shutdown cancelled out. The echo responder runs natively.
# Needs: valgrind, python3. Prints one line: `instructions per request: N`.

set -euo pipefail

N1=${N1:-50}
N2=${N2:-250}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOG_TAG=callgrind-serve
# shellcheck source=lib/bench-common.sh
source "$ROOT/scripts/lib/bench-common.sh"

command -v valgrind >/dev/null || die "valgrind is not installed"
if [[ -z ${DUALROAD_BIN:-} ]]; then
    (cd "$ROOT" && cargo build --release --quiet --bin dualroad) || die "cargo build --release failed"
    TARGET_DIR=$(cd "$ROOT" && cargo metadata --no-deps --format-version 1 |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
    DUALROAD_BIN="$TARGET_DIR/release/dualroad"
fi
[[ -x $DUALROAD_BIN ]] || die "no binary at $DUALROAD_BIN"
BODY="$ROOT/fixtures/messages/v3.1-eu/request-getPatientSummary.xml"

"$DUALROAD_BIN" sim echo --listen 127.0.0.1:0 >"$TMP/echo.addr" 2>"$TMP/echo.log" &
PIDS+=($!)
wait_until 10 test -s "$TMP/echo.addr" || die "the echo responder did not start; see $TMP/echo.log"
ECHO_PORT=$(head -n1 "$TMP/echo.addr")
ECHO_PORT=${ECHO_PORT##*:}

# One run: serve under callgrind, N requests, stop it, print its instruction count.
run() {
    local n=$1 gw admin
    read -r gw admin <<<"$(free_ports 2 | tr '\n' ' ')"
    cat >"$TMP/dualroad-$n.toml" <<EOF
data_dir = "$TMP/data-$n"
mappings = "$ROOT/mappings"

[admin]
listen = "127.0.0.1:$admin"

[[listeners]]
name = "bench"
role = "consumer"
listen = "127.0.0.1:$gw"

[upstreams.legacy-echo]
url = "http://127.0.0.1:$ECHO_PORT/cgi-bin/consumer_proxy"
dialect = "v3.1-eu"

[upstreams.uxp-echo]
url = "http://127.0.0.1:$ECHO_PORT/"
dialect = "uxp"

[stacks]
legacy = "legacy-echo"
uxp = "uxp-echo"

[rollout]
fallback = "uxp"
EOF
    RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.$n" \
        "$DUALROAD_BIN" serve --config "$TMP/dualroad-$n.toml" >"$TMP/serve-$n.out" 2>"$TMP/serve-$n.log" &
    local pid=$!
    PIDS+=("$pid")
    wait_until 120 http_ok "http://127.0.0.1:$admin/readyz" || die "dualroad is not ready; see $TMP/serve-$n.log"
    python3 - "$gw" "$n" "$BODY" <<'PY' || die "requests failed (run $n)"
import http.client, sys
port, n, body = int(sys.argv[1]), int(sys.argv[2]), open(sys.argv[3], "rb").read()
c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
for _ in range(n):
    c.request("POST", "/", body, {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'})
    r = c.getresponse()
    data = r.read()
    if r.status != 200 or b"<xrd:consumer>10000042</xrd:consumer>" not in data:
        sys.exit(f"status {r.status}: {data[:300]!r}")
PY
    kill -INT "$pid"
    wait "$pid" 2>/dev/null || true
    sed -n 's/.*I *refs: *//p' "$TMP/serve-$n.log" | tr -d ,
}

ir1=$(run "$N1")
ir2=$(run "$N2")
[[ -n $ir1 && -n $ir2 ]] || die "no instruction count (see $TMP/serve-*.log)"
log "Ir: $N1 requests $ir1, $N2 requests $ir2"
echo "instructions per request: $(((ir2 - ir1) / (N2 - N1)))"
