#!/usr/bin/env bash
# A burst larger than the ring buffer: with the kvm_entry guard off every
# guest entry is an event, and with a 4 KiB ring buffer most of 100000
# entries cannot be delivered. Every one must be either delivered or
# counted as lost, the losses reported in the summary, the JSON stream and
# the KTAP report, and losses alone must not fail the run.
# The probes batch their wakeups, so a prompt collector can keep up with
# the burst; to make the overflow certain, the traced command stops the
# collector (its parent) for the length of the workload and resumes it
# after.
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

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
exits=100000
"$W" run --ringbuf-kib 4 --no-kvm-entry-guard --json "$tmp/burst.jsonl" --ktap "$tmp/burst.ktap" \
	-- sh -c 'kill -STOP $PPID; "$0" exit-loop --exits "$1"; rc=$?; kill -CONT $PPID; exit $rc' \
	"$VL" "$exits" >"$tmp/out" 2>"$tmp/err"
t_eq "losses alone do not fail the run (CMD's status 0)" "$?" 0
said=$(sed -n 's/.*LOST: \([0-9]*\) events (.*/\1/p' "$tmp/err")
in_json=$(jq -s '[.[] | select(.event == "lost") | .count] | add // 0' "$tmp/burst.jsonl")
entries=$(jq -s '[.[] | select(.event == "xcr0_change" or .event == "first_run")] | length' "$tmp/burst.jsonl")
if [ -n "$said" ] && [ "$said" -gt 0 ]; then
	t_ok "summary reports $said lost events"
else
	t_fail "summary reports the lost events" "$(cat "$tmp/err")"
fi
t_eq "JSON lost records add up to the summary's count" "$in_json" "${said:-none}"
if [ $((entries + in_json)) -ge $exits ]; then
	t_ok "never silent: $entries entries delivered + $in_json lost >= $exits guest entries"
else
	t_fail "never silent" "$entries delivered + $in_json lost < $exits entries"
fi
t_check "KTAP skips 'no events lost' with the count" grep -q "no events lost # SKIP $said events lost" "$tmp/burst.ktap"
t_eq "the loss is said once on stderr, not per batch" "$(grep -c '^xstate-watch: LOST' "$tmp/err")" 1
t_done
