#!/usr/bin/env bash
# The benchmark harness's parts do what the report says they do. No timing
# is asserted here, only counts, formats and error handling; the suite takes
# seconds and is part of `make test` (tests/run-tests bench alone).
# shellcheck source=../lib/tap.sh
source "$(dirname "$0")/../lib/tap.sh"

bench=$XSW_TOP/tools/bench
burst=$XSW_BUILD/tools/bench/xsw-burst
vl=$XSW_BUILD/tools/vcpu-lifecycle/vcpu-lifecycle
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- flamegraph.py: folding a known perf script text ---------------------
cat >"$tmp/script.txt" <<'EOF'
burst  100 [000]   1.000001: cpu-clock:
	ffffffff81000010 native_cpuid+0x10 ([kernel.kallsyms])
	ffffffff81000020 kvm_set_cpuid+0x20 ([kernel.kallsyms])
	00007f0000000030 __GI___ioctl+0x30 (/usr/lib/libc.so.6)

burst  100 [000]   1.000002: cpu-clock:
	ffffffff81000010 native_cpuid+0x11 ([kernel.kallsyms])
	ffffffff81000020 kvm_set_cpuid+0x24 ([kernel.kallsyms])
	00007f0000000030 __GI___ioctl+0x30 (/usr/lib/libc.so.6)

other  200 [001]   1.000003: cpu-clock:
	ffffffff81000040 schedule+0x1 ([kernel.kallsyms])

EOF
if $py "$bench/flamegraph.py" --title t --folded "$tmp/f" --top "$tmp/top" \
	"$tmp/script.txt" >"$tmp/f.svg" 2>"$tmp/err"; then
	t_eq "flamegraph.py folds equal stacks (offsets dropped), root first" \
		"$(cat "$tmp/f")" \
		"burst;__GI___ioctl;kvm_set_cpuid_[k];native_cpuid_[k] 2
other;schedule_[k] 1"
	t_eq "flamegraph.py --top counts self samples by leaf" \
		"$(sed -n 2p "$tmp/top")" "  66.67%        2  native_cpuid_[k]"
	t_check "flamegraph.py writes well-formed SVG" \
		$py -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' "$tmp/f.svg"
	# all; burst, __GI___ioctl, kvm_set_cpuid, native_cpuid; other, schedule
	t_eq "flamegraph.py SVG has one titled frame per node" \
		"$(grep -c '<title>' "$tmp/f.svg")" 7
else
	t_fail "flamegraph.py folds a perf script text" "$(cat "$tmp/err")"
fi
if $py "$bench/flamegraph.py" --filter 'no_such_fn' "$tmp/script.txt" >/dev/null 2>"$tmp/err"; then
	t_fail "flamegraph.py fails when --filter keeps nothing" "exit 0"
else
	t_check "flamegraph.py fails when --filter keeps nothing, naming the filter" \
		grep -q "matching --filter 'no_such_fn'" "$tmp/err"
fi

# --- bench.py: step extraction from vcpu-lifecycle's JSON ------------------
steps_of() {
	$py -c 'import json, sys
sys.path.insert(0, sys.argv[1])
import bench
print(" ".join(sorted(bench.parse_bench_json(sys.stdin.read()))))' "$bench"
}
t_eq "bench.py takes step names and percentiles from a bench JSON object" \
	"$(printf '%s\n' '{"steps":{"create_vm":{"p50":1,"p99":2},"destroy":{"p50_ns":3,"p99_ns":4}}}' \
		'  close VM fd 4' | steps_of)" "create_vm destroy"

# --- bench.py: the median interval and the verdict on a target ---------------
# 60 ratios 1.00, 1.01, ... 1.59: median 1.295; the binomial 95 % bounds of
# a median of 60 are the values at 0-based k = int((60 - 1.96 * sqrt(60)) / 2)
# = 22 and 59 - k = 37.
ci_of() {
	$py -c 'import sys
sys.path.insert(0, sys.argv[1])
import bench
rs = [1 + i / 100 for i in range(60)]
print("%.3f %.2f %.2f" % bench.median_ci95(rs))
print(bench.verdict([1.01] * 10, 2.0), "|", bench.verdict([1.05] * 10, 2.0), "|",
      bench.verdict([0.99] * 5 + [1.015] + [1.03] * 4, 2.0), "|",
      bench.verdict([1.0] * 3 + [1.025] + [1.05] * 6, 2.0))' "$bench"
}
t_eq "bench.py: median of 60 ratios and its 95 % order-statistic interval; pass/FAIL and when not significant" \
	"$(ci_of)" "1.295 1.22 1.37
