#!/usr/bin/env bash
# vcpu-lifecycle on the real /dev/kvm: every scenario, the benchmark's
# output shape, and bad input. Every run uses --check-leaks (fds and
# threads at exit must equal those at start); under `make test SAN=1` the
# binary is the ASan+UBSan build, whose leak checker fails the run too.
# Expected outcomes come from the host (/proc/cpuinfo), not from the tool.
# shellcheck source=../lib/tap.sh
source "$(dirname "$0")/../lib/tap.sh"

bin=$XSW_BUILD/tools/vcpu-lifecycle/vcpu-lifecycle
if [ ! -x "$bin" ]; then
	t_fail "vcpu-lifecycle is built" "missing $bin (make all)"
	t_done
	exit 1
fi
t_need_kvm

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# run ARGS...: $out (stdout+stderr) and $rc of one vcpu-lifecycle run.
run() {
	out=$("$bin" --check-leaks "$@" 2>&1)
	rc=$?
}

# expect_run DESC WANT_RC LINE...: exit status and fixed-string lines.
expect_run() {
	local desc=$1 want=$2 line missing=""
	shift 2
	for line in "$@"; do
		grep -qF -- "$line" <<<"$out" || missing+="missing line: $line"$'\n'
	done
	if grep -q '^FAIL  ' <<<"$out"; then
		missing+="a FAIL line was printed"$'\n'
	fi
	if [ "$rc" -eq "$want" ] && [ -z "$missing" ]; then
		t_ok "$desc"
	else
		t_fail "$desc" "exit $rc (want $want)
$missing--- output ---
$(tail -n 60 <<<"$out")"
	fi
}

has_amx=0
grep -qw amx_tile /proc/cpuinfo && has_amx=1

# --- scenarios ---------------------------------------------------------

run basic
expect_run "basic: supported CPUID installed, guest runs to HLT" 0 \
	"KVM_CREATE_VM -> fd" "KVM_CREATE_VCPU(id 0) -> fd" \
	"KVM_GET_SUPPORTED_CPUID -> " \
	"expect 0xD.0 ECX (" "equals the size model's standard size" \
	"expect KVM_SET_CPUID2 with the supported table succeeds: ok" \
	"KVM_RUN x2 -> 1 OUT(s) to 0x10 (last 0x42), KVM_EXIT_HLT" \
	"KVM_GET_XCRS -> xcr0 0x1 x87" "close VM fd" "leak check:" "PASS basic"

run multi --vms 2 --vcpus 3
expect_run "multi: 2 VMs x 3 vCPU threads all reach HLT" 0 \
	"vm1/vcpu2: KVM_CREATE_VCPU(id 2) -> fd" \
	"expect 6 of 6 vCPUs ran to HLT, each reporting its own id: ok" "PASS multi"
t_eq "multi: one KVM_CREATE_VCPU per vCPU" "$(grep -c 'KVM_CREATE_VCPU(id' <<<"$out")" 6

if [ $has_amx -eq 1 ]; then req_want=ok lock_want=EBUSY; else req_want=EOPNOTSUPP lock_want=EOPNOTSUPP; fi
run perm-late
expect_run "perm-late: supported CPUID read before the request; request -> $req_want" 0 \
	"ARCH_REQ_XCOMP_GUEST_PERM(18 xtiledata) -> $req_want" \
	"lint: leaf 0xD read before the permission request lacks" \
	"expect KVM_SET_CPUID2 with the early table succeeds: ok" "PASS perm-late"
# The early read must come before the request in the output (the ioctl order).
first_cpuid=$(grep -n 'KVM_GET_SUPPORTED_CPUID ->' <<<"$out" | head -1 | cut -d: -f1)
req_line=$(grep -n 'ARCH_REQ_XCOMP_GUEST_PERM(' <<<"$out" | head -1 | cut -d: -f1)
t_check "perm-late: KVM_GET_SUPPORTED_CPUID precedes ARCH_REQ_XCOMP_GUEST_PERM" \
	test "${first_cpuid:-0}" -gt 0 -a "${first_cpuid:-0}" -lt "${req_line:-0}"

