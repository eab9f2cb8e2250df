#!/bin/sh
# Run every test of the project and end with the line "N passed, N failed":
#   1. the normal build (warnings are errors) and `meson test` (unit + script)
#   2. the unit tests again under AddressSanitizer and UBSan
#   3. the end-to-end suite (pytest, real programs on a throwaway instance)
#   4. the fuzzers, each for a fixed time (FUZZ_SECONDS, default 30)
# A stage that cannot even build counts as one failure and the run goes on.
set -u
cd "$(dirname "$0")/.." || exit 1
top=$(pwd)
PY=/usr/bin/python3
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
passed=0
failed=0
log() { printf '== %s\n' "$*"; }

# Count meson results from a testlog.json.
meson_counts() {
	$PY - "$1" <<'PYEOF'
import json, sys
p = f = 0
try:
    for line in open(sys.argv[1]):
        r = json.loads(line).get("result")
        if r in ("OK", "EXPECTEDFAIL"):
            p += 1
        elif r in ("FAIL", "UNEXPECTEDPASS", "TIMEOUT", "ERROR"):
            f += 1
except OSError:
    f = 1
print(p, f)
PYEOF
}

add() { passed=$((passed + $1)); failed=$((failed + $2)); }

build_dir() { # dir, setup args...
	dir=$1
	shift
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$@" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; return 1; }
	fi
	ninja -C "$dir" >"$dir.ninja.log" 2>&1 || { tail -50 "$dir.ninja.log"; return 1; }
}

log "build (warnings are errors)"
if build_dir build; then
	log "meson test"
	meson test -C build --print-errorlogs --no-rebuild || true
	set -- $(meson_counts build/meson-logs/testlog.json)
	add "$1" "$2"
else
	echo "build failed"
	add 0 1
fi

log "unit tests under AddressSanitizer and UBSan"
if build_dir build-asan -Db_sanitize=address,undefined -Db_lundef=false; then
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C build-asan --suite unit --print-errorlogs --no-rebuild || true
	set -- $(meson_counts build-asan/meson-logs/testlog.json)
	add "$1" "$2"
else
	echo "sanitizer build failed"
	add 0 1
fi

if [ -f build/build.ninja ]; then
	log "end-to-end tests"
	rm -f build/e2e-junit.xml
	MS_BUILD_DIR="$top/build" $PY -m pytest -q -p no:cacheprovider \
		--junitxml=build/e2e-junit.xml tests/e2e || true
	set -- $($PY - build/e2e-junit.xml <<'PYEOF'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
    suites = [root] if root.tag == "testsuite" else list(root)
    t = sum(int(s.get("tests", 0)) for s in suites)
    f = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
    sk = sum(int(s.get("skipped", 0)) for s in suites)
    print(t - f - sk, f)
except Exception:
    print(0, 1)
PYEOF
)
	add "$1" "$2"
fi

log "fuzzers (${FUZZ_SECONDS}s each)"
if command -v clang >/dev/null 2>&1 &&
	CC=clang build_dir build-fuzz -Dfuzz=true -Db_sanitize=address,undefined \
		-Db_lundef=false -Dc_args=-fsanitize=fuzzer-no-link; then
	out=$(tests/fuzz/run.sh build-fuzz "$FUZZ_SECONDS" 2>&1)
	printf '%s\n' "$out"
	p=$(printf '%s\n' "$out" | grep -c '^fuzz .*: ok')
	f=$(printf '%s\n' "$out" | grep -c '^fuzz .*: FAILED')
	add "$p" "$f"
else
	echo "fuzz build failed"
	add 0 1
fi

mkdir -p build
echo "$passed passed, $failed failed" | tee build/test-summary.txt
[ "$failed" -eq 0 ]
