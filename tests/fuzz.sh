#!/usr/bin/env bash
# Fuzzing with cargo-fuzz (libFuzzer, nightly Rust): builds every target in tests/fuzz and runs
# each for SECONDS (default 30), starting from the committed seeds in tests/fuzz/corpus/<target>.
# New inputs the fuzzer finds go to tests/fuzz/corpus-work/<target> (not committed); a crash,
# panic, timeout (10s for one input) or memory blow-up (2 GiB) stops the run, saves the input
# under tests/fuzz/artifacts/<target>/ and makes this script exit non-zero.
#
#   tests/fuzz.sh            # 30s per target
#   tests/fuzz.sh 300        # 5 minutes per target
#
# A crash found here becomes a regression test: copy the artifact into
# tests/fuzz/corpus/<target>/ and tests/fuzz_corpus.rs replays it on stable Rust.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
seconds="${1:-30}"
fuzz_dir=tests/fuzz

if ! cargo +nightly --version >/dev/null 2>&1; then
	echo "fuzz: cargo-fuzz needs the nightly toolchain: rustup toolchain install nightly" >&2
	exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
	echo "fuzz: installing cargo-fuzz (once per machine)" >&2
	cargo install cargo-fuzz --locked
fi

started=$SECONDS
cargo +nightly fuzz build --fuzz-dir "$fuzz_dir"
echo "fuzz: built the targets in $((SECONDS - started))s" >&2

failed=0
summary=()
for target in $(cargo +nightly fuzz list --fuzz-dir "$fuzz_dir"); do
	work="$fuzz_dir/corpus-work/$target"
	log="$fuzz_dir/corpus-work/$target.log"
	mkdir -p "$work"
	echo "fuzz: $target for ${seconds}s" >&2
	# The first corpus directory receives new inputs; the committed seeds stay untouched.
	if cargo +nightly fuzz run --fuzz-dir "$fuzz_dir" "$target" "$work" "$fuzz_dir/corpus/$target" -- \
		-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		>"$log" 2>&1; then
		result=ok
	else
		result=FAILED
		failed=1
		tail -n 40 "$log" >&2
	fi
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
	summary+=("$target: $result, ${execs:-?} execs in ${seconds}s (${rate:-?}/s), corpus $(find "$work" -type f | wc -l) inputs")
done
printf 'fuzz: %s\n' "${summary[@]}" >&2
exit "$failed"
