#!/usr/bin/env bash
# Live mode, started first, sees VM lifecycles of processes it did not
# start (vcpu-lifecycle run separately): in the table, in the JSON stream,
# and in the summary printed on SIGINT. -p filters by process; --json alone
# streams JSON lines on stdout.
set -uo pipefail
. "$(dirname "$0")/../lib/tap.sh"

W=$XSW_BUILD/tools/xstate-watch/xstate-watch
VL=$XSW_BUILD/tools/vcpu-lifecycle/vcpu-lifecycle
for b in "$W" "$VL"; do
	[ -x "$b" ] || t_skip_all "$b not built (make all)"
done
command -v jq >/dev/null || t_skip_all "jq not installed (make deps)"
t_need_root
t_need_kvm
[ -r /sys/kernel/btf/vmlinux ] || t_skip_all "no BTF at /sys/kernel/btf/vmlinux"
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null ||
	t_skip_all "tracefs not mounted and cannot be mounted at /sys/kernel/tracing"

tmp=$(mktemp -d)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT

# Wait until the collector printed its tier (it is attached then); 10 s at most.
wait_attached() {
	local err=$1 i
	for i in $(seq 100); do
		grep -q "probe tier: " "$err" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# 1. Table + --json FILE, stopped with SIGINT.
"$W" -i 0.2 --no-clear --json "$tmp/live.jsonl" >"$tmp/live.out" 2>"$tmp/live.err" &
live=$!
pids+=("$live")
if ! wait_attached "$tmp/live.err"; then
	t_fail "live mode attaches" "$(cat "$tmp/live.err")"
	t_done
	exit 1
fi
t_ok "live mode attaches ($(grep -o 'probe tier: [a-z]*' "$tmp/live.err"))"
"$VL" multi --vms 1 --vcpus 2 >"$tmp/vl.out" 2>&1 &
vl=$!
wait "$vl"
t_eq "vcpu-lifecycle run separately passes" "$?" 0
sleep 0.6	# two refreshes
kill -INT "$live"
wait "$live"
t_eq "live mode exits 0 on SIGINT (no violation)" "$?" 0
t_eq "JSON: the separate process's VM, 2 vCPUs and its exit" \
	"$(jq -r --argjson p "$vl" 'select(.pid == $p) | .event' "$tmp/live.jsonl" |
		grep -E '^(vm_create|vcpu_create|process_exit)$' | sort | uniq -c | awk '{ print $2 "=" $1 }' | xargs)" \
	"process_exit=1 vcpu_create=2 vm_create=1"
t_check "table: one row per vCPU of that process (pid, comm, VM, vCPU id)" \
	grep -qE "^ *$vl vcpu-lifecycle +0 +1 " "$tmp/live.out"
t_check "table: header names the columns" grep -q "GUESTPERM  CPUIDXCR0  FPSTATE REQUIRED HEADROOM  STATUS" "$tmp/live.out"
t_check "summary printed on SIGINT" grep -q "xstate-watch summary (live)" "$tmp/live.out"
t_check "summary: no failure" grep -q "result: PASS" "$tmp/live.out"
row=$(grep -E "^ *$vl vcpu-lifecycle +0 +0 " "$tmp/live.out" | tail -1)
t_check "table row: fpstate, required size, headroom and status filled in ($row)" \
	grep -qE "0x[0-9a-f]+ +0x[0-9a-f]+ +[0-9]+ +[0-9]+ +[0-9]+  ok" <<<"$row"

# 2. -p PID: another process's lifecycle is not shown.
sleep 30 &
other=$!
pids+=("$other")
"$W" -p "$other" -i 0.2 -c 10 --no-clear --json "$tmp/filtered.jsonl" >"$tmp/filtered.out" 2>"$tmp/filtered.err" &
filt=$!
pids+=("$filt")
if wait_attached "$tmp/filtered.err"; then
	"$VL" basic >/dev/null 2>&1 &
	vl2=$!
	wait "$vl2"
	wait "$filt"
	t_eq "-p: exits after -c refreshes with status 0" "$?" 0
	t_eq "-p: no event from the other process" \
		"$(jq -r --argjson p "$vl2" 'select(.pid == $p) | .event' "$tmp/filtered.jsonl" | wc -l)" 0
