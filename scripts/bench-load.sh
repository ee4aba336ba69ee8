#!/usr/bin/env bash
# Load benchmark: dualroad against nginx, both in front of the same echo responder.
#
#   scripts/bench-load.sh                       # DURATION=20 CONNECTIONS=64 THREADS=2
#   DURATION=10 ROUNDS=1 scripts/bench-load.sh  # quicker
#
# One run, all on 127.0.0.1 with free ports:
#   1. `dualroad sim echo` (answers every POST with the request's body and Content-Type);
#   2. nginx (2 workers, upstream keepalive 64) proxying to it;
#   3. `dualroad serve` with fallback stage "uxp": every v3.1-eu request is translated
#      to UXP, sent to the echo responder, and the echoed UXP message translated back;
#   4. wrk (same parameters for all) against: the echo directly, nginx, dualroad, in
#      that order, ROUNDS times, interleaved;
#   5. a table of requests/s and p99 per path, and dualroad-vs-nginx ratios per round;
#   6. dualroad's peak RSS under RSS_CONNECTIONS (1000) keep-alive connections.
# The machine is shared and noisy: only compare numbers from the same run, as ratios.
#
# Env: DURATION (s, 20), CONNECTIONS (64), THREADS (2), ROUNDS (2), WARMUP (s, 3),
#      RSS_CONNECTIONS (1000), RSS_DURATION (s, 10), BENCH_CHECK=1 (count every status
#      in Lua; costs client CPU), KEEP_TMP=1 (keep the temp dir with configs and logs).
# Needs: cargo, python3, apt-get (installs wrk and nginx when missing).
# Exit status: 0, or 1 when any request failed (the targets are reported, not enforced).

set -euo pipefail

DURATION=${DURATION:-20}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-2}
WARMUP=${WARMUP:-3}
RSS_CONNECTIONS=${RSS_CONNECTIONS:-1000}
RSS_DURATION=${RSS_DURATION:-10}
export BENCH_CHECK=${BENCH_CHECK:-0}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LUA="$ROOT/scripts/lib/bench-load.lua"
FIXTURE_REL=fixtures/messages/v3.1-eu/request-getPatientSummary.xml
export BENCH_BODY="$ROOT/$FIXTURE_REL"

LOG_TAG=bench-load
# shellcheck source=lib/bench-common.sh
source "$ROOT/scripts/lib/bench-common.sh"

# --- tools -------------------------------------------------------------------------

