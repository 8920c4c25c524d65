#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Boot the test kernel (kernel-patches/v6.12 applied to Linux 6.12) under
# QEMU TCG with the project's binaries in an initramfs, run the guest plan
# tests/kernel/vm/plan.full and check, from the serial output:
#   - every step ran to completion (a hung step is named, not waited for);
#   - the console has no kernel WARNING:, BUG:, Oops or panic;
#   - each probe tier saw the lifecycle events it must see;
#   - every fpstate size any tier reported is what the project's size model
#     computes from the guest CPU's own leaf 0xD (dumped in the guest);
#   - the tiers agree with each other on every vCPU's sizes;
#   - `--probes=auto` chose the tracepoint tier (fentry on a kernel built
#     without the series);
#   - the series' KVM selftest xstate_trace_test passed every case of its
#     kselftest plan in the guest (a skip when it exits 4, with its reason).
# The kernel is built (about 8 minutes on 2 cores) unless the cache has it.
#
# Environment: XSW_VM_TIMEOUT (QEMU hard limit, s, default 600),
# XSW_VM_OUT (results, default build/kernel/vm-test), XSW_VM_SMP (1).
. "$(dirname "$0")/../lib/tap.sh"

top=$XSW_TOP
out=${XSW_VM_OUT:-$top/build/kernel/vm-test}
limit=${XSW_VM_TIMEOUT:-600}
bzimage=$top/build/kernel/bzImage
initrd=$top/build/kernel/initramfs.cpio.gz
plan=$top/tests/kernel/vm/plan.full
tiers="syscall fentry tracepoint"
scenarios="basic multi cpuid-twice"

command -v qemu-system-x86_64 >/dev/null ||
	t_skip_all "qemu-system-x86_64 not installed (apt-get install qemu-system-x86)"
for tool in jq cpio; do
	command -v $tool >/dev/null || t_skip_all "$tool not installed (make deps)"
done

mkdir -p "$out"
rm -f "$out"/*.log "$out"/files/* 2>/dev/null

# --- build ---------------------------------------------------------------
t0=$(date +%s)
if ! make -C "$top" -s --no-print-directory kernel initramfs >"$out/build.log" 2>&1; then
	t_fail "kernel and initramfs build" "$(tail -n 30 "$out/build.log")"
	t_done
	exit 1
fi
t_ok "kernel $(cat "$bzimage.version") and initramfs ready in $(( $(date +%s) - t0 ))s"
patched=1
grep -q pristine "$bzimage.version" && patched=0

# --- boot ----------------------------------------------------------------
t0=$(date +%s)
rc=0
"$top/tests/kernel/vm/run-qemu.sh" --plan full --timeout "$limit" --smp "${XSW_VM_SMP:-1}" \
	"$bzimage" "$initrd" "$out" || rc=$?
boot_s=$(( $(date +%s) - t0 ))
console=$out/console.log
tr -d '\r' <"$console" >"$out/console.txt"
console=$out/console.txt

last_lines() { tail -n 25 "$console"; }

if ! grep -aq '^XSW-GUEST-START' "$console"; then
	t_fail "guest booted to /init" "QEMU exit $rc; last console lines:
$(last_lines)
$(cat "$out/qemu.out" 2>/dev/null)"
	t_done
	exit 1
fi
start=$(grep -a -m1 '^XSW-GUEST-START' "$console")
t_ok "guest booted: ${start#XSW-GUEST-START }"
case "$start" in
*" kvm=1"*) t_ok "guest has /dev/kvm (nested $(case "$start" in *svm=1*) echo SVM ;; *) echo VMX ;; esac))" ;;
*) t_fail "guest has /dev/kvm" "$start" ;;
esac
# The nested KVM_RUN hang: a TSC the guest could not calibrate (see
# docs/kernel-testing.md). run-qemu.sh passes tsc_early_khz to prevent it.
if grep -aq 'could not calculate TSC khz' "$console"; then
	t_fail "guest knows its TSC rate" "$(grep -a 'tsc:' "$console")
KVM_RUN in the guest spins in kvm_guest_time_update() while tsc_khz is 0"
else
	t_ok "guest knows its TSC rate ($(grep -a -o 'tsc: Detected [0-9.]* MHz' "$console" | head -n1 || echo "tsc_early_khz"))"
fi

if [ $rc -eq 0 ] && grep -aq '^XSW-GUEST-DONE' "$console"; then
	t_ok "guest ran its plan and powered off in ${boot_s}s"
else
	t_fail "guest ran its plan and powered off" "QEMU exit $rc after ${boot_s}s (124: the ${limit}s limit); last console lines:
$(last_lines)"
fi

# --- result files from ttyS1 -----------------------------------------------
mkdir -p "$out/files"
tr -d '\r' <"$out/data.log" | awk -v dir="$out/files" '
	/^XSW-FILE-BEGIN / { f = dir "/" $2; printf "" > f; next }
	/^XSW-FILE-END / { close(f); f = ""; next }
	f != "" { print >> f }'

# --- steps ---------------------------------------------------------------
step_note() { # STEP: its log file, if the guest sent one
	local f=$out/files/$1.log
	[ -s "$f" ] && { echo "guest log of $1:"; grep -v '^[0-9]*: (\|^; ' "$f" | tail -n 25; }
}
# A kselftest (step selftest-*) is judged by its own TAP: exit 0, no
# "not ok", and as many passes as its plan line announces (a failed
# TEST_ASSERT exits 254 without a "not ok" line, so the count is what
# catches it); exit 4 is kselftest's skip, reported with the test's reason.
selftest_check() { # STEP END-MARKER
	local step=$1 end=$2 log=$out/files/$1.log rc plan pass notok why
	rc=${end#* rc=} rc=${rc%% *}
	if [ "$rc" = 4 ]; then
		why=$(grep -s -a -m1 '# SKIP' "$log" | sed 's/.*# SKIP *//; s/^- //')
		t_skip "step $step" "kselftest skip: ${why:-no reason in its output}"
		return
	fi
	plan=$(grep -s -a -m1 -o '^1\.\.[0-9]*' "$log")
	pass=$(grep -s -a -E '^ok [0-9]+ ' "$log" | grep -v -c '# SKIP')
	notok=$(grep -s -a '^not ok ' "$log")
	if [ "$rc" = 0 ] && [ -z "$notok" ] && [ -n "$plan" ] && [ "${plan#1..}" -gt 0 ] &&
	   [ "$pass" -eq "${plan#1..}" ]; then
		t_ok "step $step: kselftest $pass/${plan#1..} passed (${end##*ms=} ms)"
	else
		t_fail "step $step: kselftest passed" "exit $rc, plan '${plan:-none}', $pass passed${notok:+
