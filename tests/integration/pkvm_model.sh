#!/usr/bin/env bash
# The pKVM model end to end: the issue 87 report reproduces through the
# collector's engine with the exit status of an invariant failure, the fixes
# hold, Zen 4 and this machine never violate, matrix cells equal figures
# computed by the size model (xstate-size), and docs/pkvm-model.md's table
# is exactly the tool's output.
source "$(dirname "$0")/../lib/tap.sh"

model=$XSW_BUILD/tools/xstate-watch/xsw-model
size=$XSW_BUILD/tools/xstate-size/xstate-size
cpus=$XSW_TOP/tests/fixtures/cpu
spr=$cpus/sapphire-rapids-w9-3475x.cpu
[ -x "$model" ] || { t_fail "xsw-model is built" "missing $model (make all)"; t_done; exit; }
[ -x "$size" ] || { t_fail "xstate-size is built" "missing $size (make all)"; t_done; exit; }

# size MASK FORMAT: the size model's figure for MASK on Sapphire Rapids.
size_of() {
	"$size" --cpu-model "$spr" "$1" | awk -v fmt="$2" '$1 == "mask" {
		for (i = 1; i < NF; i++) if ($i == fmt) print $(i + 1) }'
}
need=$(size_of 0x602e7 compacted)
std_max=$(size_of 0x602e7 standard)
std_default=$(size_of 0x202e7 standard)
page_align() { echo $(( ($1 + 4095) / 4096 * 4096 )); }
held=$(page_align $((64 + std_default)))

out=$("$model" --cpu "$spr" --vmm crosvm --policy current 2>&1); rc=$?
t_eq "reported case: exit status 3 (invariant failed)" "$rc" 3
t_check "reported case: __xfd_enable_feature cur=$held need=$need -ENOMEM" \
	grep -q "cur=$held need=$need -> ENOMEM" <<<"$out"
t_check "reported case: engine I5 violation with held $held, need $need" \
	bash -c 'grep -A3 "VIOLATION I5" <<<"$1" | grep -q "held $2 bytes" &&
		 grep -A3 "VIOLATION I5" <<<"$1" | grep -q "need $3 bytes"' _ "$out" "$held" "$need"
t_check "reported case: context names pid, comm, vm, vcpu and the exposing event" \
	grep -q "pid 1000 comm crosvm vm 0x1 vcpu 0 (exposed by" <<<"$out"
t_eq "reported case: the field report's figures" "$held/$need" "4096/10752"

json=$(mktemp)
trap 'rm -f "$json"' EXIT
"$model" --cpu "$spr" --vmm crosvm --policy current --json "$json" >/dev/null 2>&1
t_check "--json: the trace has the set_cpuid event and the violation" \
	bash -c 'grep -q "\"event\":\"violation\"" "$1" && grep -q "\"event\":\"set_cpuid\"" "$1"' _ "$json"

for p in pr77-max-size pr88-align perm-sync; do
	"$model" --cpu "$spr" --vmm crosvm --policy "$p" >/dev/null 2>&1; rc=$?
	t_eq "Sapphire Rapids, crosvm, $p: invariants hold (exit 0)" "$rc" 0
done
"$model" --cpu "$spr" --vmm qemu --policy current >/dev/null 2>&1; rc=$?
t_eq "Sapphire Rapids, qemu with permission, current: holds" "$rc" 0

for cpu in zen4-genoa-epyc9654 host; do
	rows=$("$model" --matrix --cpu "$cpus/$cpu.cpu" | awk 'NR > 1 { n++; if ($4 == "holds") ok++ }
		END { print ok + 0 "/" n + 0 }')
	t_eq "$cpu: no VMM behaviour and no policy violates (rows holding/all)" "$rows" "16/16"
done

matrix=$("$model" --matrix --markdown --cpu "$spr")
cell() { awk -F' \\| ' -v v="$1" -v p="$2" -v c="$3" '$2 == v && $3 == p { print $c }' <<<"$matrix"; }
t_eq "matrix: PR 77 costs PAGE_ALIGN(64 + fpu_user_cfg.max_size) bytes per vCPU" \
	"$(cell crosvm pr77-max-size 8)" "$(page_align $((64 + std_max)))"
t_eq "matrix: current holds $held bytes per vCPU for crosvm" "$(cell crosvm current 8)" "$held"
t_eq "matrix: PR 77 still changes the guest CPUID behind the VMM" "$(cell crosvm pr77-max-size 7)" "yes"
t_eq "matrix: PR 88 leaves the guest CPUID as the VMM installed it" \
	"$(cell crosvm pr88-align 6)" "$(cell crosvm pr88-align 5)"
t_eq "matrix: current on crosvm is an I5 violation" "$(cell crosvm current 4)" "VIOLATED"

doc=$XSW_TOP/docs/pkvm-model.md
args=()
for f in "$cpus"/*.cpu; do args+=(--cpu "$f"); done
want=$("$model" --matrix --markdown "${args[@]}")
got=$(sed -n '/^<!-- model-matrix:begin/,/^<!-- model-matrix:end/p' "$doc" | sed '1d;$d')
if [ "$got" = "$want" ]; then
	t_ok "docs/pkvm-model.md matrix equals the tool's output"
else
	t_fail "docs/pkvm-model.md matrix equals the tool's output" \
		"run 'make model-doc'; diff:
$(diff <(echo "$got") <(echo "$want") | head -20)"
fi

err=$("$model" --cpu /nonexistent.cpu --vmm crosvm --policy current 2>&1); rc=$?
t_eq "missing CPU file: exit 2" "$rc" 2
t_check "missing CPU file: the error names it" grep -q "/nonexistent.cpu" <<<"$err"
err=$("$model" --cpu "$spr" --vmm crosvm --policy pr99 2>&1); rc=$?
t_eq "unknown policy: exit 2" "$rc" 2
t_check "unknown policy: the error names it" grep -q "'pr99'" <<<"$err"

t_done