pass | FAIL | pass (not significant: interval to +3.0 %) | FAIL (not significant: interval from +0.0 %)"

# --- bench.py: run orders with balanced carry-over (Williams design) ---------
# Every mode must follow every other mode equally often, so that what one run
# leaves behind falls on all modes alike; a plain rotation fails this.
carry() {
	$py -c 'import sys
from collections import Counter
sys.path.insert(0, sys.argv[1])
import bench
for n in (2, 4, 5):
    rows = bench.williams_orders(list(range(n)))
    c = Counter((r[i], r[i + 1]) for r in rows for i in range(n - 1))
    ok = all(sorted(r) == list(range(n)) for r in rows)
    print(n, len(rows), len(c), sorted(set(c.values())), ok)' "$bench"
}
t_eq "bench.py: Williams orders: every ordered pair of modes once (n even) or twice (n odd), each row a permutation" \
	"$(carry)" "2 2 2 [1] True
4 4 12 [1] True
5 10 20 [2] True"

# --- xsw-floor: empty programs on each set of syscall hooks ------------------
floor=$XSW_BUILD/tools/bench/xsw-floor
if [ "$(id -u)" != 0 ]; then
	t_skip "xsw-floor" "needs root (BPF)"
elif [ -x "$floor" ]; then
	for hooks in events raw; do
		"$floor" --hooks $hooks 2>"$tmp/floor-$hooks.err" &
		fp=$!
		for i in $(seq 100); do
			grep -q "attached ($hooks)" "$tmp/floor-$hooks.err" && break
			sleep 0.05
		done
		progs=$(bpftool prog show 2>/dev/null | grep -c "name floor_")
		kill -INT $fp
		wait $fp
		rc=$?
		want=8	# ioctl, arch_prctl (enter, exit), close, close_range, dup2, dup3
		[ $hooks = raw ] && want=2
		t_eq "xsw-floor --hooks $hooks: $want empty programs loaded, exit 0 on SIGINT" "$progs $rc" "$want 0"
	done
	"$floor" --hooks perf 2>"$tmp/floor-bad.err"
	t_eq "xsw-floor --hooks perf: exit 2 with its usage" "$? $(cat "$tmp/floor-bad.err")" "2 usage: xsw-floor --hooks events|raw [--emit]"
	"$floor" --hooks events --emitt 2>"$tmp/floor-bad.err"
	t_eq "xsw-floor --hooks events --emitt: exit 2 with its usage" "$? $(cat "$tmp/floor-bad.err")" "2 usage: xsw-floor --hooks events|raw [--emit]"
else
	t_skip "xsw-floor" "$floor not built (make -j2 all)"
fi

# --- with /dev/kvm ------------------------------------------------------------
if [ ! -w /dev/kvm ]; then
	t_skip "xsw-burst and vcpu-lifecycle on real KVM" "/dev/kvm is absent or not writable"
	t_done
fi

if [ -x "$vl" ]; then
	t_eq "bench.py finds the five lifecycle steps in a real vcpu-lifecycle bench" \
		"$("$vl" bench --iterations 2 --json 2>/dev/null | steps_of)" \
		"create_vcpu create_vm destroy first_run set_cpuid2"
else
	t_skip "bench.py on a real vcpu-lifecycle bench" "$vl not built"
fi

