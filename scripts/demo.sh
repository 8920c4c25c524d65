#!/usr/bin/env bash
# make demo: trace real VM lifecycles with xstate-watch (run after `make deps
# all`). Starts the live table, drives a few vcpu-lifecycle scenarios in
# another process, stops the collector with SIGINT (table + summary), then
# shows CI mode (run, KTAP) and what an alert looks like (a replayed pKVM
# trace sized with the Sapphire Rapids model).
set -euo pipefail

top=${XSW_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
build=${XSW_BUILD:-$top/build}
W=$build/tools/xstate-watch/xstate-watch
VL=$build/tools/vcpu-lifecycle/vcpu-lifecycle
SPR=$top/tests/fixtures/cpu/sapphire-rapids-w9-3475x.cpu

die() { echo "demo: $*" >&2; exit 1; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

for b in "$W" "$VL"; do
	[ -x "$b" ] || die "$b is missing: run 'make all' first"
done
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || die "BPF and /dev/kvm need root: run 'make demo' as root"
	echo "demo: BPF and /dev/kvm need root; re-running with sudo"
	exec sudo XSW_TOP="$top" XSW_BUILD="$build" "$0" "$@"
fi
[ -e /dev/kvm ] || die "no /dev/kvm on this machine: load kvm_intel or kvm_amd (or run in a VM with nested virtualisation)"
[ -r /sys/kernel/btf/vmlinux ] || die "no kernel BTF (/sys/kernel/btf/vmlinux): the CO-RE probes need CONFIG_DEBUG_INFO_BTF=y"
if ! mountpoint -q /sys/kernel/tracing; then
	echo "demo: mounting tracefs at /sys/kernel/tracing"
	mount -t tracefs nodev /sys/kernel/tracing || die "cannot mount tracefs"
fi

dir=$(mktemp -d /tmp/xstate-watch-demo.XXXXXX)
watch=
cleanup() { [ -n "$watch" ] && kill "$watch" 2>/dev/null; true; }
trap cleanup EXIT

step "This CPU, as the size model sees it"
"$build/tools/xstate-size/xstate-size" 2>/dev/null || true

step "Live table: xstate-watch -i 0.5 (vcpu-lifecycle runs in another process)"
"$W" -i 0.5 --json "$dir/live.jsonl" 2>"$dir/live.err" &
watch=$!
for _ in $(seq 100); do
	grep -q "probe tier: " "$dir/live.err" 2>/dev/null && break
	kill -0 "$watch" 2>/dev/null || break
	sleep 0.1
done
grep -q "probe tier: " "$dir/live.err" || { cat "$dir/live.err" >&2; die "xstate-watch did not start"; }
scenarios=("basic" "multi --vms 2 --vcpus 2" "perm-late" "cpuid-twice" "xsetbv")
for s in "${scenarios[@]}"; do
	sleep 1
	# shellcheck disable=SC2086
	if "$VL" $s >>"$dir/vcpu-lifecycle.log" 2>&1; then rc=0; else rc=$?; fi
	echo "vcpu-lifecycle $s: exit $rc" >>"$dir/results"
done
sleep 1.2
kill -INT "$watch"
wait "$watch" || true
watch=
grep "probe tier" "$dir/live.err" || true
cat "$dir/results"
echo "(events: $dir/live.jsonl, $(wc -l <"$dir/live.jsonl") lines; vcpu-lifecycle output: $dir/vcpu-lifecycle.log)"

step "CI mode: xstate-watch run --ktap - -- vcpu-lifecycle multi --vms 1 --vcpus 2"
"$W" run -q --ktap - -- "$VL" multi --vms 1 --vcpus 2 2>/dev/null | grep -v '^  ' || true

step "A live realloc: xstate-watch run -- vcpu-lifecycle xfd-cpuid"
# XTILEDATA in KVM_SET_CPUID2: on an AMX host the vCPU's fpstate grows, and
# where KVM itself does not offer AMX, KVM_CAP_XSAVE2 stays below what
# KVM_GET_XSAVE2 writes (I4). Without AMX the scenario skips (77).
if "$W" run -- "$VL" xfd-cpuid >"$dir/xfd-cpuid.log" 2>"$dir/xfd-cpuid.err"; then
	rc=0
else
	rc=$?
fi
grep -E '^(SKIP|PASS|FAIL|KVM_CAP_XSAVE2 short)' "$dir/xfd-cpuid.log" || true
grep -vE '^    event: ' "$dir/xfd-cpuid.err" || true
echo "exit status $rc (0: held; 3: an invariant failed; 77: no XTILEDATA on this host)"

step "What an alert looks like: the pKVM case, replayed with the Sapphire Rapids model"
echo "xstate-watch replay --cpu-model $(basename "$SPR") tests/fixtures/traces/pkvm-amx-4096.jsonl"
if "$W" replay --cpu-model "$SPR" "$top/tests/fixtures/traces/pkvm-amx-4096.jsonl"; then
	rc=0
else
	rc=$?
fi
echo "exit status $rc (3: an invariant failed; docs/invariants.md explains each field)"
