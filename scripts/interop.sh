#!/usr/bin/env bash
# Interop check: real SOAP stacks (zeep, suds-community, spyne) against a running gateway.
# See docs/interop.md for what each case checks.
#
#   scripts/interop.sh            # venv under the target dir, debug build
#
# Creates (once) a Python venv and installs the pinned lxml, zeep, suds-community and
# spyne from PyPI, builds dualroad, then runs scripts/interop/run.py: the stack
# simulators, a spyne legacy adapter and three gateways on 127.0.0.1 (ports chosen by
# the OS), zeep and suds clients in every stage, and the provider listener in front of
# spyne. Prints one line per case and `N passed, N failed`.
#
# Env: INTEROP_VENV (venv directory, default <target dir>/interop-venv), INTEROP_PROFILE
# (debug | release, debug), PYTHON (interpreter for the venv, python3), KEEP_TMP=1 (keep
# the work directory of a clean run; after a failure it is always kept and named).
# Exit status: 0 when every case passed, 1 when any failed, 2 when the set-up failed.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PROFILE=${INTEROP_PROFILE:-debug}
PYTHON=${PYTHON:-python3}

log() { printf 'interop: %s\n' "$*" >&2; }
die() {
    log "ERROR: $*"
    exit 2
}

command -v "$PYTHON" >/dev/null || die "$PYTHON is needed"
command -v cargo >/dev/null || die "cargo is needed"

# spyne 2.14 does not pull lxml in by itself on Python 3.11: it is listed explicitly.
PINS=(lxml==6.2.0 zeep==4.3.3 suds-community==1.2.0 spyne==2.14.0)

TARGET_DIR=$(cd "$ROOT" && cargo metadata --no-deps --format-version 1 |
    "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
VENV=${INTEROP_VENV:-$TARGET_DIR/interop-venv}
STAMP="$VENV/.interop-pins"
if [[ ! -x $VENV/bin/python || $(cat "$STAMP" 2>/dev/null) != "${PINS[*]}" ]]; then
    log "creating venv $VENV (${PINS[*]})"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PINS[@]}"
    printf '%s' "${PINS[*]}" >"$STAMP"
fi

flag=()
[[ $PROFILE == release ]] && flag=(--release)
log "building dualroad ($PROFILE)"
(cd "$ROOT" && cargo build "${flag[@]}" --quiet --bin dualroad)
built="$TARGET_DIR/$PROFILE/dualroad"
[[ -x $built ]] || die "no binary at $built"
# The target dir may be shared with other checkouts that rebuild it: run a private copy.
BIN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/dualroad-interop-bin.XXXXXX")
trap 'rm -rf "$BIN_DIR"' EXIT
cp "$built" "$BIN_DIR/dualroad"

DUALROAD_BIN="$BIN_DIR/dualroad" "$VENV/bin/python" "$ROOT/scripts/interop/run.py"
