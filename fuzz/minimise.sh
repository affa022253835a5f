#!/usr/bin/env bash
# Minimises committed corpora after a sitting: libFuzzer's -merge=1 keeps
# the smallest set of inputs that covers what the whole directory covers.
# Usage: fuzz/minimise.sh [TARGET...] (default: every target of sitting.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
targets=${*:-$(sed -n 's/^all="\(.*\)"$/\1/p' fuzz/sitting.sh)}
RUSTC_BOOTSTRAP=1 cargo fuzz build --fuzz-dir fuzz/libfuzzer --sanitizer none
bin=fuzz/libfuzzer/target/x86_64-unknown-linux-gnu/release
for t in $targets; do
  fresh=$(mktemp -d "${TMPDIR:-/tmp}/wgate-corpus.XXXXXX")
  before=$(find "fuzz/corpus/$t" -type f | wc -l)
  "$bin/$t" -merge=1 -timeout=10 -rss_limit_mb=1024 "$fresh" "fuzz/corpus/$t" >/dev/null 2>&1
  rm -rf "fuzz/corpus/$t"
  mv "$fresh" "fuzz/corpus/$t"
  chmod 755 "fuzz/corpus/$t"
  echo "$t: $before -> $(find "fuzz/corpus/$t" -type f | wc -l) files"
done
