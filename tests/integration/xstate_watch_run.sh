#!/usr/bin/env bash
# xstate-watch run -- vcpu-lifecycle SCENARIO, for every scenario
# vcpu-lifecycle lists: real KVM, real BPF. For each: the exit status is
# the scenario's own, the events come in lifecycle order, the vCPU ids and
# counts match what vcpu-lifecycle created, every fpstate size the probes
# read from the kernel equals the size model's figure for that fpstate's
# own xfeatures (I1 against the live kernel), no invariant fails, and only
# the lints the scenario provokes on purpose fire.
set -uo pipefail
. "$(dirname "$0")/../lib/tap.sh"

W=$XSW_BUILD/tools/xstate-watch/xstate-watch
VL=$XSW_BUILD/tools/vcpu-lifecycle/vcpu-lifecycle
XS=$XSW_BUILD/tools/xstate-size/xstate-size
for b in "$W" "$VL" "$XS"; do
	[ -x "$b" ] || t_skip_all "$b not built (make all)"
done
command -v jq >/dev/null || t_skip_all "jq not installed (make deps)"
t_need_root
t_need_kvm
[ -r /sys/kernel/btf/vmlinux ] || t_skip_all "no BTF at /sys/kernel/btf/vmlinux"
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null ||
	t_skip_all "tracefs not mounted and cannot be mounted at /sys/kernel/tracing"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# A CPU model of the host's own vendor: the standard-format XSAVE layout
# (CPUID.0xD.0 ECX) differs between vendors (Intel keeps the MPX hole before
# AVX-512: 2688 bytes for 0xe7, AMD 2432), so a foreign model is a real
# cpuid-size-low finding, checked on its own below.
case $(awk -F': ' '/^vendor_id/ { print $2; exit }' /proc/cpuinfo) in
GenuineIntel) own_model=sapphire-rapids-w9-3475x foreign_model=zen4-genoa-epyc9124 ;;
*) own_model=zen4-genoa-epyc9124 foreign_model= ;;
esac

# Arguments per scenario; a scenario not listed here runs without any.
args_for() {
	case $1 in
	multi) echo "--vms 2 --vcpus 2" ;;
	cpuid-model) echo "$XSW_TOP/tests/fixtures/cpu/$own_model.cpu" ;;
	exit-loop) echo "--exits 100" ;;
	bench) echo "--iterations 3" ;;
	esac
}
# Lints a scenario provokes on purpose (sorted, space separated).
lints_for() {
	case $1 in
	perm-late) echo "cpuid-pre-perm" ;;
	perm-after-lock) echo "perm-after-lock" ;;
	esac
}

scenario_block=$("$VL" --help | sed -n '/^SCENARIOS:/,/^$/p' | awk 'NR > 1 && NF')
scenarios=$(awk '/^    [a-z]/ { print $1 }' <<<"$scenario_block")
# A description argp wrapped would start a line of its own, and read as a scenario.
t_eq "vcpu-lifecycle --help: one line per scenario (none wrapped)" \
	"$(grep -v '^    [a-z]' <<<"$scenario_block")" ""
[ -n "$scenarios" ] || t_skip_all "could not read the scenario list from vcpu-lifecycle --help"

# Size model figures for this host, memoised: size MASK compacted|standard
declare -A sizes
size() {
	local key="$1/$2"
	if [ -z "${sizes[$key]:-}" ]; then
		sizes[$key]=$("$XS" "$1" | awk -v f="$2" '$1 == "mask" { for (i = 1; i < NF; i++) if ($i == f) print $(i + 1) }')
	fi
	echo "${sizes[$key]}"
}

