#!/usr/bin/env bash
# Mutation-fuzz the translation core harder than CI does: every fixture, N× the mutants
# of the test suite, through every direction. Usage: scripts/fuzz-smoke.sh [N] [SEED]
# A panic prints the offending mutant. (Coverage-guided cargo-fuzz targets: fuzz/.)
set -euo pipefail
cd "$(dirname "$0")/.."
export DUALROAD_FUZZ_FACTOR="${1:-25}"
export DUALROAD_FUZZ_SEED="${2:-$(date +%s)}"
echo "mutation fuzz: factor ${DUALROAD_FUZZ_FACTOR}, seed ${DUALROAD_FUZZ_SEED}"
cargo test --release --test it robustness -- --nocapture
