#!/usr/bin/env bash
# xstate-size: the size model's command line. Asserts the published AMX
# figures through the binary, that --dump-cpu writes a model that reads back
# to the same answers, and that bad input (malformed model, unknown feature
# name, unsupported mask, bad option) fails with a message naming it.
source "$(dirname "$0")/../lib/tap.sh"
X=$XSW_BUILD/tools/xstate-size/xstate-size
[ -x "$X" ] || t_skip_all "$X not built (make all)"
F=$XSW_TOP/tests/fixtures/cpu
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

out=$("$X" --cpu-model "$F/sapphire-rapids-w9-3475x.cpu" 0x602e7 'x87|sse|avx|avx512|pkru' 2>&1)
t_eq "SPR 0x602e7: 11008 standard, 10752 compacted" \
	"$(awk '$2=="0x602e7" {print $4, $6}' <<<"$out")" "11008 10752"
t_eq "SPR 0x2e7 by names: 2696 standard" "$(awk '$2=="0x2e7" {print $4}' <<<"$out")" "2696"

"$X" --dump-cpu >"$tmp/host.cpu"
t_eq "--dump-cpu then --cpu-model gives the host's own answers" \
	"$("$X" --cpu-model "$tmp/host.cpu" | tail -n +2)" "$("$X" | tail -n +2)"

grep -v '^leaf=0x0000000d subleaf=0x12' "$F/sapphire-rapids-w9-3475x.cpu" >"$tmp/cut.cpu"
out=$("$X" --cpu-model "$tmp/cut.cpu" 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q "cut.cpu: component 18 (xtiledata)" <<<"$out"; then
	t_ok "model missing the XTILEDATA sub-leaf: exit 1, names file and component"
else
	t_fail "model missing the XTILEDATA sub-leaf" "rc=$rc out=$out"
fi

printf 'format=xstate-watch-cpu-model/1\nleaf=0x0000000d subleaf=0x00 eax=0x7 ebx=0x340\n' >"$tmp/trunc.cpu"
out=$("$X" --cpu-model "$tmp/trunc.cpu" 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q "trunc.cpu:2: field 'ecx': missing" <<<"$out"; then
	t_ok "truncated register line: exit 1, names file, line and field"
else
	t_fail "truncated register line" "rc=$rc out=$out"
fi

out=$("$X" --cpu-model "$F/zen4-genoa-epyc9654.cpu" 'x87|sse|tiles' 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q "unknown xfeature name 'tiles'" <<<"$out"; then
	t_ok "unknown feature name: exit 1, names the token"
else
	t_fail "unknown feature name" "rc=$rc out=$out"
fi

out=$("$X" --cpu-model "$F/zen4-genoa-epyc9654.cpu" amx 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q "xtilecfg|xtiledata) not supported" <<<"$out"; then
	t_ok "mask the CPU lacks (AMX on Zen 4): exit 1, says which features"
else
	t_fail "unsupported mask" "rc=$rc out=$out"
fi

out=$("$X" --cpu-model "$F/zen4-genoa-epyc9654.cpu" --check-deps 0x27 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q "all or none" <<<"$out"; then
	t_ok "--check-deps: partial AVX-512 rejected"
else
	t_fail "--check-deps partial AVX-512" "rc=$rc out=$out"
fi

"$X" --frobnicate >/dev/null 2>&1; rc=$?
t_eq "unknown option: exit 2" "$rc" "2"
# The running kernel's own figure: at boot it prints the features it enabled
# and the size of its buffer for them ("Enabled xstate features 0x..,
# context size is N bytes, using 'compacted' format."). The model must agree
# on this CPU.
boot=$(dmesg 2>/dev/null | grep -o "Enabled xstate features 0x[0-9a-f]*, context size is [0-9]* bytes, using '[a-z]*' format" | tail -1)
if [ -n "$boot" ]; then
	read -r mask size fmt < <(sed -E "s/.*features (0x[0-9a-f]+), context size is ([0-9]+) bytes, using '([a-z]+)'.*/\1 \2 \3/" <<<"$boot")
	t_eq "kernel boot figure ($mask: $size bytes, $fmt) = size model" \
		"$("$X" "$mask" | awk -v f="$fmt" '$1 == "mask" { for (i = 1; i < NF; i++) if ($i == f) print $(i + 1) }')" "$size"
else
	t_skip "kernel boot figure = size model" "no 'Enabled xstate features' line in dmesg (ring buffer rotated, or dmesg restricted)"
fi
t_done
