#!/usr/bin/env bash
# `make test`: formatting and clippy, host unit tests of every crate, the
# image's boot tests in QEMU, and the reproducibility check. Prints one closing "N passed, N failed"
# line and exits non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
mkdir -p build
passed=0
failed=0

count_cargo() { # sums cargo's "test result: ... N passed; M failed" lines
  local p f
  read -r p f < <(awk '/^test result: / {
      for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i }
    } END { print p + 0, f + 0 }' "$1")
  passed=$((passed + p)); failed=$((failed + f))
}

stage() { # name, log, command...
  local name=$1 log=$2; shift 2
  echo "=== $name"
  "$@" 2>&1 | tee "$log"
  local status=${PIPESTATUS[0]}
  if [ "$status" -ne 0 ]; then
    echo "=== $name: exit status $status"
  fi
  return "$status"
}

# 0. Hygiene: rustfmt and clippy (-D warnings, with the lints the crates
#    declare), each one pass or one failure.
for target in fmt-check clippy-host clippy-kernel; do
  if stage "make $target" "build/$target.log" make --no-print-directory "$target"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
  fi
done

# 1. Host tests of every crate (boot, drivers, crypto, net, qemu).
stage "host unit tests" build/host-tests.log cargo test --locked --workspace --exclude gateway-kernel
host_status=$?
count_cargo build/host-tests.log
if [ "$host_status" -ne 0 ] && ! grep -q '^test result: FAILED' build/host-tests.log; then
  failed=$((failed + 1)) # did not build or crashed before reporting
fi

# 2. Boot tests in QEMU (TCG).
if stage "boot tests" build/boot-tests.log make --no-print-directory boot-test; then :; fi
line=$(grep -E '^boot tests: [0-9]+ passed, [0-9]+ failed' build/boot-tests.log | tail -1)
if [ -n "$line" ]; then
  passed=$((passed + $(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line")))
  failed=$((failed + $(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")))
else
  failed=$((failed + 1))
fi

# 3. The image builds bit for bit the same twice.
if stage "reproducible image" build/reproduce.log bash qemu/scripts/reproduce.sh; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
fi

echo
echo "make test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
