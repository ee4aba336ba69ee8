#!/usr/bin/env bash
# The core crate decides and never does I/O: its normal (non-dev) dependency tree holds
# no async runtime, HTTP, TLS, socket or embedded-database crate. Run by .ci/run; the
# source-level half (no files, sockets, environment or clocks) is clippy.toml in
# crates/dualroad-core, enforced by `cargo clippy -- -D warnings`.
set -euo pipefail
cd "$(dirname "$0")/.."
FORBIDDEN='^(tokio|tokio-rustls|tokio-util|hyper|hyper-util|h2|http-body|sled|rustls|ring|mio|socket2|tracing|tracing-subscriber|uuid|getrandom|tempfile)$'
tree=$(cargo tree --locked -p dualroad-core -e normal --prefix none --format '{p}' | awk '{print $1}' | sort -u)
bad=$(grep -E "$FORBIDDEN" <<<"$tree" || true)
if [[ -n $bad ]]; then
    echo "dualroad-core depends on crates that do I/O (or make time or randomness):" >&2
    sed 's/^/  /' <<<"$bad" >&2
    echo "  (cargo tree -p dualroad-core -e normal -i <crate> shows the path)" >&2
    exit 1
fi
echo "dualroad-core: $(wc -l <<<"$tree") crates in its normal tree, none of them I/O"
