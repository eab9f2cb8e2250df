#!/bin/sh
# check-docs-uptodate.sh SRCDIR GENERATED_MD
#
# Fails when the committed option reference, SRCDIR/docs/options.md, is not
# byte for byte the one the build just generated from schema/config.xsd
# (GENERATED_MD, the options.md target of docs/meson.build).  The schema is
# the only list of options (STYLE 3); the committed copy exists so that the
# reference can be read without building, and this test keeps it honest.
#
# Exit status: 0 up to date, 1 out of date or missing, 99 (meson's "hard
# error") when called wrongly or the generated file is missing.

if [ "$#" -ne 2 ]; then
	echo "usage: $0 SRCDIR GENERATED_MD" >&2
	exit 99
fi

committed=$1/docs/options.md
generated=$2

if [ ! -f "$generated" ]; then
	echo "check-docs-uptodate: generated file $generated not found; build the options.md target first" >&2
	exit 99
fi

if [ ! -f "$committed" ]; then
	echo "check-docs-uptodate: $committed is missing."
	echo "Run \`make docs\` to regenerate it from schema/config.xsd, then commit it."
	exit 1
fi

if cmp -s "$committed" "$generated"; then
	exit 0
fi

echo "check-docs-uptodate: docs/options.md is out of date with schema/config.xsd."
# A summary: how many lines differ, which option headings changed, and the
# start of the diff.
if command -v diff >/dev/null 2>&1; then
	d=$(diff -u "$committed" "$generated")
	# The body, without the two "---"/"+++" file lines.
	body=$(printf '%s\n' "$d" | tail -n +3)
	added=$(printf '%s\n' "$body" | grep -c '^+')
	removed=$(printf '%s\n' "$body" | grep -c '^-')
	echo "  $removed line(s) only in the committed copy, $added line(s) only in the generated one."
	headings=$(printf '%s\n' "$body" | grep -E '^[-+]#{2,3} ' | head -n 20)
	if [ -n "$headings" ]; then
		echo "  Sections added (+) or removed (-):"
		printf '%s\n' "$headings" | sed 's/^/    /'
	fi
	echo "  First differences:"
	printf '%s\n' "$d" | head -n 40 | sed 's/^/    /'
	lines=$(printf '%s\n' "$d" | wc -l)
	if [ "$lines" -gt 40 ]; then
		echo "    ... ($lines lines of diff in all)"
	fi
else
	echo "  (diff(1) not found: $committed and $generated differ)"
fi
echo "Run \`make docs\` to regenerate docs/options.md, then commit it."
exit 1
