#!/usr/bin/env bash
# Regenerate the matrix in docs/pkvm-model.md from the model itself:
#   gen-doc.sh XSW_MODEL DOC CPU_FILE...
# Replaces what lies between the "model-matrix:begin" and "model-matrix:end"
# markers with `xsw-model --matrix --markdown --cpu ...`. Never edit the
# table by hand: tests/integration/pkvm_model.sh compares it with the tool.
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 XSW_MODEL DOC CPU_FILE..." >&2; exit 2; }
tool=$1 doc=$2; shift 2
args=()
for f in "$@"; do args+=(--cpu "$f"); done
grep -q '^<!-- model-matrix:begin' "$doc" || { echo "$doc: no '<!-- model-matrix:begin -->' marker" >&2; exit 2; }
grep -q '^<!-- model-matrix:end' "$doc" || { echo "$doc: no '<!-- model-matrix:end -->' marker" >&2; exit 2; }
table=$(mktemp)
trap 'rm -f "$table" "$table.new"' EXIT
"$tool" --matrix --markdown "${args[@]}" >"$table"
awk -v table="$table" '
	/^<!-- model-matrix:begin/ { print; while ((getline line < table) > 0) print line; skip = 1; next }
	/^<!-- model-matrix:end/ { skip = 0 }
	!skip { print }
' "$doc" >"$table.new"
mv "$table.new" "$doc"
echo "  GEN      ${doc#"${XSW_TOP:-$PWD}"/}"