run perm-after-lock
expect_run "perm-after-lock: request after the first vCPU -> $lock_want" 0 \
	"outcome: $lock_want" "ARCH_REQ_XCOMP_GUEST_PERM(18 xtiledata) -> $lock_want" \
	"expect guest permission unchanged" "PASS perm-after-lock"
create_line=$(grep -n 'KVM_CREATE_VCPU(id 0)' <<<"$out" | head -1 | cut -d: -f1)
req_line=$(grep -n 'ARCH_REQ_XCOMP_GUEST_PERM(' <<<"$out" | head -1 | cut -d: -f1)
t_check "perm-after-lock: the request follows KVM_CREATE_VCPU" \
	test "${create_line:-0}" -gt 0 -a "${create_line:-0}" -lt "${req_line:-0}"

run amx
if [ $has_amx -eq 1 ] && [ "$rc" -eq 77 ] &&
   grep -qF "SKIP amx: the CPU has AMX but this KVM does not expose it" <<<"$out"; then
	# Seen on a PVM host: the permission works, KVM_GET_SUPPORTED_CPUID has no AMX.
	t_skip "amx: AMX lifecycle" "amx_tile is in /proc/cpuinfo but KVM does not offer it to guests: $(grep '^SKIP' <<<"$out")"
elif [ $has_amx -eq 1 ]; then
	expect_run "amx: XTILEDATA permission, AMX CPUID, XSETBV" 0 \
		"ARCH_REQ_XCOMP_GUEST_PERM(18 xtiledata) -> ok" "PASS amx"
elif [ "$rc" -eq 77 ] && grep -qF "SKIP amx: AMX (xtilecfg|xtiledata) unsupported here" <<<"$out"; then
	t_skip "amx: AMX lifecycle" "no AMX on this host (amx_tile not in /proc/cpuinfo); vcpu-lifecycle amx exited 77: $(grep '^SKIP' <<<"$out")"
else
	t_fail "amx: exits 77 with 'unsupported here' on a host without AMX" "exit $rc
$out"
fi

# XTILEDATA in KVM_SET_CPUID2 needs only the host's XFD support and the
# guest permission, not KVM's: the fpstate realloc runs on a PVM host too.
run xfd-cpuid
if [ "$rc" -eq 77 ] && grep -qF "SKIP xfd-cpuid: this kernel has no XTILEDATA for guests" <<<"$out"; then
	t_skip "xfd-cpuid: XTILEDATA in KVM_SET_CPUID2" "$(grep '^SKIP' <<<"$out")"
else
	expect_run "xfd-cpuid: EPERM without the permission; with it, the uABI size grows to the permission's" 0 \
		"expect KVM_SET_CPUID2 with XTILEDATA but no guest permission: EPERM (got EPERM): ok" \
		"expect the child's expectations held: ok" \
		"expect KVM_SET_CPUID2 with XTILEDATA succeeds (got 0): ok" \
		"expect KVM_GET_XSAVE2 wrote the permission's uABI size" "PASS xfd-cpuid"
	# The size the permission implies, from this CPU's leaf 0xD (xstate-size).
	perm=$(grep -o 'guest permission 0x[0-9a-f]*' <<<"$out" | awk '{ print $3 }')
	t_eq "xfd-cpuid: KVM_GET_XSAVE2 wrote size($perm, standard) bytes" \
		"$(grep -o 'wrote the permission.s uABI size: [0-9]*' <<<"$out" | awk '{ print $NF }')" \
		"$("$XSW_BUILD/tools/xstate-size/xstate-size" "$perm" | awk '$1 == "mask" { print $4 }')"
fi