else
	t_fail "-p: attaches" "$(cat "$tmp/filtered.err")"
fi
kill "$other" 2>/dev/null

# 3. --json alone: JSON lines on stdout, the report on stderr.
"$W" --json -i 0.2 -c 10 >"$tmp/stream.jsonl" 2>"$tmp/stream.err" &
stream=$!
pids+=("$stream")
if wait_attached "$tmp/stream.err"; then
	"$VL" basic >/dev/null 2>&1 &
	vl3=$!
	wait "$vl3"
	wait "$stream"
	t_eq "--json: exit status 0" "$?" 0
	t_check "--json: every stdout line is a schema-1 event" \
		jq -e -s 'length > 0 and all(.[]; .schema == 1 and (.event | type) == "string")' "$tmp/stream.jsonl"
	t_eq "--json: the separate process's vm_create is in the stream" \
		"$(jq -r --argjson p "$vl3" 'select(.pid == $p and .event == "vm_create") | .event' "$tmp/stream.jsonl")" \
		"vm_create"
	t_check "--json: summary on stderr" grep -q "xstate-watch summary (live)" "$tmp/stream.err"
else
	t_fail "--json: attaches" "$(cat "$tmp/stream.err")"
fi
# 4. A VMM that exits with everything open (the kernel closes its fds after
# the exit tracepoint), with status 3 and five threads besides KVM's worker:
# its VMs and vCPUs are reported destroyed, read, before its exit, and the
# syscall tier keeps nothing of it in its maps. Two shapes:
# within the per-process lists (3 VMs, low fds), and past them (6 VMs, a
# vCPU run through fd 600), where the exit walks the whole maps.
cat >"$tmp/vmm.py" <<'PY'
import fcntl, os, sys, threading, time
KVM_CREATE_VM, KVM_CREATE_VCPU, KVM_RUN = 0xAE01, 0xAE41, 0xAE80
kvm = os.open("/dev/kvm", os.O_RDWR)
for v in range(int(sys.argv[1])):
    vm = fcntl.ioctl(kvm, KVM_CREATE_VM, 0)
    vcpu = fcntl.ioctl(vm, KVM_CREATE_VCPU, 0)
    if v == 0 and int(sys.argv[2]):
        os.dup2(vcpu, int(sys.argv[2]))
        vcpu = int(sys.argv[2])
    try:
        fcntl.ioctl(vcpu, KVM_RUN, 0)	# no memory: fails, but was traced
    except OSError:
        pass
for _ in range(int(sys.argv[3]) if len(sys.argv) > 3 else 4):	# threads that die with it
    threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
