#!/usr/bin/env bash
# xstate-watch replay on crafted traces (tests/fixtures/traces/*.jsonl): each
# violation path reported with its full context and exit status 3, the
# clean traces silent with status 0, lints failing only with --strict, and
# a --json trace replaying to the same verdicts. Needs no root, no KVM.
set -uo pipefail
. "$(dirname "$0")/../lib/tap.sh"

W=$XSW_BUILD/tools/xstate-watch/xstate-watch
T=$XSW_TOP/tests/fixtures/traces
SPR=$XSW_TOP/tests/fixtures/cpu/sapphire-rapids-w9-3475x.cpu
[ -x "$W" ] || t_skip_all "xstate-watch not built: $W missing (make all)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# replay NAME [ARGS...]: output in $tmp/NAME.out, KTAP in $tmp/NAME.ktap, status in $rc
replay() {
	local name=$1; shift
	"$W" replay --cpu-model "$SPR" --ktap "$tmp/$name.ktap" "$@" "$T/$name.jsonl" \
		>"$tmp/$name.out" 2>&1
	rc=$?
}
# NAME is the output of replay NAME; NAME.ktap its KTAP file.
out_of() { case $1 in *.*) echo "$tmp/$1" ;; *) echo "$tmp/$1.out" ;; esac; }
has() { grep -qF -- "$2" "$(out_of "$1")"; }
# check DESC NAME STRING...: every STRING in NAME's output
check() {
	local desc=$1 name=$2 s missing=""; shift 2
	for s in "$@"; do has "$name" "$s" || missing+="  missing: $s"$'\n'; done
	if [ -z "$missing" ]; then t_ok "$desc"; else t_fail "$desc" "$missing$(cat "$(out_of "$name")")"; fi
}
count() { grep -c -- "$2" "$tmp/$1.out"; }

# pKVM-IA issue 87: the hypervisor's buffer holds 4096, its xcr0 needs 10752.
replay pkvm-amx-4096
t_eq "pkvm-amx-4096: exit status 3 (invariant failed)" "$rc" 3
check "pkvm-amx-4096: I5 with pid, comm, vCPU, both sizes and masks, the event" pkvm-amx-4096 \
	"VIOLATION I5 (hypervisor buffer): pid 4242 (crosvm) vm 0xffff888104a20000 vcpu 0, at set_cpuid" \
	"have:   4096 bytes" \
	"need:  10752 bytes  xfeatures 0x602e7 (x87|sse|avx|opmask|zmm_hi256|hi16_zmm|pkru|xtilecfg|xtiledata)" \
	'event: {"schema":1,"event":"set_cpuid","source":"model"' '"hyp_buffer_size":4096'
check "pkvm-amx-4096: the hypervisor's failed realloc is I5 too, with its errno" pkvm-amx-4096 \
	"VIOLATION I5 (hypervisor buffer): pid 4242 (crosvm) vm 0xffff888104a20000 vcpu 0, at fpstate_realloc" \
	"failed with ENOMEM"
t_eq "pkvm-amx-4096: nothing but I5" "$(grep -c '^xstate-watch: \(VIOLATION\|lint\)' "$tmp/pkvm-amx-4096.out")" 2
check "pkvm-amx-4096: KTAP fails I5 and ends with the totals lines" pkvm-amx-4096.ktap \
	"KTAP version 1" "not ok 6 pid 4242 (crosvm) vm0 vcpu0 I5 hypervisor buffer" \
	"# Totals: pass:6 fail:1 xfail:0 xpass:0 skip:0 error:0" "6 passed, 1 failed"

# A CPUID enabling a dynamic feature (XTILEDATA) without guest permission.
replay cpuid-dynamic-no-perm
t_eq "cpuid-dynamic-no-perm: exit status 3" "$rc" 3
check "cpuid-dynamic-no-perm: I3 names the missing feature and the permission" cpuid-dynamic-no-perm \
	"VIOLATION I3 (permission): pid 4242 (qemu-system-x86) vm 0xffff888104a20000 vcpu 0, at set_cpuid" \
	"have:   2440 bytes  xfeatures 0x2e7 (x87|sse|avx|opmask|zmm_hi256|hi16_zmm|pkru)" \
	"lacks 0x40000" "xtiledata"
t_eq "cpuid-dynamic-no-perm: only I3 fails (the buffer itself is big enough)" \
	"$(grep -c '^xstate-watch: VIOLATION' "$tmp/cpuid-dynamic-no-perm.out")" 1
# The host here has no XFD: the same trace sized with another CPU's model
# is the reason --cpu-model exists. Zen 4 has no dynamic features at all.
"$W" replay --cpu-model "$XSW_TOP/tests/fixtures/cpu/zen4-genoa-epyc9654.cpu" \
	"$T/cpuid-dynamic-no-perm.jsonl" >"$tmp/zen4.out" 2>&1
t_eq "cpuid-dynamic-no-perm on Zen 4 (no XFD): no I3" "$(grep -c 'VIOLATION I3' "$tmp/zen4.out")" 0

# A realloc that shrinks the guest buffer.
replay realloc-shrink
t_eq "realloc-shrink: exit status 3" "$rc" 3
check "realloc-shrink: I2 at the shrinking realloc, I1 for the inconsistent fpstate" realloc-shrink \
	"VIOLATION I2 (guest coverage): pid 4242 (qemu-system-x86) vm 0xffff888104a20000 vcpu 0, at fpstate_realloc" \
	"shrank the guest buffer 10752 -> 2440" \
	"VIOLATION I1 (fpstate self-consistency)" "have:   2440 bytes" "need:  10752 bytes"
