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
t_done
