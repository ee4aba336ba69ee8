#!/usr/bin/env bash
# Shadow-mode load benchmark: what mirroring costs the client.
#
#   scripts/bench-shadow.sh                         # DURATION=15 ROUNDS=2
#   DURATION=8 ROUNDS=1 scripts/bench-shadow.sh     # quicker
#
# One run, all on 127.0.0.1 with free ports, all processes up at once so the rounds
# interleave (this machine is shared and noisy: compare only within a round):
#   - `dualroad sim legacy` (the primary) and two `dualroad sim uxp`: one answering at
#     once, one after SHADOW_LATENCY_MS (200); plus a port nothing listens on;
#   - four gateways, one per scenario, in front of the same legacy simulator:
#       legacy       fallback "legacy" (no mirror): the reference
#       shadow       fallback "shadow", copies to the prompt UXP simulator
#       shadow-slow  fallback "shadow", copies to the slow UXP simulator
#       shadow-down  fallback "shadow", copies to the dead port
#   - wrk against each, two loads:
#       latency:    LAT_CONNECTIONS (4) connections: the client's p99 per scenario, as a
#                   ratio to `legacy` in the same round (target: within +10 %);
#       throughput: CONNECTIONS (64) connections: req/s per scenario, as a ratio to
#                   `legacy` (target: shadow >= 0.5x).
#   - afterwards, each gateway's mirror outcomes and exchange counts from /metrics, so
#     the copies are seen to have been made, compared, timed out or refused.
#
# Env: DURATION (s, 15), ROUNDS (2), WARMUP (s, 2), THREADS (2), CONNECTIONS (64),
#      LAT_CONNECTIONS (4), SHADOW_LATENCY_MS (200), KEEP_TMP=1.
# Needs: cargo, python3, wrk (installed with apt-get when missing).

set -euo pipefail

DURATION=${DURATION:-15}
ROUNDS=${ROUNDS:-2}
WARMUP=${WARMUP:-2}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
LAT_CONNECTIONS=${LAT_CONNECTIONS:-4}
SHADOW_LATENCY_MS=${SHADOW_LATENCY_MS:-200}
export BENCH_CHECK=0

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LUA="$ROOT/scripts/lib/bench-load.lua"
FIXTURE_REL=fixtures/messages/v3.1-eu/request-getPatientSummary.xml
export BENCH_BODY="$ROOT/$FIXTURE_REL"

LOG_TAG=bench-shadow
# shellcheck source=lib/bench-common.sh
source "$ROOT/scripts/lib/bench-common.sh"

if ! command -v wrk >/dev/null; then
    log "installing wrk with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >"$TMP/apt.log" 2>&1 ||
        { apt-get update -qq >>"$TMP/apt.log" 2>&1 &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >>"$TMP/apt.log" 2>&1; } ||
        die "apt-get install wrk failed, see $TMP/apt.log"
fi
command -v python3 >/dev/null || die "python3 is needed (free ports, probes)"

log "building dualroad (release)"
(cd "$ROOT" && cargo build --release --quiet --bin dualroad) || die "cargo build --release failed"
TARGET_DIR=$(cd "$ROOT" && cargo metadata --no-deps --format-version 1 |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
DUALROAD="$TARGET_DIR/release/dualroad"
[[ -x $DUALROAD ]] || die "no binary at $DUALROAD"
ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true

# --- simulators ---------------------------------------------------------------------

# Not called in $(...): a subshell's PIDS+= would not reach the cleanup trap.
start_sim() { # name args...: starts it; its address ends up in $TMP/NAME.addr
    local name=$1
    shift
    "$DUALROAD" sim "$@" --listen 127.0.0.1:0 >"$TMP/$name.addr" 2>"$TMP/$name.log" &
    PIDS+=("$!")
    wait_until 10 test -s "$TMP/$name.addr" || die "simulator $name did not start; see $TMP/$name.log"
}
start_sim legacy legacy
start_sim uxp uxp
start_sim uxp-slow uxp --latency-ms "$SHADOW_LATENCY_MS"
LEGACY=$(head -n1 "$TMP/legacy.addr")
UXP=$(head -n1 "$TMP/uxp.addr")
UXP_SLOW=$(head -n1 "$TMP/uxp-slow.addr")
DEAD_PORT=$(free_ports 1)

# --- gateways -----------------------------------------------------------------------

SCENARIOS=(legacy shadow shadow-slow shadow-down)
declare -A URL ADMIN
for sc in "${SCENARIOS[@]}"; do
    read -r port admin <<<"$(free_ports 2 | tr '\n' ' ')"
    case $sc in
    legacy) fallback=legacy uxp=$UXP ;;
    shadow) fallback=shadow uxp=$UXP ;;
    shadow-slow) fallback=shadow uxp=$UXP_SLOW ;;
    shadow-down) fallback=shadow uxp=127.0.0.1:$DEAD_PORT ;;
    esac
    cat >"$TMP/$sc.toml" <<EOF
