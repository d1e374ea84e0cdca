#!/usr/bin/env bash
# Build the libFuzzer targets of tests/fuzz with clang (ASan + UBSan + coverage,
# in build-asan, shared with scripts/sanitize.sh asan: scripts/asan-build.sh) and run each for a bounded time on a copy of its seed corpus
# (tests/fuzz/corpus/<target>/, never written to). Fails when a target finds a
# crash, a sanitizer report, a broken invariant, a timeout or runs out of memory;
# the input that did it is kept in build-asan/fuzz-artifacts/.
#   Usage: scripts/fuzz.sh [seconds-per-target]   (default 60)
#   FUZZ_TARGETS="fuzz_query fuzz_coords" picks targets; ASAN_JOBS=N builds
#   with N jobs (default: the number of cores).
# Reproduce a finding: build-asan/tests/fuzz/<target> build-asan/fuzz-artifacts/<target>-crash-...
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
seconds=${1:-60}
targets=${FUZZ_TARGETS:-"fuzz_geojson fuzz_query fuzz_coords fuzz_tile_path"}
build=build-asan
start=$(date +%s)
# shellcheck disable=SC2086
bash scripts/asan-build.sh $targets
echo "fuzz: built in $(($(date +%s) - start)) s"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
artifacts="$repo/$build/fuzz-artifacts"
mkdir -p "$artifacts"
symbolizer=$(command -v llvm-symbolizer || true)
# Reports inside third-party libraries only: see the file.
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:allocator_may_return_null=1${symbolizer:+:external_symbolizer_path=$symbolizer}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$repo/tests/sanitizer/ubsan.supp"
export LSAN_OPTIONS="suppressions=$repo/tests/sanitizer/lsan.supp:print_suppressions=0"
# The API targets keep their GeoPackage here.
export TMPDIR="$work"

failed=()
for t in $targets; do
  cp -r "tests/fuzz/corpus/$t" "$work/corpus-$t"
  dict=()
  [ -f "tests/fuzz/corpus/$t.dict" ] && dict=("-dict=tests/fuzz/corpus/$t.dict")
  echo "fuzz: $t for ${seconds} s ($(find "$work/corpus-$t" -type f | wc -l) seeds)"
  if nice -n 10 "$build/tests/fuzz/$t" "${dict[@]}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
       -print_final_stats=1 -artifact_prefix="$artifacts/$t-" "$work/corpus-$t" >"$work/$t.log" 2>&1; then
    grep -E '^stat::(number_of_executed_units|new_units_added|peak_rss_mb)' "$work/$t.log" | sed "s/^/  /" || true
    echo "  corpus: $(find "$work/corpus-$t" -type f | wc -l) inputs"
  else
    echo "fuzz: $t FAILED; its log:" >&2
    tail -n 80 "$work/$t.log" >&2
    failed+=("$t")
  fi
done
echo "fuzz: done in $(($(date +%s) - start)) s"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: ${#failed[@]} target(s) found a problem: ${failed[*]} (inputs in $artifacts)" >&2
  exit 1
fi
echo "fuzz: $(echo $targets | wc -w) targets, no crash"
