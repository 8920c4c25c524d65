#!/usr/bin/env bash
# The syscall probe tier on the real kernel: real BPF, real /dev/kvm.
# xsw-probe-dump loads the tier and runs vcpu-lifecycle under it; the
# events it prints (JSON lines) must tell the lifecycle in order, with the
# vCPU's fpstate size equal to what the size model computes for the
# kernel's own fpstate xfeatures; the pid filter must exclude a concurrent
# KVM process that an unfiltered probe does see; a ring buffer too small for
# a burst must report its drops as `lost` events; the kvm_entry/KVM_RUN
# guard must turn a thousand runs into one event; a CPUID table cut off by
# an unmapped page must still give the entries before the cut; the raw
# syscall hooks must give the same events as the trace events, and leave
# 32-bit syscalls alone as those do; bad options,
# a tier that cannot run, missing privileges, KVM or BTF must fail with a
# clear message, and an unmounted tracefs must be mounted.
source "$(dirname "$0")/../lib/tap.sh"
D=$XSW_BUILD/tools/xstate-watch/xsw-probe-dump
V=$XSW_BUILD/tools/vcpu-lifecycle/vcpu-lifecycle
XS=$XSW_BUILD/tools/xstate-size/xstate-size
t_need_root
t_need_kvm
[ -r /sys/kernel/btf/vmlinux ] || t_skip_all "no kernel BTF at /sys/kernel/btf/vmlinux"
for b in "$D" "$V" "$XS"; do [ -x "$b" ] || t_skip_all "$b not built (make all)"; done
tmp=$(mktemp -d)
bg_pids=()
cleanup() {
	local p
	for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

# "event pid vcpu_id ret" plus the named fields, one line per JSON event.
fields() { # FILE FIELD...
	python3 - "$@" <<'EOF'
import json, sys
path, names = sys.argv[1], sys.argv[2:]
for line in open(path):
    ev = json.loads(line)
    out = [ev["event"], str(ev["pid"]), str(ev["vcpu_id"]), str(ev["ret"])]
    for n in names:
        v = ev
        for k in n.split("."):
            v = v.get(k, "-") if isinstance(v, dict) else "-"
        out.append(str(v))
    print(" ".join(out))
EOF
}

# Wait until a background xsw-probe-dump says it is attached.
wait_attached() { # ERRFILE
	local i
	for i in $(seq 100); do
		grep -q '^# attached' "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# --- basic: the lifecycle in order, sizes from the kernel = size model ------
"$D" --probes=syscall --check-sizes -o "$tmp/basic.jsonl" -- "$V" basic >"$tmp/basic.out" 2>"$tmp/basic.err"
rc=$?
if [ $rc -eq 0 ]; then
	t_ok "basic under the syscall tier: workload and size checks pass (exit 0)"
else
	t_fail "basic under the syscall tier: exit $rc" "$(cat "$tmp/basic.err" "$tmp/basic.out")"
fi
grep -q '^# tier: syscall' "$tmp/basic.err" && t_ok "--probes=syscall loads the syscall tier" ||
	t_fail "--probes=syscall loads the syscall tier" "$(head -3 "$tmp/basic.err")"
# Runs the kernel skipped (recursion_misses): none here, but counted and said.
t_check "the closing line counts the program runs the kernel skipped (none)" \
	grep -q '^# events: [1-9][0-9]*, lost: 0, skipped runs: 0$' "$tmp/basic.err"
fields "$tmp/basic.jsonl" fpstate.size fpstate.xfeatures guest_supported_xcr0 >"$tmp/basic.ev"
pid=$(awk '$1=="vm_create" {print $2; exit}' "$tmp/basic.ev")
t_eq "every event comes from the traced workload (one pid)" \
	"$(awk '{print $2}' "$tmp/basic.ev" | sort -u)" "$pid"
order=$(awk '$1 ~ /^(vm_create|vcpu_create|set_cpuid|first_run|vcpu_destroy|vm_destroy|process_exit)$/ {print $1}' \
	"$tmp/basic.ev" | uniq | tr '\n' ' ')
t_eq "events in lifecycle order" "$order" \
	"vm_create vcpu_create set_cpuid first_run vcpu_destroy vm_destroy process_exit "
t_eq "vcpu_create for vCPU 0, ret 0" \
	"$(awk '$1=="vcpu_create" {print $3, $4}' "$tmp/basic.ev")" "0 0"
sc=$(awk '$1=="set_cpuid" {print $4, $7}' "$tmp/basic.ev")
if [ "${sc%% *}" = 0 ] && [ "${sc#* }" != "-" ] && [ $((${sc#* })) -ne 0 ]; then
	t_ok "set_cpuid succeeded with guest_supported_xcr0 ${sc#* } (nonzero)"
else
	t_fail "set_cpuid succeeded with a nonzero guest_supported_xcr0" "got: $sc"
fi
# I1 against the live kernel, through a second path: the xstate-size CLI on
# the fpstate xfeatures the probe read must give the size the probe read.
read -r size xf < <(awk '$1=="vcpu_create" {print $5, $6}' "$tmp/basic.ev")
# The kernel's buffers are compacted when it has XSAVEC or XSAVES (0xD.1 EAX bit 1 or 3).
eax=$("$XS" --dump-cpu | sed -n 's/^leaf=0x0000000d subleaf=0x01 eax=\(0x[0-9a-f]*\).*/\1/p')
fmt=standard
[ $(( ${eax:-0} & 0xa )) -ne 0 ] && fmt=compacted
model=$("$XS" "$xf" | awk -v f=$fmt '$1=="mask" { for (i = 3; i < NF; i++) if ($i == f) print $(i+1) }')
if [ -n "$size" ] && [ "$size" != "-" ] && [ "$size" = "$model" ]; then
	t_ok "vCPU fpstate size $size = size model for its xfeatures $xf ($fmt)"
else
	t_fail "vCPU fpstate size = size model" "kernel: $size for $xf; model ($fmt): $model"
fi
if grep -q '^# size checks: [1-9][0-9]*, mismatches: 0$' "$tmp/basic.err"; then
	t_ok "--check-sizes: every fpstate seen matches the model ($(grep '^# size checks' "$tmp/basic.err" | cut -c3-))"
else
	t_fail "--check-sizes: every fpstate seen matches the model" "$(grep size "$tmp/basic.err")"
fi
perm=$(awk '$1=="perm_sync" {print $3}' "$tmp/basic.ev")
t_eq "perm_sync with vcpu_create" "$perm" "0"
attach=$(sed -n 's/^# attached in \([0-9.]*\) ms.*/\1/p' "$tmp/basic.err")
echo "# attach time (program start to attached): $attach ms"

# --- pid filter: a concurrent KVM process is excluded ----------------------
# An unfiltered probe watches the whole window, to prove the other process
# really did KVM work while the filtered one was tracing.
"$D" --probes=syscall --duration 30 -o "$tmp/all.jsonl" 2>"$tmp/all.err" &
all_pid=$!
bg_pids+=("$all_pid")
if wait_attached "$tmp/all.err"; then
	# ~20 us per exit here: seconds of KVM_RUNs, stopped once the traced run ends.
	"$V" exit-loop --exits 1000000 >"$tmp/other.out" 2>&1 &
	other=$!
	bg_pids+=("$other")
	sleep 0.2
	"$D" --probes=syscall -o "$tmp/filt.jsonl" -- "$V" multi --vms 1 --vcpus 2 >"$tmp/filt.out" 2>"$tmp/filt.err"
	kill -0 "$other" 2>/dev/null && overlap=1 || overlap=0
	kill "$other" 2>/dev/null
	wait "$other" 2>/dev/null
	sleep 0.3
	kill -INT "$all_pid"
	wait "$all_pid"
	fields "$tmp/filt.jsonl" >"$tmp/filt.ev"
	fields "$tmp/all.jsonl" >"$tmp/all.ev"
	if awk -v p="$other" '$2==p && $1=="vm_create"' "$tmp/all.ev" | grep -q . && [ $overlap = 1 ]; then
		t_ok "unfiltered probe saw the concurrent process $other create its VM (it overlapped the traced run)"
	else
		t_fail "the concurrent KVM process ran during the traced run" \
			"overlap=$overlap; events of $other: $(awk -v p="$other" '$2==p' "$tmp/all.ev" | head -3)"
	fi
	t_eq "filtered probe: no event of the concurrent process $other" \
		"$(awk -v p="$other" '$2==p' "$tmp/filt.ev" | head -3)" ""
	t_eq "filtered probe: 2 vCPUs created and run" \
		"$(awk '$1=="vcpu_create" && $4==0' "$tmp/filt.ev" | wc -l) $(awk '$1=="first_run"' "$tmp/filt.ev" | wc -l)" "2 2"
else
	t_fail "background unfiltered probe attached" "$(cat "$tmp/all.err")"
fi

# --- children: CMD is a shell that forks the KVM workload --------------------
"$D" --probes=syscall -o "$tmp/child.jsonl" -- sh -c "'$V' basic; echo shell-after" \
	>"$tmp/child.out" 2>"$tmp/child.err"
fields "$tmp/child.jsonl" >"$tmp/child.ev"
kid=$(awk '$1=="vm_create" {print $2; exit}' "$tmp/child.ev")
if grep -q shell-after "$tmp/child.out" && [ -n "$kid" ] &&
   awk -v p="$kid" '$1=="process_exit" && $2==p' "$tmp/child.ev" | grep -q .; then
	t_ok "a child of the traced command is followed (vm_create .. process_exit of pid $kid)"
else
	t_fail "a child of the traced command is followed" "$(cat "$tmp/child.ev" "$tmp/child.err")"
fi

# --- lost events: a burst larger than a 4 KiB ring buffer -------------------
# Without the guard every KVM_RUN is an event: 20001 of them, against a ring
# of about 14 events. A prompt consumer can keep up with that (the probes
# batch wakeups), so the burst run's consumer sleeps 20 ms between polls
# (--lag-ms): the ring must overflow. The same workload with a 64 MiB ring
# gives the number of events produced: delivered + reported lost must add
# up to it.
burst() { # RINGBUF_KIB NAME [OPTIONS...]
	local kib=$1 name=$2; shift 2
	"$D" --probes=syscall --ringbuf-kib "$kib" --no-guard "$@" -o "$tmp/$name.jsonl" -- \
		"$V" exit-loop --exits 20000 >"$tmp/$name.out" 2>"$tmp/$name.err"
}
burst 65536 ref; rc_ref=$?
burst 4 burst --lag-ms 20; rc=$?
fields "$tmp/burst.jsonl" count >"$tmp/burst.ev"
lost_total=$(sed -n 's/^# events: [0-9]*, lost: \([0-9]*\),.*$/\1/p' "$tmp/burst.err")
lost_ref=$(sed -n 's/^# events: [0-9]*, lost: \([0-9]*\),.*$/\1/p' "$tmp/ref.err")
lost_events=$(awk '$1=="lost" {s += $5} END {print s + 0}' "$tmp/burst.ev")
delivered=$(awk '$1!="lost"' "$tmp/burst.ev" | wc -l)
produced=$(wc -l <"$tmp/ref.jsonl")
if [ $rc -eq 0 ] && [ $rc_ref -eq 0 ] && [ "$lost_ref" = 0 ] && [ "${lost_total:-0}" -gt 0 ] &&
   [ "$lost_events" = "$lost_total" ] && [ $((delivered + lost_total)) -eq "$produced" ]; then
	t_ok "4 KiB ring buffer: $delivered delivered + $lost_total reported lost = $produced produced"
else
	t_fail "burst: drops counted and reported as lost events" \
		"rc=$rc/$rc_ref lost()=$lost_total (ref $lost_ref) sum of lost events=$lost_events delivered=$delivered produced=$produced"
fi

# --- the run guard: a thousand KVM_RUNs, one event -------------------------
"$D" --probes=syscall -o "$tmp/g.jsonl" -- "$V" exit-loop --exits 1000 >/dev/null 2>"$tmp/g.err"
"$D" --probes=syscall --no-guard -o "$tmp/ng.jsonl" -- "$V" exit-loop --exits 1000 >/dev/null 2>"$tmp/ng.err"
g=$(fields "$tmp/g.jsonl" | awk '$1=="first_run" || $1=="xcr0_change"' | wc -l)
ng=$(fields "$tmp/ng.jsonl" | awk '$1=="first_run" || $1=="xcr0_change"' | wc -l)
if [ "$g" -eq 1 ] && [ "$ng" -gt 1000 ]; then
	t_ok "guard: 1001 KVM_RUNs give $g run event with the guard, $ng without"
else
	t_fail "guard: one run event with the guard, one per run without" "with: $g, without: $ng"
fi

# --- bad input and environment --------------------------------------------
out=$("$D" --probes=bogus 2>&1); rc=$?
if [ $rc -eq 2 ] && grep -q "unknown tier 'bogus'" <<<"$out"; then
	t_ok "--probes=bogus: exit 2, names the tier"
else
	t_fail "--probes=bogus" "rc=$rc out=$out"
fi

# --- a CPUID table cut off by an unmapped page -------------------------------
# The tier reads the VMM's table eight entries at a time. Here the table's
# header claims 4 entries more than are mapped: KVM_SET_CPUID2 fails with
# EFAULT, and the event must still carry leaf 0xD.0, the last readable entry,
# which shares its eight-entry read with the unmapped ones.
cat >"$tmp/cutcpuid.py" <<'EOF'
import ctypes, fcntl, mmap, os, struct
KVM_CREATE_VM, KVM_CREATE_VCPU = 0xAE01, 0xAE41
KVM_GET_SUPPORTED_CPUID, KVM_SET_CPUID2 = 0xC008AE05, 0x4008AE90
ENT = 40	# struct kvm_cpuid_entry2
kvm = os.open("/dev/kvm", os.O_RDWR)
buf = bytearray(8 + 256 * ENT)
struct.pack_into("I", buf, 0, 256)
fcntl.ioctl(kvm, KVM_GET_SUPPORTED_CPUID, buf)
ents = [bytes(buf[8 + ENT * i:8 + ENT * (i + 1)]) for i in range(struct.unpack_from("I", buf)[0])]
leafd = next(e for e in ents if struct.unpack_from("II", e) == (0xD, 0))
table = [e for e in ents if struct.unpack_from("I", e)[0] != 0xD][:10] + [leafd]
page = mmap.PAGESIZE
m = mmap.mmap(-1, 2 * page)
addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
off = page - 8 - ENT * len(table)	# the table ends where the page does
m[off:off + 8] = struct.pack("II", len(table) + 4, 0)
m[off + 8:page] = b"".join(table)
libc = ctypes.CDLL(None, use_errno=True)
assert libc.mprotect(ctypes.c_void_p(addr + page), page, 0) == 0
vm = fcntl.ioctl(kvm, KVM_CREATE_VM, 0)
vcpu = fcntl.ioctl(vm, KVM_CREATE_VCPU, 0)
libc.ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]
err = ctypes.get_errno() if libc.ioctl(vcpu, KVM_SET_CPUID2, addr + off) else 0
eax, ebx, ecx, edx = struct.unpack_from("IIII", leafd, 12)
print(err, len(table) + 4, hex(edx << 32 | eax), ebx)
EOF
"$D" --probes=syscall -o "$tmp/cut.jsonl" -- python3 "$tmp/cutcpuid.py" >"$tmp/cut.out" 2>"$tmp/cut.err"
read -r errno nent xcr0 size_std <"$tmp/cut.out"
if [ "$errno" = 14 ]; then
	t_eq "cut-off CPUID table: set_cpuid has ret -14, the header's nent, and leaf 0xD.0" \
		"$(fields "$tmp/cut.jsonl" nent has_leaf_d cpuid_xcr0 cpuid_size_std | awk '$1=="set_cpuid" {print $4, $5, $6, $7, $8}')" \
		"-14 $nent True $xcr0 $size_std"
else
	t_fail "cut-off CPUID table: KVM_SET_CPUID2 should fail with EFAULT" \
		"$(cat "$tmp/cut.out" "$tmp/cut.err")"
fi

# --- --syscall-hooks=raw: the same handlers from raw_syscalls ---------------
"$D" --probes=syscall --syscall-hooks=raw -o "$tmp/raw.jsonl" -- "$V" basic >"$tmp/raw.out" 2>"$tmp/raw.err"
rc=$?
[ $rc -eq 0 ] && t_ok "basic under --syscall-hooks=raw: exit 0" ||
	t_fail "basic under --syscall-hooks=raw: exit $rc" "$(cat "$tmp/raw.err")"
# Addresses, pids and times differ from run to run; the rest must not.
norm() { jq -c 'del(.ts_ns, .duration_ns, .pid, .tid, .vm)' "$1"; }
t_eq "--syscall-hooks=raw gives the events --syscall-hooks=events gives (basic)" \
	"$(norm "$tmp/raw.jsonl")" "$(norm "$tmp/basic.jsonl")"
out=$("$D" --syscall-hooks=perf --duration 1 2>&1); rc=$?
[ $rc -eq 2 ] && grep -q -- "--syscall-hooks: unknown hooks 'perf' (events, raw)" <<<"$out" &&
	t_ok "--syscall-hooks perf: exit 2, names the choices" || t_fail "--syscall-hooks perf" "rc=$rc out=$out"

# 32-bit syscalls are numbered differently: ia32 read() is 3, close() on
# x86-64. A VM fd read through int $0x80 must not look like its close to the
# raw hooks (which would tear the VM down and report vm_destroy at once).
cat >"$tmp/int80.c" <<'EOF'
#include <fcntl.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

int main(void)
{
	int kvm = open("/dev/kvm", O_RDWR), vm = ioctl(kvm, KVM_CREATE_VM, 0);
	long ret;

	/*
	 * ia32 read(vm, NULL, 0). The fd goes in rdi as well: a hook that
	 * took this for the x86-64 close(2) would read its fd from there.
	 */
	asm volatile("int $0x80" : "=a"(ret)
		     : "a"(3L), "b"(vm), "c"(0L), "d"(0L), "D"((long)vm) : "memory");
	printf("%ld\n", ret);
	fflush(stdout);
	return ioctl(vm, KVM_CREATE_VCPU, 0) < 0;
}
EOF
if ! ${CC:-cc} -O2 -o "$tmp/int80" "$tmp/int80.c" 2>"$tmp/int80.cc"; then
	t_skip "ia32 syscalls under --syscall-hooks=raw" "no C compiler: $(head -1 "$tmp/int80.cc")"
else
	"$D" --probes=syscall --syscall-hooks=raw -o "$tmp/int80.jsonl" -- "$tmp/int80" >"$tmp/int80.out" 2>"$tmp/int80.err"
	r=$(head -1 "$tmp/int80.out")
	if [ -z "$r" ] || [ "$r" = -38 ]; then
		t_skip "ia32 syscalls under --syscall-hooks=raw" "int \$0x80 does not reach ia32 syscalls here (${r:-killed})"
	else
		t_eq "an ia32 read() of a VM fd (syscall 3) is not its close: vm_destroy only after the vCPU (raw hooks)" \
			"$(jq -r '.event' "$tmp/int80.jsonl" | grep -E '^(vm_create|vcpu_create|vcpu_destroy|vm_destroy)$' | tr '\n' ' ')" \
			"vm_create vcpu_create vcpu_destroy vm_destroy "
	fi
fi
# The tracepoint tier needs this project's kernel patches, which a host
# kernel does not have: forcing it must fail and say why.
out=$("$D" --probes=tracepoint --duration 1 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q "probe tier 'tracepoint' cannot run on this kernel: ." <<<"$out"; then
	t_ok "--probes=tracepoint on a stock kernel: exit 1, says why"
else
	t_fail "--probes=tracepoint on a stock kernel" "rc=$rc out=$out"
fi
out=$("$D" --ringbuf-kib 0 2>&1); rc=$?
[ $rc -eq 2 ] && grep -q -- "--ringbuf-kib: must be > 0" <<<"$out" &&
	t_ok "--ringbuf-kib 0: exit 2, names the option" || t_fail "--ringbuf-kib 0" "rc=$rc out=$out"
if command -v setpriv >/dev/null; then
	out=$(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$D" --duration 1 2>&1); rc=$?
	if [ $rc -eq 1 ] && grep -q "needs root, or CAP_BPF and CAP_PERFMON (uid 65534" <<<"$out"; then
		t_ok "unprivileged: exit 1, says which privileges are missing"
	else
		t_fail "unprivileged run" "rc=$rc out=$out"
	fi
else
	t_skip "unprivileged run" "setpriv (util-linux) not installed"
fi
# Missing resources, each hidden in a private mount namespace (unshare
# makes mounts private: nothing leaks to the host).
if command -v unshare >/dev/null; then
	out=$(unshare --mount sh -c "mount -t tmpfs none /dev && '$D' --duration 1" 2>&1); rc=$?
	if [ $rc -eq 1 ] && grep -q "no KVM on this machine: /dev/kvm does not exist" <<<"$out"; then
		t_ok "no /dev/kvm: exit 1, says KVM is missing"
	else
		t_fail "no /dev/kvm" "rc=$rc out=$out"
	fi
	out=$(unshare --mount sh -c "mount -t tmpfs none /sys/kernel/btf && '$D' --duration 1" 2>&1); rc=$?
	if [ $rc -eq 1 ] && grep -q "no kernel BTF at /sys/kernel/btf/vmlinux" <<<"$out"; then
		t_ok "no kernel BTF: exit 1, says so"
	else
		t_fail "no kernel BTF" "rc=$rc out=$out"
	fi
	# debugfs goes too: where it is mounted (systemd mounts it), its
	# tracing/ directory is an automount of tracefs that would serve.
	out=$(unshare --mount sh -c "umount /sys/kernel/tracing 2>/dev/null
		umount -l /sys/kernel/debug/tracing 2>/dev/null; umount -l /sys/kernel/debug 2>/dev/null
		[ -e /sys/kernel/tracing/events ] && echo STILL-MOUNTED
		'$D' --probes=syscall --duration 1 && [ -e /sys/kernel/tracing/events ] && echo REMOUNTED" 2>&1); rc=$?
	if [ $rc -eq 0 ] && grep -q "^# tracefs was not mounted: mounted it at /sys/kernel/tracing" <<<"$out" &&
	   grep -q REMOUNTED <<<"$out" && ! grep -q STILL-MOUNTED <<<"$out"; then
		t_ok "tracefs not mounted: mounted, said so, and the tier attached"
	else
		t_fail "tracefs not mounted" "rc=$rc out=$out"
	fi
else
	t_skip "missing /dev/kvm, BTF, tracefs" "unshare (util-linux) not installed"
fi
t_done