t_eq "realloc-shrink: nothing before the shrink" \
	"$(grep -c 'at \(set_cpuid\|first_run\|vcpu_create\)' "$tmp/realloc-shrink.out")" 0

# The clean AMX lifecycle: silent, status 0, every invariant a passing test point.
# Recorded on the CI host: XTILEDATA in a VMM's CPUID grows uabi_size to
# 11008 while KVM_CAP_XSAVE2 (from KVM's supported xcr0 0xe7) says 4096.
replay xsave2-cap-short
t_eq "xsave2-cap-short: exit status 3" "$rc" 3
check "xsave2-cap-short: I4 at the realloc, the cap against the uABI size, both masks" xsave2-cap-short \
	"VIOLATION I4 (uABI size): pid 11021 (vcpu-lifecycle)" "at fpstate_realloc" \
	"have:   4096 bytes  xfeatures 0xe7" "need:  11008 bytes  xfeatures 0x600e7" \
	"guest_fpu.uabi_size 11008 > KVM_CAP_XSAVE2 4096 (KVM's xcr0 0xe7)"
t_eq "xsave2-cap-short: nothing but that I4" \
	"$(grep -c '^xstate-watch: \(VIOLATION\|lint\)' "$tmp/xsave2-cap-short.out")" 1
check "xsave2-cap-short: KTAP counts the realloc and fails I4 of the parent's vCPU" xsave2-cap-short.ktap \
	"pid 11021 (vcpu-lifecycle) vm0 vcpu0 lifecycle: created, cpuid generation 1, ran, 1 realloc(s), destroyed" \
	"not ok 11 pid 11021 (vcpu-lifecycle) vm0 vcpu0 I4 uABI size"

replay clean-amx
t_eq "clean-amx: exit status 0" "$rc" 0
t_eq "clean-amx: no finding" "$(grep -c '^xstate-watch: \(VIOLATION\|lint\)' "$tmp/clean-amx.out")" 0
check "clean-amx: KTAP two lifecycles, I1-I4 pass, I5 skipped" clean-amx.ktap \
	"ok 1 pid 4242 (qemu-system-x86) vm0 vcpu0 lifecycle: created, cpuid generation 1, ran, 1 realloc(s), destroyed" \
	"ok 7 pid 4242 (qemu-system-x86) vm0 vcpu1 lifecycle" \
	"# Totals: pass:11 fail:0 xfail:0 xpass:0 skip:2 error:0" "11 passed, 0 failed"

# Lints: warnings by default, failures with --strict.
replay lints
t_eq "lints: exit status 0 without --strict" "$rc" 0
for id in cpuid-pre-perm perm-after-lock cpuid-after-run cpuid-size-low; do
	t_eq "lints: $id reported once" "$(count lints "^xstate-watch: lint $id ")" 1
done
t_eq "lints: no violation" "$(count lints '^xstate-watch: VIOLATION')" 0
replay lints --strict
t_eq "lints --strict: exit status 3" "$rc" 3
check "lints --strict: KTAP fails the process-level lints" lints.ktap \
	"not ok 7 pid 4242 (qemu-system-x86) lint cpuid-pre-perm" \
	"not ok 8 pid 4242 (qemu-system-x86) lint perm-after-lock"

# Started mid-lifecycle, events lost (3 to a full ring buffer, 2 program
# runs the kernel skipped), pid reused: no false alarm, losses shown by cause.
replay mid-lifecycle
t_eq "mid-lifecycle: exit status 0" "$rc" 0
check "mid-lifecycle: lost events reported by cause, vCPU adopted" mid-lifecycle \
	"LOST: 5 events (3 dropped, ring buffer full; 2 program runs skipped by the kernel)" \
	"vCPUs: 2 seen, 1 still live"
check "mid-lifecycle: KTAP says what it could not check" mid-lifecycle.ktap \
	"vm0 vcpu1 lifecycle: adopted mid-lifecycle" \
	"# SKIP 5 events lost (3 ring buffer full, 2 program runs skipped by the kernel)" \
	"pid 4242 (crosvm) vm0 vcpu0 lifecycle: created, cpuid generation 0, never ran"

# What --json writes replays to the same verdicts; its findings are re-derived.
replay pkvm-amx-4096 --json "$tmp/pkvm.jsonl"
t_eq "--json output carries the two findings" "$(grep -c '"event":"violation"' "$tmp/pkvm.jsonl")" 2
"$W" replay --cpu-model "$SPR" "$tmp/pkvm.jsonl" >"$tmp/again.out" 2>&1
t_eq "replaying --json output: exit status 3 again" "$?" 3
t_check "replaying --json output: same findings, input findings ignored" \
	grep -q "violations: 2, lints: 0" "$tmp/again.out"
t_check "replaying --json output: says it ignored the recorded findings" \
	grep -q "ignored: 2 violation/lint records" "$tmp/again.out"

# KTAP on stdout moves the human report to stderr.
"$W" replay --cpu-model "$SPR" --ktap - "$T/clean-amx.jsonl" 2>/dev/null >"$tmp/stdout.ktap"
t_eq "--ktap -: stdout is KTAP only" "$(head -1 "$tmp/stdout.ktap")|$(tail -1 "$tmp/stdout.ktap")" \
	"KTAP version 1|11 passed, 0 failed"
t_done
