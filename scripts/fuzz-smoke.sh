#!/usr/bin/env bash
# Fuzz smoke run (make fuzz-smoke, CI): builds every libFuzzer target with the
# fuzz preset (clang, ASan+UBSan) and fuzzes each for FUZZ_SECONDS (15) from
# its checked-in corpus. New inputs stay in build-fuzz; a crash fails the run
# and leaves its reproducer in build-fuzz/fuzz-smoke/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-15}"
out=build-fuzz/fuzz-smoke

cmake --preset fuzz >/dev/null
cmake --build build-fuzz --target fuzzers >"$out.build.log" 2>&1 || {
  tail -n 50 "$out.build.log"
  echo "fuzz-smoke: build failed (full log: $out.build.log)" >&2
  exit 1
}
mkdir -p "$out"
while read -r name binary corpus; do
  [ -n "$name" ] || continue
  mkdir -p "$out/$name.corpus"
  log="$out/$name.log"
  if "$binary" -max_total_time="$seconds" -max_len=4096 -artifact_prefix="$out/$name-" \
      "$out/$name.corpus" "$corpus" >"$log" 2>&1; then
    echo "fuzz-smoke: $name ok, $(grep -o 'Done [0-9]* runs' "$log" | tail -n 1 | cut -d' ' -f2) runs in ${seconds} s"
  else
    tail -n 40 "$log"
    echo "fuzz-smoke: $name FAILED; reproducer: $(ls "$out/$name-"* 2>/dev/null | head -n 1)" >&2
    exit 1
  fi
done <build-fuzz/tests/fuzz/fuzz_targets.txt