data_dir = "$TMP/data-$sc"
mappings = "$ROOT/mappings"
[admin]
listen = "127.0.0.1:$admin"
[[listeners]]
name = "bench"
role = "consumer"
listen = "127.0.0.1:$port"
[upstreams.legacy]
url = "http://$LEGACY/cgi-bin/consumer_proxy"
dialect = "v3.1-eu"
[upstreams.uxp]
url = "http://$uxp/"
dialect = "uxp"
[stacks]
legacy = "legacy"
uxp = "uxp"
[rollout]
fallback = "$fallback"
EOF
    RUST_LOG=error "$DUALROAD" serve --config "$TMP/$sc.toml" >"$TMP/gw-$sc.out" 2>"$TMP/gw-$sc.log" &
    PIDS+=("$!")
    URL[$sc]="http://127.0.0.1:$port/"
    ADMIN[$sc]="http://127.0.0.1:$admin"
done
for sc in "${SCENARIOS[@]}"; do
    wait_until 30 http_ok "${ADMIN[$sc]}/healthz" || die "gateway $sc is not up; see $TMP/gw-$sc.log"
    out=$(probe "$sc" "${URL[$sc]}") || die "probe $sc failed: $out (answer in $TMP/probe-$sc.xml)"
    log "probe $sc: $out"
done

# --- measurements -------------------------------------------------------------------

ERRORS=0
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
if ((WARMUP > 0)); then
    log "warm-up: ${WARMUP}s per gateway"
    for sc in "${SCENARIOS[@]}"; do run_wrk "warmup-$sc" "${URL[$sc]}" "$CONNECTIONS" "$WARMUP"; done
fi
declare -A RES
for ((r = 1; r <= ROUNDS; r++)); do
    for load in lat tput; do
        conns=$CONNECTIONS
        [[ $load == lat ]] && conns=$LAT_CONNECTIONS
        for sc in "${SCENARIOS[@]}"; do
            log "round $r/$ROUNDS $load: $sc (wrk -t$THREADS -c$conns -d${DURATION}s)"
            run_wrk "r$r-$load-$sc" "${URL[$sc]}" "$conns" "$DURATION"
            RES[$r,$load,$sc]=$BENCH_LINE
            bad=$(failed_requests "$BENCH_LINE")
            if ((bad > 0)); then
                ERRORS=$((ERRORS + bad))
                log "!!! $sc round $r $load: $bad failed requests: $BENCH_LINE"
            fi
        done
    done
done
for sc in "${SCENARIOS[@]}"; do
    python3 -c 'import sys,urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' \
        "${ADMIN[$sc]}/metrics" >"$TMP/metrics-$sc.txt" 2>&1 || true
done

# --- report -------------------------------------------------------------------------

CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
echo
echo "== dualroad shadow-mode benchmark, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "machine: nproc $(nproc), ${CPU:-unknown CPU}, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r)"
echo "load average (1/5/15 min): $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
echo "body: $FIXTURE_REL; primary: legacy simulator; shadow: UXP simulator (slow: +${SHADOW_LATENCY_MS} ms; down: nothing listens)"
echo "wrk -t$THREADS -d${DURATION}s; latency load -c$LAT_CONNECTIONS, throughput load -c$CONNECTIONS; $ROUNDS round(s)"
echo
printf '%-6s %-5s %-12s %10s %9s %9s %9s %8s\n' round load scenario "req/s" "p50 ms" "p99 ms" "max ms" failed
for ((r = 1; r <= ROUNDS; r++)); do
    for load in lat tput; do
        for sc in "${SCENARIOS[@]}"; do
            l=${RES[$r,$load,$sc]}
            printf '%-6s %-5s %-12s %10s %9s %9s %9s %8s\n' "$r" "$load" "$sc" "$(field "$l" rps)" \
                "$(ms "$(field "$l" p50_us)")" "$(ms "$(field "$l" p99_us)")" \
                "$(ms "$(field "$l" max_us)")" "$(failed_requests "$l")"
        done
    done
done
echo
echo "ratios to the legacy stage, each within its round"
echo "  (targets: client p99 with shadow slow/down <= 1.10x; shadow throughput >= 0.50x)"
printf '%-6s %-12s %14s %6s %16s %6s\n' round scenario "p99 (lat) x" "" "req/s (tput) x" ""
for ((r = 1; r <= ROUNDS; r++)); do
    for sc in shadow shadow-slow shadow-down; do
        p=$(awk -v a="$(field "${RES[$r,lat,$sc]}" p99_us)" -v b="$(field "${RES[$r,lat,legacy]}" p99_us)" 'BEGIN { printf "%.3f", a / b }')
        t=$(awk -v a="$(field "${RES[$r,tput,$sc]}" rps)" -v b="$(field "${RES[$r,tput,legacy]}" rps)" 'BEGIN { printf "%.3f", a / b }')
        pv=$(awk -v x="$p" 'BEGIN { print (x <= 1.10) ? "ok" : "MISS" }')
        tv=$(awk -v x="$t" 'BEGIN { print (x >= 0.50) ? "ok" : "MISS" }')
        printf '%-6s %-12s %13sx %6s %15sx %6s\n' "$r" "$sc" "$p" "$pv" "$t" "$tv"
    done
done
echo
echo "mirror outcomes and exchange records per gateway (from /metrics):"
for sc in "${SCENARIOS[@]}"; do
    grep -E '^dualroad_(mirror_total|exchanges_total)' "$TMP/metrics-$sc.txt" | sed "s/^/  $sc: /" || echo "  $sc: none"
done
echo
if ((ERRORS > 0)); then
    echo "!!! $ERRORS REQUESTS FAILED: the numbers above are not valid. wrk outputs are in $TMP"
    exit 1
fi
echo "all requests answered 200"
