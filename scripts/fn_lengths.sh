#!/usr/bin/env bash
# Lists the longest C functions (lines from the signature to the closing
# brace) of the given files or directories, longest first:
#   scripts/fn_lengths.sh [-n COUNT] [PATH...]     default: -n 15 src/runtime
# Needs Universal Ctags (its `end:` field).
set -euo pipefail
count=15
if [[ "${1:-}" == "-n" ]]; then
	count=$2
	shift 2
fi
[[ $# -gt 0 ]] || set -- src/runtime
mapfile -t files < <(find "$@" -name '*.c' | sort)
[[ ${#files[@]} -gt 0 ]] || { echo "no .c files under $*" >&2; exit 1; }
ctags --output-format=u-ctags --fields=+ne --c-kinds=f -f - "${files[@]}" |
	awk -F'\t' '{
		line = ""; end = "";
		for (i = 4; i <= NF; i++) {
			if ($i ~ /^line:/) line = substr($i, 6);
			if ($i ~ /^end:/) end = substr($i, 5);
		}
		if (line != "" && end != "") printf "%5d  %-32s %s:%d\n", end - line + 1, $1, $2, line;
	}' | sort -k1,1nr -k2 | head -n "$count"
