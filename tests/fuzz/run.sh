#!/bin/sh
# Run the libFuzzer targets of tests/fuzz.
#
#   tests/fuzz/run.sh BUILDDIR SECONDS
#
# BUILDDIR is a build directory configured for fuzzing (see
# tests/fuzz/meson.build); SECONDS is how long each target fuzzes
# (-max_total_time).  SECONDS 0 only replays the seed corpus once, as the
# `fuzz` test suite does.  Each target works on a copy of its seed corpus
# (tests/fuzz/corpus/NAME) in a temporary directory, so the checked-in
# corpus is never written; new inputs found are thrown away with it.  One
# line per target:
#   fuzz NAME: ok (N runs)
#   fuzz NAME: FAILED (crash file: PATH)
# A crash file is kept (moved under $FUZZ_CRASH_DIR, default $TMPDIR or
# /tmp) with the log, and the line after the summary says how to replay it.
# Reproducers of known bugs live in the corpus as repro-*: while such a
# bug is open its target fails on the seeds, before any fuzzing.  Exit status 0 when every target passed, 1 otherwise, 2 on usage.
# The sanitizers' environment passes through: while a known leak is being
# fixed, LSAN_OPTIONS=suppressions=FILE keeps it from hiding new findings.
set -u

usage() {
	echo "usage: $0 BUILDDIR SECONDS" >&2
	exit 2
}
[ $# -eq 2 ] || usage
build=$1
seconds=$2
case $seconds in '' | *[!0-9]*) usage ;; esac
here=$(cd "$(dirname "$0")" && pwd)

# Options common to every target.  -max_len keeps inputs to the sizes
# real option names and config files have; -timeout catches hangs; the
# rss limit catches blow-ups (entity expansion, runaway recursion).
common="-timeout=10 -rss_limit_mb=2048 -print_final_stats=1"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/msfuzz.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
crashdir=${FUZZ_CRASH_DIR:-${TMPDIR:-/tmp}}

failed=0
for name in optname configxml ctl mapping address smtpparse qenv imapparse bodystructure; do
	exe=$build/tests/fuzz/fuzz_$name
	if [ ! -x "$exe" ]; then
		echo "fuzz $name: FAILED (no $exe: configure BUILDDIR with -Dfuzz=true and clang)"
		failed=1
		continue
	fi
	case $name in
	optname) maxlen=256 ;;
	configxml) maxlen=16384 ;;
	ctl) maxlen=4096 ;;
	mapping) maxlen=4096 ;;
	address) maxlen=1024 ;;
	smtpparse) maxlen=1024 ;;
	qenv) maxlen=4096 ;;
	imapparse) maxlen=2048 ;;
	bodystructure) maxlen=8192 ;;
	esac
	work=$tmp/$name
	mkdir -p "$work/corpus" "$work/artifacts"
	cp "$here/corpus/$name/"* "$work/corpus/" 2>/dev/null
	log=$work/log
	if [ "$seconds" -eq 0 ]; then
		# Replay each seed once: no mutation, nothing written.
		"$exe" $common -runs=0 -artifact_prefix="$work/artifacts/" \
			"$work/corpus" >"$log" 2>&1
	else
		"$exe" $common -max_len=$maxlen -max_total_time="$seconds" \
			-dict="$here/$name.dict" -artifact_prefix="$work/artifacts/" \
			"$work/corpus" >"$log" 2>&1
	fi
	status=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	crash=$(ls "$work/artifacts/" 2>/dev/null | head -n 1)
	if [ $status -eq 0 ] && [ -z "$crash" ]; then
		echo "fuzz $name: ok (${runs:-0} runs)"
		continue
	fi
	failed=1
	keep=$(mktemp -d "$crashdir/msfuzz-$name-crash.XXXXXX")
	cp "$log" "$keep/log"
	if [ -n "$crash" ]; then
		mv "$work/artifacts/$crash" "$keep/"
		echo "fuzz $name: FAILED (crash file: $keep/$crash, log: $keep/log)"
	else
		echo "fuzz $name: FAILED (exit status $status, log: $keep/log)"
	fi
	# What broke: the target's message, the sanitizer's verdict and the
	# project's frames of the stack.
	grep -E '^(==[0-9]+==ERROR|SUMMARY|fuzz_|  [a-z]|    #[0-9]+ )' "$keep/log" |
		grep -vE 'fuzzer::|__sanitizer_|libc\.so|libc_start|_start |in main ' | head -n 20 | sed 's/^/  /'
	[ -n "$crash" ] && echo "  reproduce: $exe $keep/$crash"
done
exit $failed