os._exit(3)
PY
for shape in "3 0" "6 600"; do
	set -- $shape
	"$W" --probes=syscall --json="$tmp/open-$1.jsonl" -i 0.2 >/dev/null 2>"$tmp/open-$1.err" &
	live=$!
	pids+=("$live")
	if ! wait_attached "$tmp/open-$1.err"; then
		t_fail "exit with open fds ($1 VMs): attaches" "$(cat "$tmp/open-$1.err")"
		continue
	fi
	python3 "$tmp/vmm.py" "$1" "$2" &
	vmm=$!
	wait "$vmm"
	sleep 0.3
	left=""
	for id in $(awk '/^map_id:/ { print $2 }' /proc/$live/fdinfo/* | sort -u); do
		name=$(bpftool map show id "$id" -j | jq -r .name)
		case $name in
		run_fds | vms | kvm_procs | vcpus | vm_vcpus)
			n=$(bpftool map dump id "$id" -j | jq length)
			[ "$n" = 0 ] || left+="$name:$n "
			;;
		esac
	done
	kill -INT "$live"
	wait "$live"
	t_eq "exit with open fds ($1 VMs, run fd $2): destroys, then the exit" \
		"$(jq -r --argjson p "$vmm" 'select(.pid == $p) | .event' "$tmp/open-$1.jsonl" |
			grep -E '_destroy$|^process_exit$' | uniq -c | awk '{ print $2 "=" $1 }' | xargs)" \
		"$(for i in $(seq "$1"); do printf 'vcpu_destroy=1 vm_destroy=1 '; done)process_exit=1"
	# KVM_RUN started KVM's NX huge page worker, a thread of the VMM that
	# often exits last: the event still names the process and its status.
	t_eq "exit with open fds ($1 VMs, run fd $2): process_exit with the VMM's name and status" \
		"$(jq -r --argjson p "$vmm" 'select(.pid == $p and .event == "process_exit") |
			"\(.comm) \(.exit_code)"' "$tmp/open-$1.jsonl")" "python3 768"
	# The exit counts the fds its table holds per VM: held ones are read.
	t_eq "exit with open fds ($1 VMs, run fd $2): every vcpu_destroy read from its live vCPU" \
		"$(jq -r --argjson p "$vmm" 'select(.pid == $p and .event == "vcpu_destroy" and
			.fpstate.size > 0 and .uabi_size > 0) | .vm' "$tmp/open-$1.jsonl" | sort -u | wc -l)" "$1"
	t_eq "exit with open fds ($1 VMs, run fd $2): nothing of it left in the BPF maps" "$left" ""
done

# 5. The same exit, 40 times, by VMMs of 17 threads while a busy loop runs
# on every CPU. Which task claims the exit is a race between the threads:
# when the fd table's last users were the ones to claim, two of them
# could pass sched_process_exit at once, each seeing the other's
# reference; none claimed, and KVM's worker, exiting last, found no table
# and reported every VM gone unread: 5 VMM exits in 1,178 on this 2-CPU
# host under such load, so this part catches that race in about 1 run in
# 6. It is here for the rule that replaced it, claiming at the first task
# that holds the table, which has no race: 0 in 1,100.
runs=40
"$W" --probes=syscall --json="$tmp/race.jsonl" -i 0.2 >/dev/null 2>"$tmp/race.err" &
live=$!
pids+=("$live")
if wait_attached "$tmp/race.err"; then
	hogs=()
	for _ in $(seq "$(nproc)"); do
		sh -c 'while :; do :; done' &
		hogs+=("$!")
		pids+=("$!")
	done
	vmms=()
	for _ in $(seq "$runs"); do
		python3 "$tmp/vmm.py" 6 600 16 &
		vmms+=("$!")
		wait "$!"
	done
	kill "${hogs[@]}"
	wait "${hogs[@]}" 2>/dev/null
	sleep 0.3
	kill -INT "$live"
	wait "$live"
	race_pids="[$(IFS=,; echo "${vmms[*]}")]"
	t_eq "exit race ($runs VMMs of 17 threads, CPUs busy): each exited with six vCPU destroys" \
		"$(jq -r --argjson p "$race_pids" 'select(.event == "vcpu_destroy" and
			(.pid as $x | any($p[]; . == $x))) | .pid' "$tmp/race.jsonl" | sort | uniq -c |
			awk '$1 == 6' | wc -l)" "$runs"
	t_eq "exit race ($runs VMMs of 17 threads, CPUs busy): every vcpu_destroy read from its live vCPU" \
		"$(jq -r --argjson p "$race_pids" 'select(.event == "vcpu_destroy" and
			(.pid as $x | any($p[]; . == $x)) and (.fpstate.size == 0 or .uabi_size == 0)) |
			"pid \(.pid) vm \(.vm)"' "$tmp/race.jsonl" | xargs)" ""
else
	t_fail "exit race: attaches" "$(cat "$tmp/race.err")"
fi
t_done
