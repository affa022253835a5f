#!/usr/bin/env bash
# One fuzzing sitting: runs the given targets (default: all of fuzz/) at
# once, each for SECONDS of wall-clock time at nice 19, new inputs going
# into the committed corpora, then appends each target's CPU seconds,
# executions and result to fuzz/HOURS.md. Usage:
#   fuzz/sitting.sh SECONDS [TARGET...]
# Minimise the corpora afterwards (README, "Fuzzing") and commit both.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:?usage: fuzz/sitting.sh SECONDS [TARGET...]}
shift
all="wg_messages engine_receive replay_window config_parser router neighbor boot_pvh boot_multiboot2 boot_cmdline gateway_frames uapi firmware"
targets=${*:-$all}
RUSTC_BOOTSTRAP=1 cargo fuzz build --fuzz-dir fuzz/libfuzzer --sanitizer none
bin=fuzz/libfuzzer/target/x86_64-unknown-linux-gnu/release
logs=build/fuzz
mkdir -p "$logs"
for t in $targets; do
  mkdir -p "fuzz/corpus/$t" "fuzz/libfuzzer/artifacts/$t"
  (
    status=0
    /usr/bin/time -f "%U %S" -o "$logs/$t.time" nice -n 19 "$bin/$t" "fuzz/corpus/$t" \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 \
      -artifact_prefix="fuzz/libfuzzer/artifacts/$t/" >"$logs/$t.log" 2>&1 || status=$?
    echo "$status" >"$logs/$t.status"
  ) &
done
wait
for t in $targets; do
  cpu=$(tail -n 1 "$logs/$t.time" | awk '{ printf "%d", $1 + $2 }')
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$t.log" | tail -1)
  if [ "$(cat "$logs/$t.status")" = 0 ]; then
    result=clean
  else
    result="FINDING: $(grep -o 'fuzz/libfuzzer/artifacts/[^ ]*' "$logs/$t.log" | tail -1)"
  fi
  echo "| $(date -u +%F) | $t | $cpu | ${execs:-?} | $result |" | tee -a fuzz/HOURS.md
done