run cpuid-twice
expect_run "cpuid-twice: changes allowed before KVM_RUN, EINVAL for a changed table after" 0 \
	"expect first KVM_SET_CPUID2 (A) succeeds: ok" \
	"expect second KVM_SET_CPUID2 (B, different) succeeds: ok" \
	"expect KVM_SET_CPUID2 with the vCPU's own table (KVM_GET_CPUID2) after KVM_RUN -> ok: ok" \
	"expect KVM_SET_CPUID2 with a changed table (A) after KVM_RUN -> EINVAL (got EINVAL): ok" \
	"PASS cpuid-twice"
t_eq "cpuid-twice: exactly one KVM_SET_CPUID2 of table A fails" \
	"$(grep 'KVM_SET_CPUID2(' <<<"$out" | grep -c -- '-> EINVAL$' | tr -d ' ')" \
	"$(grep -q 'note: KVM rewrote leaf 0xD' <<<"$out" && echo 2 || echo 1)"

run xsave-then-cpuid
expect_run "xsave-then-cpuid: KVM_SET_XSAVE accepted before CPUID, state kept" 0 \
	"expect KVM_SET_XSAVE with" "before any CPUID -> ok (got 0): ok" \
	"image survived KVM_SET_CPUID2: ok" "image survived KVM_RUN" "PASS xsave-then-cpuid"
xsave_line=$(grep -n 'KVM_SET_XSAVE(' <<<"$out" | head -1 | cut -d: -f1)
cpuid_line=$(grep -n 'KVM_SET_CPUID2(' <<<"$out" | head -1 | cut -d: -f1)
t_check "xsave-then-cpuid: KVM_SET_XSAVE precedes KVM_SET_CPUID2" \
	test "${xsave_line:-0}" -gt 0 -a "${xsave_line:-0}" -lt "${cpuid_line:-0}"

run cpuid-shrink
expect_run "cpuid-shrink: x87|sse only, leaf 0xD sizes from the size model" 0 \
	"shrunk leaf 0xD: xcr0 0x3 x87|sse" "0xD.0 EBX 576 ECX 576" \
	"leaf 0xD xcr0 0x3 x87|sse) -> ok" \
	"expect XSETBV(0x3 x87|sse) takes no exception (none): ok" \
	"expect KVM's refreshed 0xD.0 EBX (576) equals the size model's standard size for XCR0 (576): ok" \
	"PASS cpuid-shrink"

if grep -qw avx /proc/cpuinfo; then
	run cpuid-shrink --xfeatures 'x87|sse|avx'
	expect_run "cpuid-shrink --xfeatures x87|sse|avx: AVX kept, 832 bytes" 0 \
		"shrunk leaf 0xD: xcr0 0x7 x87|sse|avx" "0xD.0 EBX 832 ECX 832" \
		"expect XSETBV(0x7 x87|sse|avx) takes no exception (none): ok" "PASS cpuid-shrink"
fi