NGINX=$(command -v nginx || true)
[[ -z $NGINX && -x /usr/sbin/nginx ]] && NGINX=/usr/sbin/nginx
missing=()
command -v wrk >/dev/null || missing+=(wrk)
[[ -n $NGINX ]] || missing+=(nginx)
if ((${#missing[@]})); then
    log "installing ${missing[*]} with apt-get"
    # Debian starts nginx on port 80 after installing it unless policy-rc.d says no.
    made_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        made_policy=1
    fi
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >"$TMP/apt.log" 2>&1; then
        apt-get update -qq >>"$TMP/apt.log" 2>&1
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >>"$TMP/apt.log" 2>&1 ||
            { ((made_policy)) && rm -f /usr/sbin/policy-rc.d; die "apt-get install failed, see $TMP/apt.log"; }
    fi
    ((made_policy)) && rm -f /usr/sbin/policy-rc.d
    NGINX=$(command -v nginx || echo /usr/sbin/nginx)
fi
command -v python3 >/dev/null || die "python3 is needed (free ports, probes)"
command -v wrk >/dev/null || die "wrk is not installed"
[[ -x $NGINX ]] || die "nginx is not installed"

log "building dualroad (release)"
(cd "$ROOT" && cargo build --release --quiet --bin dualroad) || die "cargo build --release failed"
TARGET_DIR=$(cd "$ROOT" && cargo metadata --no-deps --format-version 1 |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
DUALROAD="$TARGET_DIR/release/dualroad"
[[ -x $DUALROAD ]] || die "no binary at $DUALROAD"

# 1000 keep-alive connections need ~1000 descriptors in wrk and, as dualroad opens one
# upstream connection per request in flight, ~2000 in dualroad. Raise the soft limit
# only (the hard one stays, so nginx's workers can still raise theirs).
want_fds=$((RSS_CONNECTIONS * 2 + 1024))
hard=$(ulimit -Hn)
soft=65536
if [[ $hard != unlimited && $hard -lt $soft ]]; then soft=$hard; fi
if [[ $(ulimit -Sn) != unlimited && $(ulimit -Sn) -lt $soft ]]; then
    ulimit -Sn "$soft" || log "could not raise ulimit -n to $soft"
fi
if [[ $(ulimit -Sn) != unlimited && $(ulimit -Sn) -lt $want_fds ]]; then
    log "!!! ulimit -n is $(ulimit -Sn), below the $want_fds that $RSS_CONNECTIONS connections need"
fi
log "ulimit -n $(ulimit -Sn) (hard $(ulimit -Hn))"

# --- 1. echo responder ------------------------------------------------------------

"$DUALROAD" sim echo --listen 127.0.0.1:0 >"$TMP/echo.addr" 2>"$TMP/echo.log" &
ECHO_PID=$!
PIDS+=("$ECHO_PID")
wait_until 10 test -s "$TMP/echo.addr" || die "the echo responder did not start; see $TMP/echo.log"
ECHO_ADDR=$(head -n1 "$TMP/echo.addr")
ECHO_PORT=${ECHO_ADDR##*:}

read -r NGINX_PORT GW_PORT ADMIN_PORT <<<"$(free_ports 3 | tr '\n' ' ')"

# --- 2. nginx ---------------------------------------------------------------------

mkdir -p "$TMP/nginx"
cat >"$TMP/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 2;
worker_rlimit_nofile 8192;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $TMP/nginx/body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    # wrk keeps its connections for the whole run; do not make nginx reconnect every
    # 1000 requests (the default) when dualroad never does.
    keepalive_requests 100000000;
    upstream echo {
        server 127.0.0.1:$ECHO_PORT;
        keepalive 64;
        keepalive_requests 100000000;
    }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
            proxy_pass http://echo;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
"$NGINX" -p "$TMP/nginx" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf" 2>>"$TMP/nginx/stderr.log" &
NGINX_PID=$!
PIDS+=("$NGINX_PID")

# --- 3. dualroad ------------------------------------------------------------------

cat >"$TMP/dualroad.toml" <<EOF
data_dir = "$TMP/data"
mappings = "$ROOT/mappings"

[admin]
listen = "127.0.0.1:$ADMIN_PORT"

[[listeners]]
name = "bench"
role = "consumer"
listen = "127.0.0.1:$GW_PORT"

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
fallback = "uxp"   # every request: v3.1-eu -> UXP -> echo -> UXP -> v3.1-eu
EOF
RUST_LOG=warn "$DUALROAD" serve --config "$TMP/dualroad.toml" >"$TMP/dualroad.out" 2>"$TMP/dualroad.log" &
GW_PID=$!
PIDS+=("$GW_PID")

# --- readiness and one checked request per path -----------------------------------

declare -A URL=(
    [direct]="http://127.0.0.1:$ECHO_PORT/"
    [nginx]="http://127.0.0.1:$NGINX_PORT/"
    [dualroad]="http://127.0.0.1:$GW_PORT/"
)
PATHS=(direct nginx dualroad)

wait_until 10 probe ready-nginx "${URL[nginx]}" || { alive "$NGINX_PID" nginx nginx/error.log; die "nginx is not answering; see $TMP/nginx/error.log"; }
wait_until 30 http_ok "http://127.0.0.1:$ADMIN_PORT/readyz" || { alive "$GW_PID" dualroad dualroad.log; die "dualroad is not ready; see $TMP/dualroad.log"; }
for p in "${PATHS[@]}"; do
    if out=$(probe "$p" "${URL[$p]}"); then
        log "probe $p: $out"
    else
        die "probe $p failed: $out (answer in $TMP/probe-$p.xml)"
    fi
done
grep -q '<xrd:consumer>10000042</xrd:consumer>' "$TMP/probe-dualroad.xml" ||
    die "dualroad's answer is not the v3.1-eu header echoed back; see $TMP/probe-dualroad.xml"

# --- 4. measurements ---------------------------------------------------------------

ERRORS=0
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

if ((WARMUP > 0)); then
    log "warm-up: ${WARMUP}s per path"
    for p in "${PATHS[@]}"; do run_wrk "warmup-$p" "${URL[$p]}" "$CONNECTIONS" "$WARMUP"; done
fi

declare -A RES
for ((r = 1; r <= ROUNDS; r++)); do
    for p in "${PATHS[@]}"; do
        log "round $r/$ROUNDS: $p (wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s)"
        run_wrk "r$r-$p" "${URL[$p]}" "$CONNECTIONS" "$DURATION"
        line=$BENCH_LINE
        RES[$r,$p]=$line
        bad=$(failed_requests "$line")
        if ((bad > 0)); then
            ERRORS=$((ERRORS + bad))
            log "!!! $p round $r: $bad failed requests: $line"
        fi
    done
done

# --- 6. RSS under many connections -------------------------------------------------

RSS_IDLE=$(status_kib "$GW_PID" VmRSS)
HWM_BEFORE=$(status_kib "$GW_PID" VmHWM)
log "RSS: wrk -t$THREADS -c$RSS_CONNECTIONS -d${RSS_DURATION}s against dualroad"
# wrk's default 2 s timeout would count the queueing that 1000 connections on 2 cores
# cause as errors; this run is about memory, so allow 10 s and report what took > 2 s.
start_wrk rss "${URL[dualroad]}" "$RSS_CONNECTIONS" "$RSS_DURATION" --timeout 10s
RSS_MAX=0
FDS_MAX=0
while kill -0 "$WRK_PID" 2>/dev/null; do
    v=$(status_kib "$GW_PID" VmRSS || echo 0)
    ((v > RSS_MAX)) && RSS_MAX=$v
    n=$(find "/proc/$GW_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
    ((n > FDS_MAX)) && FDS_MAX=$n
    sleep 0.25
done
finish_wrk rss
RSS_LINE=$BENCH_LINE
HWM=$(status_kib "$GW_PID" VmHWM)
sleep 1
RSS_AFTER=$(status_kib "$GW_PID" VmRSS)
rss_bad=$(failed_requests "$RSS_LINE")
if ((rss_bad > 0)); then
    ERRORS=$((ERRORS + rss_bad))
    log "!!! RSS run: $rss_bad failed requests: $RSS_LINE"
fi
alive "$GW_PID" dualroad dualroad.log
python3 -c 'import sys,urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' \
    "http://127.0.0.1:$ADMIN_PORT/metrics" >"$TMP/metrics.txt" 2>&1 || true

# --- 5 + 7. report -----------------------------------------------------------------

CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
GW_WARNINGS=$(grep -c -E 'WARN|ERROR' "$TMP/dualroad.log" || true)

echo
echo "== dualroad load benchmark, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "machine: nproc $(nproc), ${CPU:-unknown CPU}, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)," \
    "$(sed -n 's/^PRETTY_NAME="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' /etc/os-release 2>/dev/null), kernel $(uname -r)"
echo "load average (1/5/15 min): $LOAD_START at the start of the measurements, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
echo "tools: $(wrk -v 2>&1 | head -n1 | awk '{ print $1, $2 }'), $("$NGINX" -v 2>&1 | sed 's/.*: //'), $("$DUALROAD" --version 2>/dev/null || echo dualroad)"
echo "load: wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s --latency, warm-up ${WARMUP}s, $ROUNDS round(s) interleaved direct -> nginx -> dualroad"
echo "body: $FIXTURE_REL ($(wc -c <"$BENCH_BODY") B), POST text/xml; dualroad: v3.1-eu -> UXP -> echo -> v3.1-eu"
echo
printf '%-6s %-9s %10s %9s %9s %9s %9s %8s\n' round path "req/s" "p50 ms" "p90 ms" "p99 ms" "max ms" failed
for ((r = 1; r <= ROUNDS; r++)); do
    for p in "${PATHS[@]}"; do
        l=${RES[$r,$p]}
        printf '%-6s %-9s %10s %9s %9s %9s %9s %8s\n' "$r" "$p" "$(field "$l" rps)" \
            "$(ms "$(field "$l" p50_us)")" "$(ms "$(field "$l" p90_us)")" \
            "$(ms "$(field "$l" p99_us)")" "$(ms "$(field "$l" max_us)")" "$(failed_requests "$l")"
    done
done
echo
echo "ratios, each within its round (targets: dualroad >= 1.00x nginx req/s; dualroad p99 - nginx p99 <= +0.50 ms)"
printf '%-6s %16s %8s %18s %8s %17s %15s\n' round "dualroad/nginx" "" "p99 dualroad-nginx" "" "nginx/direct" "dualroad/direct"
sum_tp=0 sum_dp=0
for ((r = 1; r <= ROUNDS; r++)); do
    d=${RES[$r,direct]} n=${RES[$r,nginx]} g=${RES[$r,dualroad]}
    tp=$(awk -v a="$(field "$g" rps)" -v b="$(field "$n" rps)" 'BEGIN { printf "%.3f", a / b }')
    dp=$(awk -v a="$(field "$g" p99_us)" -v b="$(field "$n" p99_us)" 'BEGIN { printf "%+.2f", (a - b) / 1000 }')
    nd=$(awk -v a="$(field "$n" rps)" -v b="$(field "$d" rps)" 'BEGIN { printf "%.3f", a / b }')
    gd=$(awk -v a="$(field "$g" rps)" -v b="$(field "$d" rps)" 'BEGIN { printf "%.3f", a / b }')
    printf '%-6s %15sx %8s %15s ms %8s %16sx %14sx\n' "$r" "$tp" \
        "$(awk -v x="$tp" 'BEGIN { print (x >= 1.0) ? "ok" : "MISS" }')" "$dp" \
        "$(awk -v x="$dp" 'BEGIN { print (x <= 0.5) ? "ok" : "MISS" }')" "$nd" "$gd"
    sum_tp=$(awk -v s="$sum_tp" -v x="$tp" 'BEGIN { print s + x }')
    sum_dp=$(awk -v s="$sum_dp" -v x="$dp" 'BEGIN { print s + x }')
done
if ((ROUNDS > 1)); then
    mtp=$(awk -v s="$sum_tp" -v n="$ROUNDS" 'BEGIN { printf "%.3f", s / n }')
    mdp=$(awk -v s="$sum_dp" -v n="$ROUNDS" 'BEGIN { printf "%+.2f", s / n }')
    printf '%-6s %15sx %8s %15s ms %8s\n' mean "$mtp" \
        "$(awk -v x="$mtp" 'BEGIN { print (x >= 1.0) ? "ok" : "MISS" }')" "$mdp" \
        "$(awk -v x="$mdp" 'BEGIN { print (x <= 0.5) ? "ok" : "MISS" }')"
fi
echo
echo "dualroad memory with $RSS_CONNECTIONS keep-alive connections (wrk -t$THREADS -c$RSS_CONNECTIONS -d${RSS_DURATION}s; target peak < 64 MiB):"
# VmRSS is read from per-CPU counters and can briefly exceed VmHWM: report the larger.
PEAK=$((HWM > RSS_MAX ? HWM : RSS_MAX))
echo "  peak RSS $(mib "$PEAK") MiB $(awk -v k="$PEAK" 'BEGIN { print (k < 65536) ? "ok" : "MISS" }')" \
    "(VmHWM $(mib "$HWM") MiB, VmRSS max sampled $(mib "$RSS_MAX") MiB); idle before load $(mib "$RSS_IDLE") MiB," \
    "peak before this run $(mib "$HWM_BEFORE") MiB, 1 s after $(mib "$RSS_AFTER") MiB"
echo "  $(field "$RSS_LINE" rps) req/s, p99 $(ms "$(field "$RSS_LINE" p99_us)") ms, max $(ms "$(field "$RSS_LINE" max_us)") ms," \
    "$rss_bad failed, $(field "$RSS_LINE" over2s) took > 2 s; open fds max $FDS_MAX (ulimit -n $(ulimit -Sn))"
echo "dualroad log lines at WARN/ERROR: $GW_WARNINGS"
grep -E '^dualroad_(requests_total|faults_total|connections_refused_total)' "$TMP/metrics.txt" |
    sed 's/^/  metrics: /' || true
echo
if ((ERRORS > 0)); then
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
    echo "!!! $ERRORS REQUESTS FAILED (socket errors, timeouts or non-200 answers):"
    echo "!!! the numbers above are not valid. wrk outputs are in $TMP"
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
    exit 1
fi
echo "all requests answered 200"