$notok}
$(step_note "$step")"
	fi
}
while read -r step _; do
	case "$step" in ''|'#'*) continue ;; esac
	if [ $patched -eq 0 ]; then
		case "$step" in
		tracepoint-*|selftest-*)
			t_skip "step $step" "kernel built without the series (kernel-patches/v6.12 has no patches)"
			continue ;;
		esac
	fi
	skip=$(grep -a "^XSW-STEP-SKIP $step " "$console")
	end=$(grep -a "^XSW-STEP-END $step " "$console")
	if [ -n "$skip" ]; then
		t_fail "step $step" "skipped in the guest: ${skip#XSW-STEP-SKIP "$step" }"
	elif grep -aq "^XSW-STEP-HUNG $step " "$console"; then
		t_fail "step $step" "hung: $(grep -a "^XSW-STEP-HUNG $step " "$console"); the guest's
last lines of the step and its sysrq dumps are in $console
$(step_note "$step")"
	elif [ -z "$end" ]; then
		t_fail "step $step" "never finished (guest died or QEMU hit its limit)"
	else
		case "$step:$end" in
		selftest-*) selftest_check "$step" "$end" ;;
		*" rc=0 "*) t_ok "step $step (${end##*ms=} ms)" ;;
		*) t_fail "step $step" "$end
$(step_note "$step")" ;;
		esac
	fi
done <"$plan"

# --- kernel log ----------------------------------------------------------
bad=$(grep -a -E 'WARNING:|BUG:|Oops|Kernel panic|general protection fault' "$console")
if [ -z "$bad" ]; then
	t_ok "no kernel WARNING, BUG, Oops or panic on the console"
else
	t_fail "no kernel WARNING, BUG, Oops or panic on the console" "$bad"
fi

# --- what each tier saw ----------------------------------------------------
files=$out/files
run_tiers=""
for tier in $tiers; do
	[ $patched -eq 0 ] && [ "$tier" = tracepoint ] && continue
	run_tiers="$run_tiers $tier"
done