# xsw-floor --emit: one record per successful KVM_CREATE_VCPU, counted, on
# either set of hooks (the lower bound bench.py measures). vcpu-lifecycle
# bench --vms 2 --vcpus 3 --iterations 2 creates 12 vCPUs.
if [ -x "$floor" ] && [ -x "$vl" ] && [ "$(id -u)" = 0 ]; then
	for hooks in events raw; do
		"$floor" --hooks $hooks --emit 2>"$tmp/emit-$hooks.err" &
		fp=$!
		for i in $(seq 100); do
			grep -q "attached ($hooks, emitting)" "$tmp/emit-$hooks.err" && break
			sleep 0.05
		done
		"$vl" bench --vms 2 --vcpus 3 --iterations 2 --json >/dev/null 2>&1
		vrc=$?
		kill -INT $fp
		wait $fp
		rc=$?
		t_eq "xsw-floor --hooks $hooks --emit: a record per vCPU created (12), none dropped, exit 0" \
			"$vrc $rc $(grep -o '[0-9]* records, [0-9]* dropped' "$tmp/emit-$hooks.err")" \
			"0 0 12 records, 0 dropped"
	done
else
	t_skip "xsw-floor --emit" "needs root, $floor and $vl (make -j2 all)"
fi

if [ ! -x "$burst" ]; then
	t_skip "xsw-burst" "$burst not built (make -j2 all)"
	t_done
fi
out=$("$burst" --op check-extension --rate 100 --duration 1)
t_eq "xsw-burst paces on deadlines: never more than rate x duration calls" \
	"$(echo "$out" | $py -c 'import json, sys; d = json.load(sys.stdin); print(d["issued"] <= 100 and d["failed"] == 0)')" True
# create-vcpu recycles its VM every --vcpus-per-vm vCPUs: traced, the VMs
# created match the vCPUs issued.
xw=$XSW_BUILD/tools/xstate-watch/xstate-watch
if [ -x "$xw" ] && [ "$(id -u)" = 0 ]; then
	"$xw" run -q --json "$tmp/per-vm.jsonl" -- "$burst" --op create-vcpu --vcpus-per-vm 3 \
		--rate 30 --duration 1 >"$tmp/per-vm.out" 2>"$tmp/per-vm.err"
	issued=$($py -c 'import json, sys; print(json.load(open(sys.argv[1]))["issued"])' "$tmp/per-vm.out")
	t_eq "xsw-burst --vcpus-per-vm 3: one VM per 3 vCPUs ($issued vCPUs)" \
		"$(jq -r 'select(.event == "vm_create") | .event' "$tmp/per-vm.jsonl" | wc -l)" \
		"$(( (issued + 2) / 3 ))"
else
	t_skip "xsw-burst --vcpus-per-vm traced" "needs root and $xw (make -j2 all)"
fi
# getppid: the syscall-tax loop, which must run where /dev/kvm is not there.
out=$("$burst" --op getppid --rate 100 --duration 1 2>"$tmp/err")
t_eq "xsw-burst --op getppid issues getppid() on deadlines, none failing" \
	"$(echo "$out" | $py -c 'import json, sys; d = json.load(sys.stdin); print(d["op"], 0 < d["issued"] <= 100, d["failed"])')" \
	"getppid True 0"
if command -v strace >/dev/null; then
	t_eq "xsw-burst --op getppid does not open /dev/kvm" \
		"$(strace -f -e trace=openat "$burst" --op getppid --rate 10 --duration 1 2>&1 >/dev/null | grep -c /dev/kvm)" 0
else
	t_skip "xsw-burst --op getppid does not open /dev/kvm" "strace is not installed"
