#!/usr/bin/env bash
# Renders a migration report in a real browser: headless Chromium takes a screenshot of
# the self-contained HTML report, so layout and the inline SVG charts can be looked at.
#
#   scripts/report-screenshot.sh [REPORT.html] [OUT.png]
#
# Without REPORT.html, one is made from sample evidence (`dualroad report --sample`).
# OUT.png defaults to target/report-screenshot.png. Environment:
#   DUALROAD      the binary to use (default: target/release/dualroad, built if missing)
#   WINDOW        window size WIDTH,HEIGHT (default 1280,5200: the sample report's length)
#   CHROMIUM      the browser (default: chromium, installed with apt-get if missing and root)
# The browser runs with networking features off and a throw-away profile; the report
# fetches nothing anyway (no script, no external resource).
set -euo pipefail

cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
html="${1:-}"
out="${2:-$target/report-screenshot.png}"
window="${WINDOW:-1280,5200}"
browser="${CHROMIUM:-chromium}"

if ! command -v "$browser" >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "report-screenshot: installing the Debian package chromium" >&2
        apt-get install -y chromium >/dev/null || { apt-get update >/dev/null && apt-get install -y chromium >/dev/null; }
    else
        echo "report-screenshot: $browser not found; install the Debian package chromium (apt-get install chromium)" >&2
        exit 2
    fi
fi

work="$(mktemp -d)"
profile="$(mktemp -d)"
trap 'rm -rf "$work" "$profile"' EXIT

if [ -z "$html" ]; then
    bin="${DUALROAD:-$target/release/dualroad}"
    if [ ! -x "$bin" ]; then
        echo "report-screenshot: building $bin" >&2
        cargo build --release --bin dualroad >&2
    fi
    html="$work/report.html"
    "$bin" report --sample --format html --out "$html"
fi

mkdir -p "$(dirname "$out")"
# Absolute paths: Chromium resolves file URLs and the screenshot path itself.
abs_html="$(cd "$(dirname "$html")" && pwd)/$(basename "$html")"
abs_out="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"
"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --disable-default-apps --disable-extensions --hide-scrollbars \
    --user-data-dir="$profile" --window-size="$window" \
    --screenshot="$abs_out" "file://$abs_html" 2>"$work/chromium.log" || {
    cat "$work/chromium.log" >&2
    exit 1
}
test -s "$abs_out" || { echo "report-screenshot: no screenshot written" >&2; cat "$work/chromium.log" >&2; exit 1; }
echo "report-screenshot: $abs_out ($(wc -c <"$abs_out") bytes) from $abs_html" >&2