events_of() { jq -r '.event' "$1" 2>/dev/null | sort -u | tr '\n' ' '; }
for tier in $run_tiers; do
	f=$files/$tier-basic.jsonl
	[ -s "$f" ] || { t_fail "$tier tier: events of the basic scenario" "no $tier-basic.jsonl from the guest"; continue; }
	need="vm_create vcpu_create set_cpuid first_run vcpu_destroy vm_destroy"
	case $tier in
	fentry) need="$need perm_request supported_cpuid perm_sync" ;;
	tracepoint) need="$need perm_sync" ;;
	esac
	got=" $(events_of "$f") " missing=""
	for e in $need; do
		case "$got" in *" $e "*) ;; *) missing="$missing $e" ;; esac
	done
	if [ -z "$missing" ]; then
		t_ok "$tier tier saw$(printf ' %s' $need)"
	else
		t_fail "$tier tier saw every lifecycle event" "missing:$missing; got:$got"
	fi
	# The tracepoint tier takes VM/vCPU lifecycle from the syscall tier.
	allowed="\"$tier\""
	[ $tier = tracepoint ] && allowed="\"tracepoint\", \"syscall\""
	wrong=$(jq -r "select(.source | IN($allowed, \"check\") | not) | .source" "$f" | sort -u | tr '\n' ' ')
	t_eq "$tier tier events carry source $tier" "$wrong" ""
done
if [ $patched -eq 1 ]; then
	# Each new tracepoint, seen as an event whose source is the tracepoint.
	tp_seen() { # DESC FILE JQ-FILTER
		local n
		n=$(jq -c "select(.source == \"tracepoint\") | select($3)" "$2" 2>/dev/null | wc -l)
		if [ "$n" -ge 1 ]; then t_ok "tracepoint tier: $1 ($n events)"
		else t_fail "tracepoint tier: $1" "no such event in $2"; fi
	}
	tp_seen "x86_fpu_guest_perm_sync fired at vCPU creation and locked the permission" \
		"$files/tracepoint-basic.jsonl" '.event == "perm_sync" and .locked_now == true'
	tp_seen "kvm_set_cpuid fired with the kernel's required sizes" \
		"$files/tracepoint-basic.jsonl" '.event == "set_cpuid" and .required_std > 0'
	tp_seen "x86_fpu_xstate_perm fired for a guest permission request" \
		"$files/tracepoint-perm-after-lock.jsonl" '.event == "perm_request" and .request == true and .guest == true'
	tp_seen "kvm_set_cpuid fired for a rejected KVM_SET_CPUID2" \
		"$files/tracepoint-cpuid-twice.jsonl" '.event == "set_cpuid" and .ret != 0'
	# The raw ftrace output of the series (step ftrace-sample): each event
	# prints, and a rejected KVM_SET_CPUID2 (changed after KVM_RUN) is traced
	# with its error.
	ft=$files/ftrace.txt
	for ev in x86_fpu_xstate_perm x86_fpu_guest_perm_sync kvm_set_cpuid; do
		if grep -q " $ev: " "$ft" 2>/dev/null; then t_ok "ftrace prints $ev"
		else t_fail "ftrace prints $ev" "no '$ev:' line in $ft (step ftrace-sample)"; fi
	done
	if grep -q 'kvm_set_cpuid: .* ret=-22$' "$ft" 2>/dev/null; then
		t_ok "ftrace: a rejected KVM_SET_CPUID2 is traced with ret=-22"
	else
		t_fail "ftrace: rejected KVM_SET_CPUID2 traced" "no kvm_set_cpuid line ending ret=-22 in $ft"
	fi
	t_skip "tracepoint tier: x86_fpu_fpstate_realloc fired" \
		"no AMX here (host, QEMU TCG): the XFD realloc path cannot run"
fi

# --- sizes against the size model of the guest CPU --------------------------
xsize=$top/build/tools/xstate-size/xstate-size
cpu=$files/guest.cpu
fmt=standard
case "$start" in *xsaves=1*|*xsavec=1*) fmt=compacted ;; esac
model_size() { # MASK FORMAT
	"$xsize" --cpu-model "$cpu" "$1" 2>/dev/null |
		awk -v f="$2" '/^mask/ { print (f == "standard") ? $4 : $6; exit }'
}
if [ ! -x "$xsize" ] || [ ! -s "$cpu" ]; then
	t_fail "fpstate sizes equal the size model" "need $xsize and the guest's CPU model (step guest-cpu)"
else
	checked=0 mismatches=""
	while read -r src ev vcpu size usize xf uxf; do
		want=$(model_size "$xf" $fmt)
		uwant=$(model_size "$uxf" standard)
		checked=$((checked + 1))
		[ "$size" = "$want" ] ||
			mismatches="$mismatches
$src $ev vCPU $vcpu: fpstate size $size, model $want ($fmt, xfeatures $xf)"
		[ "$usize" = "$uwant" ] ||
			mismatches="$mismatches