fi
# tax_report(): added ns is the difference from the same round's untraced run.
tax=$($py -c 'import sys
sys.path.insert(0, sys.argv[1])
import bench
class A: tax_seconds = 1; tax_rounds = 3
def run(m, r, op, ns):
	return {"mode": m, "round": r, "op": op, "ns_per_call": ns, "command": "xsw-burst --op " + op,
		"result": {"lat_p50_ns": int(ns)}}
runs = [run("none", 0, "getppid", 100), run("xsw", 0, "getppid", 110),
	run("none", 1, "getppid", 200), run("xsw", 1, "getppid", 230),
	run("none", 2, "getppid", 150), run("xsw", 2, "getppid", 170)]
lines = []
bench.tax_report(A(), {"runs": runs, "modes": ["none", "xsw"], "skipped": {}}, lines.append)
print("\n".join(l for l in lines if l.startswith("| xstate-watch")))' "$bench" 2>&1)
t_eq "bench.py tax_report: added ns per call is the per-round difference (median, min .. max)" \
	"$tax" "| xstate-watch (syscall tier) | 170.0 | +20.0 (+10.0 .. +30.0) | 170 ns |"
# xsw-tier-bench, the guest's side of the vm_tiers section, run here with
# busybox's shell and the syscall tier (the only one this host loads).
tb=$XSW_TOP/tests/kernel/vm/xsw-tier-bench
if [ -x "$xw" ] && [ -x "$vl" ] && [ -x /bin/busybox ] && [ "$(id -u)" = 0 ] && [ -c /dev/kvm ]; then
	mkdir -p "$tmp/bin"
	ln -sf /bin/busybox "$tmp/bin/usleep"
	PATH=$tmp/bin:$(dirname "$xw"):$(dirname "$vl"):$PATH \
		/bin/busybox sh "$tb" 2 2 syscall >"$tmp/tb.jsonl" 2>"$tmp/tb.err"
	t_eq "xsw-tier-bench 2 2 syscall: 2 rounds of both modes, rotated, each with a create_vcpu p50" \
		"$(jq -r '[.round, .mode, (.result.steps.create_vcpu.p50 > 0), (.attach | test("syscall"))] | @tsv' "$tmp/tb.jsonl" | tr '\t' ' ' | tr '\n' ';')" \
		"0 none true false;0 syscall true true;1 syscall true true;1 none true false;"
	# A tier the kernel refuses ends the run with its reason, exit 1.
	if PATH=$tmp/bin:$(dirname "$xw"):$(dirname "$vl"):$PATH \
		/bin/busybox sh "$tb" 1 2 fentry >/dev/null 2>"$tmp/tb.err"; then
		t_skip "xsw-tier-bench fails on a tier the kernel refuses" "this kernel runs fentry programs"
	else
		t_check "xsw-tier-bench fails on a tier the kernel refuses, naming it" \
			grep -q "probes=fentry did not attach" "$tmp/tb.err"
	fi
else
	t_skip "xsw-tier-bench on the host" "needs root, /dev/kvm, /bin/busybox, $xw and $vl"
fi
"$burst" --vcpus-per-vm 65 >/dev/null 2>"$tmp/err"
t_eq "xsw-burst rejects --vcpus-per-vm 65 (at most 64): exit status 2" "$?" 2
if "$burst" --rate 5x >/dev/null 2>"$tmp/err"; then
	t_fail "xsw-burst rejects --rate 5x" "exit 0"
else
	t_check "xsw-burst rejects --rate 5x, naming it" grep -q "rate '5x'" "$tmp/err"
fi

# --- xsw.bt sees what it should ---------------------------------------------------
if ! command -v bpftrace >/dev/null; then
	t_skip "xsw.bt prints one line per KVM ioctl" "bpftrace is not installed"
	t_done
fi
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null
# -c runs the command once every probe is attached.
timeout 60 bpftrace -c "$burst --op check-extension --rate 50 --duration 1" \
	"$bench/xsw.bt" >"$tmp/bt" 2>&1
pid=$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' "$tmp/bt")
t_eq "xsw.bt prints one ioctl line per KVM_CHECK_EXTENSION (cmd 0xae03)" \
	"$(grep -c "^ioctl .* pid=$pid .*cmd=0xae03 " "$tmp/bt")" \
	"$(sed -n 's/.*"issued":\([0-9]*\).*/\1/p' "$tmp/bt")"
t_check "xsw.bt reports the exit of a process that issued KVM ioctls" \
	grep -q "^process_exit .* pid=$pid " "$tmp/bt"
timeout 60 bpftrace -c "$burst --op get-guest-perm --rate 50 --duration 1" \
	"$bench/xsw.bt" >"$tmp/bt" 2>&1
pid=$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' "$tmp/bt")
t_eq "xsw.bt prints one arch_prctl line per ARCH_GET_XCOMP_GUEST_PERM" \
	"$(grep -c "^arch_prctl .* pid=$pid .*option=0x1024 ret=0 " "$tmp/bt")" \
	"$(sed -n 's/.*"issued":\([0-9]*\).*/\1/p' "$tmp/bt")"
t_done