n=0
for model in "$XSW_TOP"/tests/fixtures/cpu/*.cpu; do
	[ -f "$model" ] || continue
	n=$((n + 1))
	run cpuid-model "$model"
	expect_run "cpuid-model $(basename "$model"): leaf 0xD installed, masked to the host" 0 \
		"expect the model's leaf 0xD fits this host (ok): ok" \
		"expect KVM_SET_CPUID2 with the model's leaf 0xD succeeds: ok" "PASS cpuid-model"
done
[ $n -gt 0 ] || t_fail "cpuid-model: CPU model fixtures exist" "none in $XSW_TOP/tests/fixtures/cpu"

run exit-loop --exits 500
expect_run "exit-loop: 500 PIO exits, then HLT" 0 \
	"KVM_RUN x501 -> 500 OUT(s) to 0x10 (last 0x5a), KVM_EXIT_HLT" \
	"expect 500 PIO exits then HLT in 501 KVM_RUN calls: ok" \
	"ns per exit round trip" "PASS exit-loop"

run xsetbv
expect_run "xsetbv: the guest enables xfeatures with XSETBV; beyond CPUID it faults" 0 \
	"guest: CR4.OSXSAVE=1, XSETBV(XCR0 = " \
	"takes no exception (none): ok" "raises #GP in the guest (#GP): ok" \
	"vCPU 1 XCR0 stays x87 (got 0x1 x87): ok" "PASS xsetbv"

# --- benchmark ---------------------------------------------------------

# run_json ARGS...: $json (stdout alone), $err (stderr) and $rc of one run.
run_json() {
	json=$("$bin" --check-leaks "$@" 2>"$tmp/stderr")
	rc=$?
	err=$(<"$tmp/stderr")
}

# expect_json DESC JQ_FILTER: exit 0, stdout exactly one JSON document
# (so `bench --json | jq .` works) on which the filter holds, and stderr
# nothing but the leak-check verdict.
expect_json() {
	local desc=$1 filter=$2 why=""
	if ! command -v jq >/dev/null; then
		t_skip "$desc" "jq not installed (make deps)"
		return
	fi
	if [ "$rc" -ne 0 ]; then
		why="exit $rc (want 0)"
	elif [ "$(jq -s length <<<"$json" 2>&1)" != 1 ]; then
		why="stdout is not exactly one JSON document: $(jq -s length <<<"$json" 2>&1)"
	elif ! jq -e "$filter" <<<"$json" >/dev/null; then
		why="false on stdout: $filter"
	elif [ "$(grep -vc '^  leak check: .* as at start$' <<<"$err")" -ne 0 ]; then
		why="stderr is not just the leak-check verdict"
	fi
	if [ -z "$why" ]; then
		t_ok "$desc"
	else
		t_fail "$desc" "$why
--- stdout ---
$(tail -n 40 <<<"$json")
--- stderr ---
$err"
	fi
}

run_json bench --vms 2 --vcpus 2 --iterations 3 --json
expect_json "bench --json: one object, 5 steps with counts, ordered percentiles, histograms" '
	.bench == "lifecycle" and .unit == "ns" and [.vms, .vcpus, .iterations] == [2, 2, 3] and
	(.steps | keys_unsorted) == ["create_vm", "create_vcpu", "set_cpuid2", "first_run", "destroy"] and
	[.steps[].count] == [6, 12, 12, 12, 6] and
	all(.steps[]; 0 < .min and .min <= .p50 and .p50 <= .p90 and .p90 <= .p99 and
		.p99 <= .max and ([.histogram[].count] | add) == .count and
		all(.histogram[]; .low <= .high))'

run_json bench --scenario exit-loop --exits 200 --iterations 2 --json
expect_json "bench --scenario exit-loop --json: 201 KVM_RUN round trips per iteration" '
	.bench == "exit-loop" and .exits == 200 and .iterations == 2 and
	.total_exits == 2 * 201 and (.steps | keys) == ["kvm_run"] and
	(.steps.kvm_run | .count == 2 * 201 and 0 < .p50 and .p50 <= .p99) and
	0 < .ns_per_exit and .ns_per_exit <= .total_ns'

run bench --iterations 2
expect_run "bench (text): a summary and a histogram per step" 0 \
	"lifecycle: 2 iteration(s) x 1 VM(s) x 1 vCPU(s)" \
	"create_vm (KVM_CREATE_VM): count 2, min" "create_vcpu (KVM_CREATE_VCPU): count 2" \
	"set_cpuid2 (KVM_SET_CPUID2): count 2" "first_run (first KVM_RUN): count 2" \
	"destroy (munmap kvm_run + close vCPU fds + close VM fd): count 2" \
	"nsecs : count    distribution"

# --- bad input ---------------------------------------------------------

run --kvm-dev "$tmp/no-such-kvm" basic
expect_run "no KVM device: error names the path and ENOENT, exit 1" 1 \
	"cannot open KVM device $tmp/no-such-kvm: ENOENT" "FAIL basic: KVM could not be used"
t_check "no KVM device: no fd or thread leaked" grep -q "leak check: .* as at start" <<<"$out"

run --kvm-dev /dev/null basic
expect_run "not a KVM device: exit 1, says so" 1 "/dev/null is not a KVM device: KVM_GET_API_VERSION -> ENOTTY"

if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null && id nobody >/dev/null 2>&1; then
	# Only meaningful when /dev/kvm is not world-accessible.
	if [ "$(stat -c %a /dev/kvm | cut -c3)" -lt 6 ]; then
		out=$(setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups \
			"$bin" --check-leaks basic 2>&1)
		rc=$?
		expect_run "no permission (uid nobody): EACCES named, exit 1" 1 \
			"cannot open KVM device /dev/kvm: EACCES" "leak check:"
	else
		t_skip "no permission (uid nobody)" "/dev/kvm is accessible to every user here"
	fi
else
	t_skip "no permission (uid nobody)" "needs root and setpriv to drop to nobody"
fi

printf 'format=xstate-watch-cpu-model/1\nleaf=0x0000000d subleaf=0x00 eax=0xnothex ebx=0 ecx=0 edx=0\n' >"$tmp/bad.cpu"
run cpuid-model "$tmp/bad.cpu"
expect_run "invalid CPU model file: error names file and line, exit 2" 2 "$tmp/bad.cpu:2"
t_check "invalid CPU model file: no fd or thread leaked" grep -q "leak check: .* as at start" <<<"$out"

run cpuid-model "$tmp/missing.cpu"
expect_run "missing CPU model file: named, exit 2" 2 "$tmp/missing.cpu"

run cpuid-model
expect_run "cpuid-model without FILE: usage error" 2 "cpuid-model needs a CPU model FILE"

run multi --vcpus 0
expect_run "--vcpus 0: usage error naming the option" 2 "--vcpus 0: must be at least 1"

run bench --vms 0
expect_run "bench --vms 0: usage error naming the option" 2 "--vms 0: must be at least 1"

run multi --vcpus 100000
expect_run "--vcpus above KVM_CAP_MAX_VCPUS: error naming both, exit 2" 2 \
	"--vcpus 100000: more than KVM_CAP_MAX_VCPUS"
t_check "--vcpus above KVM_CAP_MAX_VCPUS: no fd or thread leaked" grep -q "leak check: .* as at start" <<<"$out"

run bench --vcpus 100000 --iterations 1
expect_run "bench --vcpus above KVM_CAP_MAX_VCPUS: exit 2" 2 "more than KVM_CAP_MAX_VCPUS"

run multi --vcpus twelve
expect_run "--vcpus twelve: not a number" 2 "--vcpus twelve: not a number"

run no-such-scenario
expect_run "unknown scenario: usage error naming it" 2 "unknown scenario 'no-such-scenario'"

run cpuid-shrink --xfeatures 'x87|sse|bogus'
expect_run "cpuid-shrink with an unknown xfeature: names the token, exit 2" 2 "unknown xfeature name 'bogus'"

run cpuid-shrink --xfeatures 'x87|avx'
expect_run "cpuid-shrink with a mask breaking xfeature rules: exit 2" 2 "needs sse"

run basic --json
expect_run "--json outside bench: usage error, as scenarios print text" 2 \
	"--json: only bench prints JSON"

run bench --scenario nope
expect_run "bench --scenario nope: exit 2" 2 "bench --scenario nope: unknown"

# --help lists every scenario with a description.
help=$("$bin" --help 2>&1)
missing=""
for s in basic multi perm-late perm-after-lock amx cpuid-twice xsave-then-cpuid \
	cpuid-shrink "cpuid-model FILE" exit-loop xsetbv bench; do
	grep -qE "^    $s +[a-zA-Z-]" <<<"$help" || missing+=" $s"
done
t_eq "--help lists every scenario with a one-line description" "${missing:-none missing}" "none missing"

t_done
