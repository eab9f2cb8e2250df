#!/bin/sh
# check-layers.sh SOURCE_ROOT
#
# STYLE 1: dependencies go one way.  lib/ and include/ms/ (libms) must not
# include a header from workers/ or msconfig/.  An include is refused when
#   - its path names one of those trees ("../workers/mta/queue.h"), or
#   - a quoted include resolves, next to the including file, into them, or
#   - it is not a libms header and is the tail of a header path inside them
#     (<store/mailbox.h>, "smtp_session.h": reachable through an -I of an
#     upper layer).
# Other includes (system headers, <ms/...>, generated headers) pass.
# Exit 0 when clean; 1, with one line per offending include, otherwise;
# 2 on a usage error.
set -u

root=${1:-}
if [ -z "$root" ] || [ ! -d "$root" ]; then
	echo "usage: $0 SOURCE_ROOT" >&2
	exit 2
fi
cd "$root" || exit 2
top=$(pwd -P)

# Headers of the upper layers, one path per line, relative to the root.
upper=$(find workers msconfig -type f -name '*.h' 2>/dev/null | sort)
files=$(find lib include/ms -type f \( -name '*.c' -o -name '*.h' \) 2>/dev/null | sort)

is_upper_path() { # absolute path -> true when inside workers/ or msconfig/
	case "$1" in
	"$top"/workers/* | "$top"/msconfig/*) return 0 ;;
	esac
	return 1
}

status=0
for f in $files; do
	hits=$(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]' "$f")
	[ -n "$hits" ] || continue
	while IFS= read -r hit; do
		line=${hit%%:*}
		text=${hit#*:}
		inc=$(printf '%s\n' "$text" | sed 's/^[^<"]*[<"]\([^>"]*\)[>"].*/\1/')
		bad=
		case "/$inc" in
		*/workers/* | */msconfig/*) bad=yes ;;
		esac
		if [ -z "$bad" ]; then
			quoted=
			case "$text" in *\"*) quoted=yes ;; esac
			dir=$(dirname "$f")
			if [ -n "$quoted" ] && [ -f "$dir/$inc" ]; then
				real=$(cd "$(dirname "$dir/$inc")" && pwd -P)/$(basename "$inc")
				is_upper_path "$real" && bad=yes
			elif [ -f "include/$inc" ] || [ -f "lib/$inc" ]; then
				:
			elif [ -n "$upper" ] &&
			     printf '%s\n' "$upper" | awk -v inc="/$inc" \
				'{ if (length($0) >= length(inc) && substr($0, length($0) - length(inc) + 1) == inc) found = 1 }
				 END { exit !found }'; then
				bad=yes
			fi
		fi
		if [ -n "$bad" ]; then
			echo "$f:$line: includes \"$inc\", a header of workers/ or msconfig/ (STYLE 1: libms must not depend on the layers above it)"
			status=1
		fi
	done <<HITS
$hits
HITS
done

if [ "$status" -eq 0 ]; then
	echo "check-layers: lib/ and include/ms/ include nothing from workers/ or msconfig/"
fi
exit $status
