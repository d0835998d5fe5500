#!/usr/bin/env bash
# Fuzzes what zhenggai reads from users (cargo-fuzz, libFuzzer, AddressSanitizer) and says whether anything broke.
#
#   deploy/fuzz.sh [--seconds N] [target ...]
#
# Targets (default: every one in fuzz/Cargo.toml): workbook_import workbook_sheet form_text id_number households
# division_csv. Each runs N seconds (default 60) on a copy of its seeds: fuzz/corpus/<target> is copied into
# target/fuzz-corpus/<target>, where what the fuzzer learns accumulates from run to run without ever growing the
# committed seeds; fuzz/dictionaries/<target>.dict, where there is one, gives the fuzzer its words. An input that
# crashes, panics, runs longer than 10 s or takes more than 2 GB is kept in target/fuzz-artifacts/<target>/ (the
# run's output beside it, <target>.log); replay one with `target/fuzz/x86_64-unknown-linux-gnu/release/<target> <file>`.
# It installs cargo-fuzz if missing and builds on the stable toolchain: RUSTC_BOOTSTRAP=1 lets it take the nightly
# flags cargo fuzz passes (-Zsanitizer=address). Cargo runs in fuzz/, so fuzz/.cargo/config.toml applies: our crates
# with overflow checks, the dependencies wrapping as in production. It prints one line per target and exits non-zero
# if any target found a crash.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

seconds=60
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    -*) echo "fuzz: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1
# A target dir of its own: the instrumented build never invalidates (or waits on) the ordinary one.
target_dir="$root/target/fuzz"
fuzz() { (cd "$root/fuzz" && cargo fuzz "$1" --fuzz-dir . "${@:2}"); }

mapfile -t all < <(fuzz list)
if [ ${#targets[@]} -eq 0 ]; then
  targets=("${all[@]}")
fi
for t in "${targets[@]}"; do
  [[ " ${all[*]} " == *" $t "* ]] || { echo "fuzz: no target $t (targets: ${all[*]})" >&2; exit 2; }
done

fuzz build --target-dir "$target_dir"

# The last value libFuzzer printed for a final statistic (-print_final_stats=1).
final_stat() { sed -n "s/^stat::$2: *//p" "$1" | tail -n 1; }

failed=()
summary=()
for t in "${targets[@]}"; do
  corpus="$root/target/fuzz-corpus/$t"
  artifacts="$root/target/fuzz-artifacts/$t"
  log="$root/target/fuzz-artifacts/$t.log"
  mkdir -p "$corpus" "$artifacts"
  cp -R "fuzz/corpus/$t/." "$corpus/"
  before="$(find "$artifacts" -type f | wc -l)"
  echo "fuzz: $t for ${seconds}s" >&2
  options=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/")
  [ -f "fuzz/dictionaries/$t.dict" ] && options+=(-dict="$root/fuzz/dictionaries/$t.dict")
  rc=0
  fuzz run --target-dir "$target_dir" "$t" "$corpus" -- "${options[@]}" >"$log" 2>&1 || rc=$?
  runs="$(final_stat "$log" number_of_executed_units)"
  speed="$(final_stat "$log" average_exec_per_sec)"
  rss="$(final_stat "$log" peak_rss_mb)"
  files="$(find "$corpus" -type f | wc -l)"
  size="$(find "$corpus" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%d", (s + 1023) / 1024 }')"
  found="$(find "$artifacts" -type f | wc -l)"
  if [ "$found" -gt "$before" ] || [ "$rc" -ne 0 ]; then
    newest="$(ls -t "$artifacts" 2>/dev/null | head -n 1)"
    verdict="CRASH (exit $rc): ${newest:+${artifacts#"$root/"}/$newest, }see ${log#"$root/"}"
    failed+=("$t")
  else
    verdict="no crash"
  fi
  summary+=("$(printf '%-16s %12s runs %8s exec/s %6s MB peak  corpus %5s files %6s KB  %s' \
    "$t" "${runs:-?}" "${speed:-?}" "${rss:-?}" "$files" "$size" "$verdict")")
  echo "${summary[-1]}" >&2
done

echo
echo "fuzz: ${seconds}s per target"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: crashes in ${failed[*]}" >&2
  exit 1
fi