$src $ev vCPU $vcpu: user_size $usize, model $uwant (standard, user_xfeatures $uxf)"
	done < <(cat "$files"/*.jsonl 2>/dev/null | jq -r 'select(.fpstate.size != null and .fpstate.size > 0)
		| [.source, .event, .vcpu_id, .fpstate.size, .fpstate.user_size,
		   .fpstate.xfeatures, .fpstate.user_xfeatures] | @tsv' | sort -u)
	if [ $checked -eq 0 ]; then
		t_fail "fpstate sizes equal the size model" "no event with an fpstate in any tier's output"
	elif [ -z "$mismatches" ]; then
		t_ok "fpstate sizes equal the size model ($checked distinct fpstates, $fmt format)"
	else
		t_fail "fpstate sizes equal the size model" "${mismatches#?}"
	fi
fi

# --- the tiers agree ---------------------------------------------------------
# Per scenario: every vCPU's sizes as each tier saw them (VM addresses differ
# between runs, so vCPUs are compared as a sorted multiset).
signature() {
	jq -r 'select(.event == "vcpu_create" or .event == "set_cpuid" or .event == "perm_sync")
		| [.event, .vcpu_id, .ret, .fpstate.size, .fpstate.user_size, .fpstate.xfeatures,
		   (.guest_supported_xcr0 // "-"), (.cpuid_xcr0 // "-")] | @tsv' "$1" | sort
}
for scn in $scenarios; do
	ref="" ref_tier=""
	for tier in $run_tiers; do
		f=$files/$tier-$scn.jsonl
		[ -s "$f" ] || continue
		# perm_sync is not a syscall-tier event on every kernel: compare
		# it only between tiers that both have it.
		sig=$(signature "$f" | grep -v '^perm_sync' )
		if [ -z "$ref_tier" ]; then
			ref=$sig ref_tier=$tier
			continue
		fi
		if [ "$sig" = "$ref" ]; then
			t_ok "$scn: $tier and $ref_tier tiers agree on every vCPU ($(echo "$sig" | wc -l) events)"
		else
			t_fail "$scn: $tier and $ref_tier tiers agree on every vCPU" "$(diff <(echo "$ref") <(echo "$sig") | head -n 20)"
		fi
	done
	[ -n "$ref_tier" ] || t_fail "$scn: tiers agree" "no tier produced $scn output"
done

# --- VMs that go without close() --------------------------------------------
# exec and close-paths: each tier must see every VM go at the same point of
# the run, between the same step marks (supported_cpuid): the fentry tier
# at kvm_arch_destroy_vm(), which is the kernel's own word on it; the
# syscall and tracepoint tiers from their fd accounting. Within a step the
# order may differ (fentry sees the VM before its vCPUs), so each step's
# events are compared sorted. process_exit is left out: the fentry tier
# sees a VM the process still held go after it.
steps_of() {
	jq -rs '[.[] | select(.event | test("^(vm_create|vcpu_create|vm_destroy|vcpu_destroy|supported_cpuid)$")) | .event]
		| reduce .[] as $e ([[]]; if $e == "supported_cpuid" then . + [[]] else .[:-1] + [.[-1] + [$e]] end)
		| map(sort | join(" ")) | join(" | ")' "$1"
}
for scn in exec close-paths; do
	ref="" ref_tier=""
	for tier in $run_tiers; do
		f=$files/$tier-$scn.jsonl
		if [ ! -s "$f" ]; then
			t_fail "$scn under the $tier tier" "no $tier-$scn.jsonl from the guest"
			continue
		fi
		st=$(steps_of "$f")
		if [ -z "$ref_tier" ]; then
			ref=$st ref_tier=$tier
			continue
		fi
		t_eq "$scn: VMs come and go at the same steps under the $tier and $ref_tier tiers" "$st" "$ref"
	done
done
# Every vCPU of those goes while it is still there to read: at exec the
# syscall tier reads a VM only when its files wait in the task's task_works
# for their last fput() (the struct file member it matches them by has
# been renamed twice: this is the kernel where that match is checked).
for scn in exec close-paths; do
	for tier in $run_tiers; do
		f=$files/$tier-$scn.jsonl
		[ -s "$f" ] || continue
		t_eq "$scn under the $tier tier: every vcpu_destroy carries the vCPU's fpstate" \
			"$(jq -r 'select(.event == "vcpu_destroy") | (.fpstate.size // 0) > 0' "$f" | sort -u | xargs)" "true"
	done
done

# --- auto picks the most precise tier ----------------------------------------
want_tier=tracepoint
[ $patched -eq 1 ] || want_tier=fentry
chose=$(grep -a -o 'probe tier: [a-z]*' "$files/auto-basic.log" 2>/dev/null | head -n1)
t_eq "--probes=auto chose the $want_tier tier" "${chose#probe tier: }" "$want_tier"

echo "# kernel $(cat "$bzimage.version"), boot and plan ${boot_s}s; logs in $out"
t_done
