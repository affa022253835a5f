#!/usr/bin/env bash
# Prints the README's "Fuzzing" hours table from fuzz/HOURS.md and the
# committed corpora: per target, the CPU time of every sitting, the CPU
# time since its last finding, executions, and corpus files and bytes.
# Usage: fuzz/hours.sh (after a sitting and the corpus minimisation).
set -euo pipefail
cd "$(dirname "$0")/.."
# 1234567 -> 1,234,567 (no locale needed).
thousands() { echo "$1" | sed -e ':a' -e 's/\([0-9]\)\([0-9]\{3\}\)\($\|,\)/\1,\2\3/' -e 'ta'; }
targets=$(sed -n 's/^all="\(.*\)"$/\1/p' fuzz/sitting.sh)
echo "| target | CPU time, all sittings | since its last finding | executions | corpus files | corpus bytes |"
echo "|---|---|---|---|---|---|"
for t in $targets; do
  # Rows are "| date | target [note] | CPU s | executions | result |".
  read -r total since execs < <(awk -F'|' -v t="$t" '
    { split($3, words, " ") }
    words[1] == t && $4 ~ /[0-9]/ {
      cpu = $4 + 0; total += cpu
      if ($6 ~ /FINDING/) since = 0; else since += cpu
      if ($5 ~ /[0-9]/) execs += $5
    }
    END { printf "%.1f %.1f %d\n", total / 60, since / 60, execs }' fuzz/HOURS.md)
  files=$(find "fuzz/corpus/$t" -type f | wc -l)
  bytes=$(find "fuzz/corpus/$t" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
  printf '| `%s` | %s min | %s min | %s | %s | %s |\n' "$t" "$total" "$since" \
    "$(thousands "$execs")" "$files" "$(thousands "$bytes")"
done
