#!/usr/bin/env bash
# The whole fleet path on one host, over loopback only: Debian's prometheus
# (1 s scrape and rule evaluation, temporary storage, alerts.yml loaded)
# scrapes a live `xstate-watch --listen 127.0.0.1:PORT` (real BPF) while
# vcpu-lifecycle scenarios run and kvm_hold.py keeps two vCPUs alive; plus a
# second target where nothing listens, for the collector-down alert.
# Then (lib/e2e_checks.py): the scrape succeeded (Prometheus parsed the
# exposition), every dashboard expression returns data, every alert
# expression returns what it should, the held vCPUs have the sizes this
# host's kernel gives them (size model, xstate-size), their label sets go away
# with them, and the exported counters equal the collector's JSON lines.
# Bad input: a port in use, an address this host does not have (bound to,
# never sent to), malformed --listen, and scrapes during a burst.
set -uo pipefail
. "$(dirname "$0")/../lib/tap.sh"

xw=$XSW_BUILD/tools/xstate-watch/xstate-watch
vl=$XSW_BUILD/tools/vcpu-lifecycle/vcpu-lifecycle
xs=$XSW_BUILD/tools/xstate-size/xstate-size
lib=$XSW_TOP/tests/dashboards/lib
dash=$XSW_TOP/dashboards/grafana/xstate-watch.json
rules=$XSW_TOP/dashboards/prometheus/alerts.yml

t_need_root
t_need_kvm
for cmd in prometheus promtool python3 curl; do
	command -v $cmd >/dev/null || t_skip_all "$cmd not installed"
done
[ -x "$xw" ] || t_skip_all "collector not built: $xw (make all)"
[ -x "$vl" ] || t_skip_all "vcpu-lifecycle not built: $vl (make all)"
[ -x "$xs" ] || t_skip_all "xstate-size not built: $xs (make all)"
help=$("$xw" --help 2>&1)
grep -q -- '--listen' <<<"$help" || t_skip_all "$xw has no --listen option"
[ -e /sys/kernel/btf/vmlinux ] || t_skip_all "no BTF at /sys/kernel/btf/vmlinux"
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf 2>/dev/null

