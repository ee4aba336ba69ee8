#!/usr/bin/env bash
# Coverage-guided fuzzing of the parsing/translation/compare core with cargo-fuzz
# (nightly). Runs each target for SECONDS of wall time at `nice -n 19` and prints a
# table: target, CPU-seconds (user+sys of the fuzzer), executions, crashes.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]      (default: 600 s, every target)
#
# Targets (fuzz/fuzz_targets/): decode, translate_request, translate_response,
# multipart, compare. Seeds: fuzz/seeds/ (committed, rebuilt by scripts/fuzz-seeds.py);
# the growing corpus goes to fuzz/corpus/<target>, crashes to fuzz/artifacts/<target>
# (both git-ignored). A crash becomes a regression test in tests/it/fuzz_regressions.rs.
# Builds are `-O` (release, as deployed: no debug assertions or overflow checks; add
# FUZZ_FLAGS=-a to turn them on). FUZZ_SANITIZER (default none: the code under test is
# safe Rust, panics are what is looked for, and no ASan runs about twice as fast) and
# FUZZ_JOBS=2 (two targets at a time) can be set.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-600}"
shift || true
all=(decode translate_request translate_response multipart compare)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
san="${FUZZ_SANITIZER:-none}"
jobs="${FUZZ_JOBS:-1}"

command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz missing: cargo install cargo-fuzz" >&2; exit 1; }
# Own target dir: libFuzzer-instrumented builds must not evict the workspace's.
export CARGO_TARGET_DIR="$PWD/fuzz/target"
(cd fuzz && nice -n 19 cargo +nightly fuzz build -s "$san" -O ${FUZZ_FLAGS:-})

seeds_for() {
  case "$1" in
    decode|translate_request) echo fuzz/seeds/messages ;;
    *) echo "fuzz/seeds/$1" ;;
  esac
}

run_one() {
  local t="$1" log="fuzz/artifacts/$1.log" tm="fuzz/artifacts/$1.time"
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  local TIMEFORMAT='%U %S'
  # -timeout: an input taking over 10 s counts as a hang (a crash).
  { time (cd fuzz && nice -n 19 cargo +nightly fuzz run -s "$san" -O ${FUZZ_FLAGS:-} "$t" \
      "corpus/$t" "../$(seeds_for "$t")" -- \
      -max_total_time="$secs" -timeout=10 -print_final_stats=1 \
      -artifact_prefix="artifacts/$t/" >"../$log" 2>&1) ; } 2>"$tm" || true
}

pids=()
for t in "${targets[@]}"; do
  run_one "$t" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$jobs" ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done
wait

printf '%-20s %10s %14s %8s\n' target cpu_min executions crashes
for t in "${targets[@]}"; do
  read -r u s < "fuzz/artifacts/$t.time" || { u=0; s=0; }
  execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "fuzz/artifacts/$t.log" | awk '{print $2}' | tail -1)
  crashes=$(find "fuzz/artifacts/$t" -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  printf '%-20s %10.1f %14s %8s\n' "$t" "$(echo "($u + $s) / 60" | bc -l)" "${execs:-?}" "$crashes"
  # Every run appends a row, so repeated runs can be summed per target.
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$t" "$secs" "$(echo "$u + $s" | bc -l)" "${execs:-0}" "$crashes" >> fuzz/artifacts/runs.tsv
done
