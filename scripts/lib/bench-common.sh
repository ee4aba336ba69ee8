#!/usr/bin/env bash
# Shared by the load scripts (bench-load.sh, bench-shadow.sh): sourced, not run.
# Expects LOG_TAG and ROOT to be set; sets TMP and PIDS, and a trap that stops every
# process appended to PIDS and removes TMP (kept on failure or with KEEP_TMP=1).

log() { printf '%s\n' "$LOG_TAG: $*" >&2; }
die() {
    log "ERROR: $*"
    exit 2
}

# --- cleanup: every process this script started ----------------------------------

TMP=$(mktemp -d "${TMPDIR:-/tmp}/bench-load.XXXXXX")
PIDS=()
WRK_PID=
cleanup() {
    local rc=$?
    set +e
    local pid
    [[ -n $WRK_PID ]] && kill -TERM "$WRK_PID" 2>/dev/null && wait "$WRK_PID" 2>/dev/null
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        pid=${PIDS[i]}
        kill -TERM "$pid" 2>/dev/null
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    if [[ $rc -ne 0 || ${KEEP_TMP:-0} == 1 ]]; then
        log "configs and logs kept in $TMP"
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'log "ERROR: line $LINENO: \`$BASH_COMMAND\` failed"' ERR
trap 'exit 130' INT
trap 'exit 143' TERM

# --- helpers ----------------------------------------------------------------------


free_ports() { # N free loopback ports, one a line (held open together so they differ)
    python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
EOF
}

# probe URL: one POST of the fixture; prints "status content-type bytes" and saves the
# body to $TMP/probe-<name>.xml. Exit 0 only for a 200 SOAP answer without a Fault.
probe() {
    python3 - "$1" "$2" "$BENCH_BODY" "$TMP" <<'EOF'
import http.client, sys, urllib.parse
name, url, body_file, tmp = sys.argv[1:5]
u = urllib.parse.urlsplit(url)
body = open(body_file, "rb").read()
try:
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
    c.request("POST", u.path or "/", body,
              {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'})
    r = c.getresponse()
    data = r.read()
except OSError as e:
    print(f"no answer ({e})")
    sys.exit(1)
open(f"{tmp}/probe-{name}.xml", "wb").write(data)
print(r.status, r.getheader("Content-Type"), f"{len(data)} B")
ok = r.status == 200 and b"Envelope" in data and b"Fault>" not in data
sys.exit(0 if ok else 1)
EOF
}

wait_until() { # seconds, command...: retry every 0.1 s
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}

http_ok() { python3 -c 'import sys,urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' "$1"; }

alive() { kill -0 "$1" 2>/dev/null || die "$2 exited; see $TMP/$3"; }

# wrk runs in the background (so a signal to this script is handled at once) with its
# output in $TMP/wrk-NAME.txt; finish_wrk waits for it and sets BENCH_LINE.
start_wrk() { # name url connections duration [more wrk options]
    local name=$1 url=$2 conns=$3 dur=$4
    shift 4
    wrk -t"$THREADS" -c"$conns" -d"${dur}s" --latency "$@" -s "$LUA" "$url" >"$TMP/wrk-$name.txt" 2>&1 &
    WRK_PID=$!
}
finish_wrk() { # name
    local out="$TMP/wrk-$1.txt" rc=0
    wait "$WRK_PID" || rc=$?
    WRK_PID=
    ((rc == 0)) || die "wrk failed for $1 (exit $rc); see $out"
    BENCH_LINE=$(grep '^BENCH ' "$out") || die "no BENCH line from wrk for $1; see $out"
}
run_wrk() { # name url connections duration
    start_wrk "$@"
    finish_wrk "$1"
}
field() { # line key
    local v
    v=$(tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p")
    printf '%s' "${v:-0}"
}
failed_requests() { # BENCH line -> socket errors + bad statuses
    local l=$1
    echo $(($(field "$l" connect) + $(field "$l" read) + $(field "$l" write) +
        $(field "$l" timeout) + $(field "$l" status) + $(field "$l" non200)))
}

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
ms() { awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }'; }

status_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