tmp=$(mktemp -d)
pids=()
holder_in=""
cleanup() {
	local p
	[ -n "$holder_in" ] && exec {holder_in}>&- 2>/dev/null
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT

# A loopback port nothing listens on (the kernel's pick, released at once).
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- the collector --------------------------------------------------------
t0=$(date +%s.%N)
"$xw" --listen 127.0.0.1:0 --json="$tmp/events.jsonl" --no-clear -i 3600 \
	>"$tmp/xw.out" 2>"$tmp/xw.err" &
xw_pid=$!
pids+=("$xw_pid")
port=""
for _ in $(seq 100); do
	port=$(sed -n 's/.*serving \/metrics on .*(port \([0-9]*\)).*/\1/p' "$tmp/xw.err" 2>/dev/null)
	grep -q 'probe tier:' "$tmp/xw.err" && [ -n "$port" ] && break
	kill -0 "$xw_pid" 2>/dev/null || break
	sleep 0.1
done
if ! kill -0 "$xw_pid" 2>/dev/null || ! grep -q 'probe tier:' "$tmp/xw.err"; then
	if grep -q 'built without probe tiers\|no probe tier can run' "$tmp/xw.err"; then
		t_skip_all "xstate-watch live mode cannot trace here: $(grep -m1 'probe tier' "$tmp/xw.err")"
	fi
	t_fail "xstate-watch --listen 127.0.0.1:0 starts in live mode" "$(cat "$tmp/xw.err")"
	t_done; exit
fi
t_ok "xstate-watch --listen 127.0.0.1:0 serves on port $port ($(grep -m1 -o 'probe tier: [a-z]*' "$tmp/xw.err"))"
live=127.0.0.1:$port
dead=127.0.0.1:$(free_port)
tier=$(grep -m1 -o 'probe tier: [a-z]*' "$tmp/xw.err" | sed 's/.*: //')
# (The collector sets the tier right after printing it: allow a moment.)
for _ in $(seq 20); do
	body=$(curl -sf "http://$live/metrics")
	info=$(grep '^xstate_watch_info{' <<<"$body")
	grep -q "tier=\"$tier\"" <<<"$info" && break
	sleep 0.1
done
t_eq "info metric names the probe tier ($tier) and this kernel" \
	"$(sed -n 's/.*tier="\([^"]*\)",kernel="\([^"]*\)".*/\1 \2/p' <<<"$info")" "$tier $(uname -r)"

# --- prometheus -------------------------------------------------------------
mkdir -p "$tmp/prom"
cp "$rules" "$tmp/prom/alerts.yml"
cat >"$tmp/prom/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - alerts.yml
scrape_configs:
  - job_name: xstate-watch
    static_configs:
      - targets: ['$live', '$dead']
EOF
t_check "promtool check config (scrape config as in docs/fleet.md)" \
	promtool check config "$tmp/prom/prometheus.yml"
prom_port=""
for _ in 1 2 3; do	# the free port may be taken between pick and bind: retry
	prom_port=$(free_port)
	prometheus --config.file="$tmp/prom/prometheus.yml" \
		--storage.tsdb.path="$tmp/prom/data" \
		--web.listen-address="127.0.0.1:$prom_port" \
		--log.level=warn >"$tmp/prom.log" 2>&1 &
	prom_pid=$!
	for _ in $(seq 100); do
		curl -sf "http://127.0.0.1:$prom_port/-/ready" >/dev/null && break
		kill -0 "$prom_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$prom_pid" 2>/dev/null && break
done
pids+=("$prom_pid")
prom=http://127.0.0.1:$prom_port
if ! curl -sf "$prom/-/ready" >/dev/null; then
	t_fail "prometheus starts on 127.0.0.1:$prom_port" "$(tail -20 "$tmp/prom.log")"
	t_done; exit
fi
t_ok "prometheus ready on 127.0.0.1:$prom_port, scraping $live and $dead every second"

# The workload must start after the first scrape: counters whose first
# sample already holds every event show no increase and no rate.
scraped=""
for _ in $(seq 100); do
	scraped=$(curl -sf "$prom/api/v1/query" --data-urlencode "query=up{instance=\"$live\"} == 1" |
		grep -o '"value":\[[^]]*"1"\]')
	[ -n "$scraped" ] && break
	sleep 0.1
done
[ -n "$scraped" ] && t_ok "prometheus scraped the collector before the workload" ||
	t_fail "prometheus scraped the collector before the workload" "$(tail -5 "$tmp/prom.log")"

# --- workload: a held VM, scenarios, and scrapes during a burst --------------
coproc HOLD { exec python3 "$lib/kvm_hold.py" 2; }
holder_pid=$HOLD_PID
pids+=("$holder_pid")
holder_in=${HOLD[1]}
read -r -t 10 ready hpid hnr hperm hxcr0 <&"${HOLD[0]}"
if [ "${ready:-}" != ready ]; then
	t_fail "kvm_hold.py holds a VM with 2 vCPUs" "no ready line"
	t_done; exit
fi
t_ok "kvm_hold.py (pid $hpid) holds a VM with $hnr vCPUs (guest permission $hperm, CPUID xcr0 $hxcr0)"

for s in basic perm-late perm-after-lock cpuid-twice xsave-then-cpuid; do
	"$vl" "$s" >"$tmp/vl-$s.out" 2>&1
	rc=$?
	# 77: the scenario cannot run on this CPU (e.g. no AMX); it still drove ioctls.
	if [ $rc -eq 0 ] || [ $rc -eq 77 ]; then t_ok "vcpu-lifecycle $s (exit $rc)"
	else t_fail "vcpu-lifecycle $s" "exit $rc: $(tail -5 "$tmp/vl-$s.out")"; fi
done

# Burst: 4 VMs x 8 vCPUs and a creation benchmark, while /metrics is
# scraped back to back; every answer must be a whole, valid exposition.
"$vl" multi --vms 4 --vcpus 8 >"$tmp/vl-multi.out" 2>&1 &
burst1=$!
"$vl" bench --vms 2 --vcpus 4 --iterations 30 >"$tmp/vl-bench.out" 2>&1 &
burst2=$!
nr=0 bad=0 why=""
while kill -0 $burst1 2>/dev/null || kill -0 $burst2 2>/dev/null || [ $nr -lt 50 ]; do
	nr=$((nr + 1))
	if ! curl -sf "http://$live/metrics" -o "$tmp/scrape" ||
		! out=$(promtool check metrics <"$tmp/scrape" 2>&1); then
		bad=$((bad + 1))
		why="scrape $nr: ${out:-curl failed}"
	fi
	[ $nr -ge 2000 ] && break
done
wait $burst1; rc1=$?
wait $burst2; rc2=$?
t_eq "vcpu-lifecycle multi --vms 4 --vcpus 8 and bench during the scrapes" "$rc1 $rc2" "0 0"
t_eq "$nr scrapes during the burst: all valid (promtool check metrics)" "$bad${why:+ ($why)}" "0"
kill -0 "$xw_pid" 2>/dev/null && t_ok "collector alive after the burst" ||
	t_fail "collector alive after the burst" "$(tail -5 "$tmp/xw.err")"

# Let Prometheus scrape the end state and evaluate the rules a few times.
sleep 4

# --- bad --listen -------------------------------------------------------------
out=$("$xw" --listen "$live" --json=/dev/null -c 1 2>&1 </dev/null)
rc=$?
if [ $rc -ne 0 ] && grep -q "$live" <<<"$out" && grep -q EADDRINUSE <<<"$out"; then
	t_ok "second collector on $live: exit $rc naming the address and EADDRINUSE"
else
	t_fail "second collector on $live refused" "exit $rc: $out"
fi
body=$(curl -sf "http://$live/metrics")
grep -q '^xstate_watch_info{' <<<"$body" &&
	t_ok "the first collector still serves $live" ||
	t_fail "the first collector still serves $live" "no exposition"
# 192.0.2.1 is TEST-NET-1: on no interface of this host. Bound to, never contacted.
out=$("$xw" --listen 192.0.2.1:9464 --json=/dev/null -c 1 2>&1 </dev/null)
rc=$?
if [ $rc -ne 0 ] && grep -q '192.0.2.1:9464' <<<"$out" && grep -q EADDRNOTAVAIL <<<"$out"; then
	t_ok "--listen 192.0.2.1:9464: exit $rc naming the address and EADDRNOTAVAIL"
else
	t_fail "--listen 192.0.2.1:9464 refused" "exit $rc: $out"
fi
for arg in 9464 127.0.0.1:65536 localhost:x; do
	out=$("$xw" --listen "$arg" --json=/dev/null -c 1 2>&1 </dev/null)
	rc=$?
	if [ $rc -ne 0 ] && grep -qF "'$arg'" <<<"$out"; then
		t_ok "--listen $arg: exit $rc naming it"
	else
		t_fail "--listen $arg refused with its name" "exit $rc: $out"
	fi
done

# --- the checks through Prometheus' HTTP API --------------------------------
nr_rules=$(grep -c '^ *- alert:' "$rules")
run_checks() {
	local line desc
	while IFS= read -r line; do
		case "$line" in
		"ok "*) t_ok "${line#ok }" ;;
		"skip "*) desc=${line#skip }; t_skip "${desc%%: *}" "${desc#*: }" ;;
		"fail "*) desc=${line#fail }; t_fail "${desc%%: *}" "${desc#*: }" ;;
		*) t_fail "e2e_checks.py output" "$line" ;;
		esac
	done < <(python3 "$lib/e2e_checks.py" "$@" 2>&1)
}
run_checks alive --prom "$prom" --t0 "$t0" --live "$live" --dead "$dead" --dash "$dash" \
	--json "$tmp/events.jsonl" --holder "$hpid:$hnr" --rules "$nr_rules" \
	--holder-masks "$hperm:$hxcr0" --xstate-size "$xs"

# The held VM goes away: its label sets must follow.
exec {holder_in}>&-
holder_in=""
wait "$holder_pid" 2>/dev/null
sleep 3
run_checks final --prom "$prom" --t0 "$t0" --live "$live" --json "$tmp/events.jsonl" \
	--metrics "http://$live/metrics" --holder "$hpid:$hnr"

kill -INT "$xw_pid"
wait "$xw_pid"
rc=$?
case $rc in
0|3) t_ok "collector exits on SIGINT (exit $rc: 0 clean, 3 a finding)" ;;
*) t_fail "collector exits on SIGINT" "exit $rc: $(tail -5 "$tmp/xw.err")" ;;
esac
if grep -qi 'sanitizer\|runtime error' "$tmp/xw.err"; then
	t_fail "no sanitizer report from the collector" "$(grep -i -m5 'sanitizer\|runtime error' "$tmp/xw.err")"
fi

t_done