for s in $scenarios; do
	# shellcheck disable=SC2046
	set -- $(args_for "$s")
	"$VL" "$s" "$@" >"$tmp/$s.alone" 2>&1
	want_rc=$?
	# The one violation a scenario may show: xfd-cpuid measures, with a
	# canary, that KVM_GET_XSAVE2 writes more than KVM_CAP_XSAVE2 said to
	# allocate, and says so; the collector must find that (I4), and only it.
	want_violations=
	if grep -q '^KVM_CAP_XSAVE2 short: ' "$tmp/$s.alone"; then
		want_violations=I4
		[ "$want_rc" -eq 0 ] && want_rc=3
	fi
	"$W" run -q --json "$tmp/$s.jsonl" --ktap "$tmp/$s.ktap" -- "$VL" "$s" "$@" \
		>"$tmp/$s.out" 2>"$tmp/$s.err"
	rc=$?
	t_eq "$s: exit status is the scenario's own, or 3 for a violation it shows ($want_rc)" "$rc" "$want_rc"
	if ! grep -q "probe tier: " "$tmp/$s.err"; then
		t_fail "$s: collector attached" "$(cat "$tmp/$s.err")"
		continue
	fi
	j=$tmp/$s.jsonl
	t_eq "$s: invariant violations: ${want_violations:-none}" \
		"$(jq -r 'select(.event == "violation") | .id' "$j" | sort -u | xargs)" "$want_violations"
	t_eq "$s: lints: exactly the provoked ones" \
		"$(jq -r 'select(.event == "lint") | .id' "$j" | sort -u | xargs)" "$(lints_for "$s")"

	# vCPUs: the ids vcpu-lifecycle created (vmN/ prefix in multi) vs the events.
	created=$(grep -oE 'KVM_CREATE_VCPU\(id [0-9]+\) -> fd' "$tmp/$s.out" | grep -oE '[0-9]+' | sort -n | xargs)
	seen=$(jq -r 'select(.event == "vcpu_create" and .ret == 0) | .vcpu_id' "$j" | sort -n | xargs)
	nr_seen=$(wc -w <<<"$seen")
	if [ "$s" = bench ]; then
		# bench prints timings, not each ioctl: 3 iterations x 1 VM x 1 vCPU at least.
		[ "$nr_seen" -ge 3 ] && t_ok "$s: $nr_seen vCPUs seen (>= 3 iterations)" ||
			t_fail "$s: vCPUs seen" "only $nr_seen vcpu_create events"
	else
		t_eq "$s: vCPU ids seen = ids created" "$seen" "$created"
	fi
	t_eq "$s: every vCPU created is seen destroyed" \
		"$(jq -r 'select(.event == "vcpu_destroy") | .vcpu_id' "$j" | wc -l)" "$nr_seen"
	t_eq "$s: one KTAP lifecycle point per vCPU, failed as many as violations" \
		"$(grep -c ' lifecycle: ' "$tmp/$s.ktap")|$(tail -1 "$tmp/$s.ktap" | sed 's/.*, //')" \
		"$nr_seen|$(wc -w <<<"$want_violations" | tr -d ' ') failed"

	# Order: per vCPU, create first and destroy last, CPUID before the first
	# run; its VM created before and destroyed after it; process_exit last.
	bad=$(jq -r '[.event, .vm, (.vcpu_id | tostring), (.pid | tostring)] | join(" ")' "$j" | awk '
		{ n++ }
		$1 == "vm_create" { vmc[$2] = n }
		$1 == "vm_destroy" { vmd[$2] = n }
		$1 == "process_exit" { pe[$4] = n }
		$3 != "-1" {
			k = $2 "/" $3
			if (!(k in first)) first[k] = $1
			last[k] = $1
			if ($1 == "vcpu_create") { cr[k] = n; vmof[k] = $2; pidof[k] = $4 }
			if ($1 == "set_cpuid" && !(k in sc)) sc[k] = n
			if ($1 == "first_run" && !(k in fr)) fr[k] = n
			if ($1 == "vcpu_destroy") ds[k] = n
		}
		$1 != "process_exit" { lastn[$4] = n }
		END {
			for (k in cr) {
				if (first[k] != "vcpu_create") print k ": first event " first[k]
				if (!(k in ds)) print k ": never destroyed"
				else if (last[k] != "vcpu_destroy") print k ": event after destroy: " last[k]
				if ((k in fr) && !((k in sc) && sc[k] < fr[k])) print k ": ran before KVM_SET_CPUID2"
				if (!(vmof[k] in vmc) || vmc[vmof[k]] > cr[k]) print k ": VM not created first"
				if (!(vmof[k] in vmd) || vmd[vmof[k]] < ds[k]) print k ": VM destroyed before it"
				if (!(pidof[k] in pe) || pe[pidof[k]] < lastn[pidof[k]]) print k ": process_exit not last"
			}
		}')
	t_eq "$s: events in lifecycle order" "$bad" ""

	# I1 against the live kernel: fpstate->size == model(xfeatures, compacted),
	# user_size == model(user_xfeatures, standard).
	tuples=$(jq -r 'select(.fpstate) | .fpstate | "\(.size) \(.xfeatures) \(.user_size) \(.user_xfeatures)"' "$j" | sort -u)
	if [ "$nr_seen" -gt 0 ] && [ -z "$tuples" ]; then
		t_fail "$s: fpstate sizes read from the kernel" "no event carried an fpstate"
		continue
	fi
	mism=""
	while read -r sz xf usz uxf; do
		[ -n "$sz" ] || continue
		[ "$sz" = "$(size "$xf" compacted)" ] ||
			mism+="fpstate->size $sz, model says $(size "$xf" compacted) for $xf; "
		[ "$usz" = "$(size "$uxf" standard)" ] ||
			mism+="user_size $usz, model says $(size "$uxf" standard) for $uxf; "
	done <<<"$tuples"
	[ -z "$tuples" ] && t_ok "$s: no vCPU, no fpstate to compare" ||
		t_eq "$s: kernel fpstate sizes = size model ($(echo "$tuples" | awk '{ print $1 "@" $2 }' | xargs))" "$mism" ""
done

# exec: the VMM's VM 1 goes with the exec (its fds were close-on-exec; no
# close() ran), VM 2 (kept) with the process's exit, and VM 3, created
# after the exec, is a new lifecycle even where it reuses VM 1's addresses.
# Phase 2 starts at the second supported_cpuid.
j=$tmp/exec.jsonl
if [ -s "$j" ]; then
	t_eq "exec: at the exec, VM 1's vCPU and VM 1 destroyed; nothing of VM 2" \
		"$(jq -r '.event' "$j" | awk '$1 == "supported_cpuid" && ++n == 2 { exit }
			$1 ~ /destroy$/ { print $1 }' | xargs)" "vcpu_destroy vm_destroy"
	t_eq "exec: VM 1's vCPU read at the exec (its files wait in task_works for their last fput())" \
		"$(jq -r 'select(.event == "vcpu_destroy") | (.fpstate.size // 0) > 0' "$j" | head -n1)" "true"
	t_eq "exec: each vCPU's successful KVM_SET_CPUID2 is its generation 1" \
		"$(jq -r 'select(.event == "set_cpuid" and .ret == 0) | .generation' "$j" | xargs)" "1 1 1"
	t_eq "exec: the kept vCPU's KVM_SET_CPUID2 after exec: EIO, its generation 2, VM 2's" \
		"$(jq -r 'select(.event == "set_cpuid" and .ret != 0) | "\(.ret) \(.generation) \(.vm)"' "$j")" \
		"-5 2 $(jq -r 'select(.event == "vm_create") | .vm' "$j" | sed -n 2p)"
	t_eq "exec: 3 VMs created and destroyed, VM 2 last (at exit)" \
		"$(jq -r 'select(.event == "vm_create") | .vm' "$j" | wc -l) $(jq -r 'select(.event == "vm_destroy") | .vm' "$j" | wc -l) $(jq -r 'select(.event == "vm_destroy") | .vm' "$j" | tail -1)" \
		"3 3 $(jq -r 'select(.event == "vm_create") | .vm' "$j" | sed -n 2p)"
else
	t_fail "exec: events recorded" "no $j (the scenario list has no exec?)"
fi

# xfd-cpuid: the permitted process's KVM_SET_CPUID2 reallocates the vCPU's
# fpstate for XTILEDATA; the syscall tier reports it (the pointer changed
# across the call) before the set_cpuid, with the old buffer's size from
# the call's entry. The child's call fails with EPERM and reallocates
# nothing. The sizes are the size model's.
j=$tmp/xfd-cpuid.jsonl
if grep -q '^SKIP' "$tmp/xfd-cpuid.alone" 2>/dev/null; then
	t_skip "xfd-cpuid: fpstate_realloc at KVM_SET_CPUID2" "$(grep '^SKIP' "$tmp/xfd-cpuid.alone")"
elif [ -s "$j" ]; then
	perm=$(grep -o 'guest permission 0x[0-9a-f]*' "$tmp/xfd-cpuid.out" | awk '{ print $3 }')
	old=$(jq -r 'select(.event == "vcpu_create") | .fpstate.xfeatures' "$j" | tail -1)
	t_eq "xfd-cpuid: set_cpuid EPERM (child), then fpstate_realloc and set_cpuid" \
		"$(jq -r 'select(.event | test("^(set_cpuid|fpstate_realloc)$")) | "\(.event)\(.ret)"' "$j" | xargs)" \
		"set_cpuid-1 fpstate_realloc0 set_cpuid0"
	t_eq "xfd-cpuid: fpstate_realloc old -> new size, added, uABI size" \
		"$(jq -r 'select(.event == "fpstate_realloc") | "\(.old_size) \(.new_size) \(.xfeatures_added) \(.user_size)"' "$j")" \
		"$(size "$old" compacted) $(size "$perm" compacted) 0x40000 $(size "$perm" standard)"
	t_check "xfd-cpuid: KTAP counts the realloc" grep -q ' ran, 1 realloc(s), destroyed$' "$tmp/xfd-cpuid.ktap"
	# What the scenario measured, and what the collector computed.
	if short=$(grep -o '^KVM_CAP_XSAVE2 short: [0-9]* bytes, KVM_GET_XSAVE2 writes [0-9]*' "$tmp/xfd-cpuid.out"); then
		t_eq "xfd-cpuid: the I4 violation has the sizes the scenario measured ($short)" \
			"$(jq -r 'select(.event == "violation" and .id == "I4") | "\(.have_size) \(.need_size)"' "$j")" \
			"$(awk '{ print $3, $NF }' <<<"$short")"
	fi
else
	t_fail "xfd-cpuid: events recorded" "no $j (the scenario list has no xfd-cpuid?)"
fi

# close-paths: fds that close without close(), and copies made without
# dup2(). VM 1 goes with close_range() (before the first step mark, a
# supported_cpuid); dup2() and dup3() take VM 2's vCPU fd and then a VM 2
# duplicate, leaving VM 2 held (nothing between the first two marks); its
# own fd closes while dup() and fcntl(F_DUPFD_CLOEXEC) copies hold it
# (nothing between the second and third: the build before dup_exit()
# reported VM 2 gone there); the last copy's close() takes it.
# Both hook sets: the raw hooks switch on the syscall number themselves.
for hooks in events raw; do
	"$W" run -q --probes=syscall --syscall-hooks=$hooks --json "$tmp/close-$hooks.jsonl" -- \
		"$VL" close-paths >/dev/null 2>"$tmp/close-$hooks.err"
	t_eq "close-paths, $hooks hooks: exit status 0" "$?" 0
	t_eq "close-paths, $hooks hooks: VM 1 at close_range(), VM 2 at its last copy's close(), none at exit" \
		"$(jq -r 'select(.event | test("destroy$|supported_cpuid|process_exit")) | .event' \
			"$tmp/close-$hooks.jsonl" | xargs)" \
		"supported_cpuid vcpu_destroy vm_destroy supported_cpuid supported_cpuid supported_cpuid vcpu_destroy vm_destroy process_exit"
	t_eq "close-paths, $hooks hooks: both vCPU destroys read the live vCPU" \
		"$(jq -r 'select(.event == "vcpu_destroy") | (.fpstate.size // 0) > 0' "$tmp/close-$hooks.jsonl" | xargs)" \
		"true true"
done

# A VM closed through io_uring, which no hook sees. When KVM gives the next
# VM the same address (it usually does), the old VM must be reported gone
# there, late, and its state must not pass to the new one: the new vCPU's
# first KVM_SET_CPUID2 is its generation 1. When the address differs there
# is nothing stale to meet, and the case is a skip.
uc=$XSW_BUILD/tests/lib/kvm-uring-close
if [ -x "$uc" ]; then
	"$W" run -q --probes=syscall --json "$tmp/uring.jsonl" -- "$uc" >"$tmp/uring.out" 2>"$tmp/uring.err"
	rc=$?
	if [ $rc -eq 77 ]; then
		t_skip "io_uring close" "$(grep FAIL "$tmp/uring.out")"
	else
		t_eq "io_uring close: exit status 0" "$rc" 0
		vms=$(jq -r 'select(.event == "vm_create") | .vm' "$tmp/uring.jsonl" | xargs)
		set -- $vms
		if [ $# -eq 2 ] && [ "$1" = "$2" ]; then
			t_eq "io_uring close, VM 2 at VM 1's address: VM 1 reported gone before VM 2, generations 1 and 1" \
				"$(jq -r 'select(.event | test("^(vm_create|vcpu_destroy|vm_destroy|set_cpuid)$")) | "\(.event)\(.generation // "")"' \
					"$tmp/uring.jsonl" | xargs)" \
				"vm_create set_cpuid1 vcpu_destroy vm_destroy vm_create set_cpuid1 vcpu_destroy vm_destroy"
		else
			t_skip "io_uring close: stale state" "KVM gave VM 2 another address ($vms): nothing stale to meet"
		fi
	fi
	# "exit": VM 2 (made first, run once, kept open) and VM 1 (closed
	# through io_uring) are both tracked at the exit. VM 2 is in the fd
	# table and read; VM 1 is in no fd, freed by then, and reported gone
	# with nothing read from it (reading it found the freed vCPU's stale
	# uabi_size and xfeatures).
	# "exec": the same, at an exec instead (KVM made VM 2's fds close-on-
	# exec). VM 2's files wait for their last fput() in the task's
	# task_works and are read; VM 1 is in no fd and in no pending fput, and
	# is reported gone unread (the build before exec_releases_vm() read it).
	for mode in exit exec; do
		"$W" run -q --probes=syscall --json "$tmp/uring-$mode.jsonl" -- "$uc" $mode \
			>"$tmp/uring-$mode.out" 2>"$tmp/uring-$mode.err"
		rc=$?
		if [ $rc -eq 77 ]; then
			t_skip "io_uring close, then $mode" "$(grep FAIL "$tmp/uring-$mode.out")"
			continue
		fi
		t_eq "io_uring close, then $mode: exit status 0" "$rc" 0
		t_eq "io_uring close, then $mode: the kept VM read at the $mode, the closed one reported gone unread, then process_exit" \
			"$(jq -r 'select(.event | test("^(vm_create|vcpu_destroy|vm_destroy|process_exit)$")) |
				"\(.event)\(if .event == "vcpu_destroy" then
					"(\(.fpstate.size // 0 | if . > 0 then "read" else 0 end),\(.uabi_size | if . > 0 then "read" else 0 end))"
					else "" end)\(if .vm == "0x0" then "" else "@" + .vm end)"' \
				"$tmp/uring-$mode.jsonl" | awk '
				{ if (split($0, p, "@") == 2 && !(p[2] in n)) n[p[2]] = ++k == 1 ? "kept" : "closed"; print p[1] (p[2] == "" ? "" : " " n[p[2]]) }' | xargs)" \
			"vm_create kept vm_create closed vcpu_destroy(read,read) kept vm_destroy kept vcpu_destroy(0,0) closed vm_destroy closed process_exit"
	done
else
	t_fail "io_uring close" "$uc not built (make test-helpers)"
fi

# --strict: the lint perm-late provokes fails the run, whatever CMD returned.
"$W" run -q --strict --ktap "$tmp/strict.ktap" -- "$VL" perm-late >/dev/null 2>"$tmp/strict.err"
t_eq "perm-late --strict: exit status 3" "$?" 3
t_check "perm-late --strict: KTAP fails the lint's test point" \
	grep -qE "^not ok [0-9]+ pid [0-9]+ \(vcpu-lifecycle\) lint cpuid-pre-perm$" "$tmp/strict.ktap"
# A Zen 4 CPUID model on an Intel host: its 0xD.0 ECX (2432, AMD layout)
# understates what this CPU's XSAVE writes for the same xcr0.
if [ -n "$foreign_model" ]; then
	"$W" run -q --json "$tmp/foreign.jsonl" -- "$VL" cpuid-model \
		"$XSW_TOP/tests/fixtures/cpu/$foreign_model.cpu" >/dev/null 2>"$tmp/foreign.err"
	t_eq "cpuid-model $foreign_model on $own_model's vendor: exit status 0 (a lint, not a violation)" "$?" 0
	t_eq "cpuid-model $foreign_model: lint cpuid-size-low, with the host's standard size" \
		"$(jq -r 'select(.event == "lint") | "\(.id) \(.need_size)"' "$tmp/foreign.jsonl" | sort -u | xargs)" \
		"cpuid-size-low $(size 0xe7 standard)"
else
	t_skip "cpuid-model with a foreign vendor's CPU model" "the AMD layout is the smaller one: an Intel model on this AMD host is oversized, not a finding"
fi
# More vCPUs per VM than the syscall tier keeps inline in its VM entry (16):
# the last close() of each VM must still report every vCPU, before the VM
# and before process exit.
"$W" run -q --json "$tmp/wide.jsonl" -- "$VL" multi --vms 2 --vcpus 20 >/dev/null 2>"$tmp/wide.err"
t_eq "multi --vms 2 --vcpus 20: exit status 0" "$?" 0
t_eq "multi --vms 2 --vcpus 20: per VM, 20 vcpu_destroy then vm_destroy, all before process_exit" \
	"$(jq -r '[.event, .vm] | join(" ")' "$tmp/wide.jsonl" | awk '
		$1 == "vcpu_destroy" { d[$2]++; if (vmgone[$2]) bad = bad " vcpu after its vm" }
		$1 == "vm_destroy" { vmgone[$2] = 1; if (exited) bad = bad " vm after exit"; print d[$2] }
		$1 == "process_exit" { exited = 1 }
		END { if (bad) print bad }' | xargs)" "20 20"
# How the syscall tier reads kernel structs (--reads): plain loads through
# bpf_rdonly_cast() pointers where the kernel has the kfunc (v6.2+), probe
# reads elsewhere. Both must see the same lifecycle with the same kernel
# figures; auto must pick direct loads where they are possible, not fall
# back in silence. Addresses, pids and times differ between runs and are
# left out of the comparison, and so is which vCPU's creation locked the
# permission (the threads race for it).
norm='select(.event != "summary") | [.event, (.vcpu_id | tostring), (.ret | tostring),
	(.fpstate // {} | tostring), (.perm // {} | tostring), (.generation // "" | tostring),
	(.uabi_size // "" | tostring)] | join(" ")'
bpftool btf dump file /sys/kernel/btf/vmlinux >"$tmp/btf.txt" 2>&1
if grep -q "FUNC 'bpf_rdonly_cast'" "$tmp/btf.txt"; then
	for how in auto direct probe; do
		"$W" run -q --probes=syscall --reads=$how --json "$tmp/reads-$how.jsonl" -- \
			"$VL" multi --vms 2 --vcpus 3 >/dev/null 2>"$tmp/reads-$how.err"
		t_eq "--reads=$how: exit status 0" "$?" 0
	done
	t_check "--reads=auto on a kernel with bpf_rdonly_cast: direct loads" \
		grep -q "probe tier: syscall (forced), direct loads" "$tmp/reads-auto.err"
	t_check "--reads=probe: probe reads" \
		grep -q "probe tier: syscall (forced), probe reads" "$tmp/reads-probe.err"
	# multi runs a thread per vCPU: compare the events as sets.
	t_check "--reads=direct and --reads=probe: the same events and kernel figures" \
		diff <(jq -r "$norm" "$tmp/reads-direct.jsonl" | sort) \
		<(jq -r "$norm" "$tmp/reads-probe.jsonl" | sort)
	for how in direct probe; do
		t_check "--reads=$how: a vCPU creation locked the guest permission" \
			jq -s -e 'any(.[]; .locked_now == true)' "$tmp/reads-$how.jsonl"
	done
	t_eq "--reads=probe: 6 vCPUs created and destroyed" \
		"$(jq -r 'select(.event == "vcpu_create" or .event == "vcpu_destroy") | .event' "$tmp/reads-probe.jsonl" | sort | uniq -c | awk '{ print $1 }' | xargs)" "6 6"
	# The fallback itself. tests/lib/bpf_refuse_first_object.so makes the
	# kernel refuse the first object's programs (as a kernel before v6.2
	# refuses direct loads); the probe-read object then goes to the real
	# kernel. auto must say why on the tier line (one line) and trace what
	# --reads=probe traces; a forced --reads=direct must fail instead.
	shim=$XSW_BUILD/tests/lib/bpf_refuse_first_object.so
	if [ -f "$shim" ]; then
		# A sanitized build wants its runtime first in the preload list.
		ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 LD_PRELOAD=$shim \
			"$W" run -q --probes=syscall --reads=auto --json "$tmp/refused-auto.jsonl" -- \
			"$VL" multi --vms 2 --vcpus 3 >/dev/null 2>"$tmp/refused-auto.err"
		t_eq "direct loads refused, --reads=auto: exit status 0" "$?" 0
		t_check "direct loads refused, --reads=auto: the tier line says probe reads and why" \
			grep -q "probe tier: syscall (forced), probe reads; direct loads refused: .*Invalid argument.* (attached in" \
			"$tmp/refused-auto.err"
		t_eq "direct loads refused, --reads=auto: the tier line is one line" \
			"$(wc -l <"$tmp/refused-auto.err")" 1
		t_check "direct loads refused, --reads=auto: the events and kernel figures of --reads=probe" \
			diff <(jq -r "$norm" "$tmp/reads-probe.jsonl" | sort) \
			<(jq -r "$norm" "$tmp/refused-auto.jsonl" | sort)
		ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 LD_PRELOAD=$shim \
			"$W" run -q --probes=syscall --reads=direct -- true >/dev/null 2>"$tmp/refused-direct.err"
		t_eq "direct loads refused, --reads=direct: exit status 1 (no fallback when forced)" "$?" 1
		t_check "direct loads refused, --reads=direct: the error carries the kernel's log" \
			grep -q "bpf_refuse_first_object: refused" "$tmp/refused-direct.err"
	else
		t_fail "direct loads refused: $shim not built (make test-helpers)"
	fi
else
	t_skip "--reads=direct/probe comparison" "this kernel's BTF has no bpf_rdonly_cast (before v6.2): only probe reads run here"
fi
# The same handlers entered from raw_syscalls (--syscall-hooks=raw): a
# multi-threaded VMM gives the events the trace events give, and the tier
# line says which hooks run.
"$W" run -q --probes=syscall --syscall-hooks=raw --json "$tmp/hooks-raw.jsonl" -- \
	"$VL" multi --vms 2 --vcpus 3 >/dev/null 2>"$tmp/hooks-raw.err"
t_eq "--syscall-hooks=raw: exit status 0" "$?" 0
t_check "--syscall-hooks=raw: the tier line says raw syscall hooks" \
	grep -q "probe tier: syscall (forced), .*raw syscall hooks" "$tmp/hooks-raw.err"
if [ -s "$tmp/reads-auto.jsonl" ]; then
	t_check "--syscall-hooks=raw and the trace events: the same events and kernel figures" \
		diff <(jq -r "$norm" "$tmp/reads-auto.jsonl" | sort) \
		<(jq -r "$norm" "$tmp/hooks-raw.jsonl" | sort)
else
	t_eq "--syscall-hooks=raw: 6 vCPUs created and destroyed" \
		"$(jq -r 'select(.event == "vcpu_create" or .event == "vcpu_destroy") | .event' "$tmp/hooks-raw.jsonl" | sort | uniq -c | awk '{ print $1 }' | xargs)" "6 6"
fi
"$W" run -q --reads=fast -- true >/dev/null 2>"$tmp/reads-bad.err"
t_eq "--reads=fast: exit status 2 (usage)" "$?" 2
t_check "--reads=fast: names the option and the choices" \
	grep -q -- "--reads: unknown way 'fast' (auto, direct, probe)" "$tmp/reads-bad.err"
# Files on disk named like KVM's anonymous inodes are not KVM objects:
# KVM ioctls on them report nothing (before the anon-inode check they gave
# supported_cpuid events, and taught the syscall tier their filesystem's f_op as a
# VM's), and a real VM afterwards is still seen.
mkdir -p "$tmp/fake"
cat >"$tmp/fake.py" <<'PY'
import fcntl, os, sys
for name in ("kvm-vm", "kvm-vcpu:0"):
    fd = os.open(os.path.join(sys.argv[1], name), os.O_RDWR | os.O_CREAT, 0o600)
    for cmd in (0xC008AE05, 0x4008AE90):	# KVM_GET_SUPPORTED_CPUID, KVM_SET_CPUID2
        try:
            fcntl.ioctl(fd, cmd, bytearray(8))
        except OSError:
            pass
    os.close(fd)
os.execv(sys.argv[2], sys.argv[2:])
PY
"$W" run -q --json "$tmp/fake.jsonl" -- python3 "$tmp/fake.py" "$tmp/fake" "$VL" basic \
	>/dev/null 2>"$tmp/fake.err"
t_eq "files named kvm-vm/kvm-vcpu:0 on disk, then basic: exit status 0" "$?" 0
t_eq "files named kvm-vm/kvm-vcpu:0: no event for them; the real VM's lifecycle after" \
	"$(jq -r 'select(.event != "summary") | .event' "$tmp/fake.jsonl" | xargs)" \
	"$(jq -r 'select(.event != "summary") | .event' "$tmp/basic.jsonl" | xargs)"
t_done
