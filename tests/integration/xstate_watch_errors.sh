#!/usr/bin/env bash
# xstate-watch on bad input: a corrupt or missing replay file, unknown
# options and tiers, a bad CPU model, no CMD, a CMD that does not exist,
# missing privileges (as nobody), and a libmicrohttpd that --listen cannot
# load (hidden in a private mount namespace). Each must name the problem and
# exit non-zero with the documented status (1 tool error, 2 usage).
set -uo pipefail
. "$(dirname "$0")/../lib/tap.sh"

W=$XSW_BUILD/tools/xstate-watch/xstate-watch
T=$XSW_TOP/tests/fixtures/traces
[ -x "$W" ] || t_skip_all "xstate-watch not built: $W missing (make all)"

# expect DESC STATUS PATTERN CMD...: exit STATUS and PATTERN (grep -E) in stderr+stdout
expect() {
	local desc=$1 want=$2 pat=$3 out rc; shift 3
	out=$("$@" 2>&1 </dev/null); rc=$?
	if [ "$rc" -eq "$want" ] && grep -qE -- "$pat" <<<"$out"; then
		t_ok "$desc"
	else
		t_fail "$desc" "command: $*
exit $rc (want $want), output (want /$pat/):
$out"
	fi
}

expect "corrupt replay file: file:line: field, exit 1" 1 \
	"corrupt-vcpu-id.jsonl:5: field 'vcpu_id': expected integer, got string" \
	"$W" replay "$T/corrupt-vcpu-id.jsonl"
expect "corrupt replay file: no verdict printed" 1 "^xstate-watch: replay: " \
	"$W" replay "$T/corrupt-vcpu-id.jsonl"
out=$("$W" replay "$T/corrupt-vcpu-id.jsonl" 2>&1)
t_eq "corrupt replay file: no PASS/FAIL result claimed" "$(grep -c 'result:' <<<"$out")" 0
expect "missing replay file: names it, exit 1" 1 "/nonexistent/trace.jsonl: cannot open" \
	"$W" replay /nonexistent/trace.jsonl
expect "replay without FILE: usage, exit 2" 2 "missing FILE" "$W" replay
expect "replay with two files: usage, exit 2" 2 "one FILE only" "$W" replay a.jsonl b.jsonl
expect "unknown option (live): exit 2" 2 "unrecognized option '--bogus'" "$W" --bogus
expect "unknown option (run): exit 2" 2 "unrecognized option '--bogus'" "$W" run --bogus -- true
expect "unknown option (replay): exit 2" 2 "unrecognized option '--bogus'" \
	"$W" replay --bogus "$T/clean-amx.jsonl"
expect "unknown tier: exit 2" 2 "unknown tier 'kprobe'" "$W" --probes=kprobe
expect "bad interval: exit 2" 2 "--interval: 'abc'" "$W" -i abc
expect "stray argument in live mode: exit 2" 2 "unexpected argument 'bogus'" "$W" bogus
expect "run without CMD: exit 2" 2 "missing CMD" "$W" run
expect "missing CPU model file: names it, exit 1" 1 "--cpu-model: /nonexistent.cpu" \
	"$W" replay --cpu-model /nonexistent.cpu "$T/clean-amx.jsonl"
expect "--help exits 0 and shows examples" 0 "EXAMPLES:" "$W" --help
expect "run --help shows the exit statuses" 0 "Exit status: CMD's status" "$W" run --help

if [ "$(id -u)" -ne 0 ]; then
	t_skip "missing privileges as nobody" "needs root to drop to uid 65534"
	t_skip "run -- missing CMD" "needs root for the probes"
else
	nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
	expect "live as nobody: needs root/CAP_BPF, exit 1" 1 "needs root, or CAP_BPF and CAP_PERFMON" \
		"${nobody[@]}" "$W" -c 1
	out=$("${nobody[@]}" "$W" run -- touch /tmp/xsw-never-$$ 2>&1); rc=$?
	if [ $rc -eq 1 ] && grep -q "CAP_BPF" <<<"$out" && [ ! -e /tmp/xsw-never-$$ ]; then
		t_ok "run as nobody: exit 1, and CMD never runs untraced"
	else
		t_fail "run as nobody: exit 1, and CMD never runs untraced" "exit $rc: $out"
	fi
	rm -f /tmp/xsw-never-$$
	if [ -r /sys/kernel/btf/vmlinux ]; then
		expect "run -- a CMD that does not exist: exit 127 as in the shell" 127 \
			"cannot execute /nonexistent/vmm" "$W" run -q -- /nonexistent/vmm
	else
		t_skip "run -- missing CMD" "no BTF at /sys/kernel/btf/vmlinux: the probes cannot load"
	fi
fi

# libmicrohttpd is dlopen()ed for --listen only: not linked, and when it
# cannot be loaded, --listen fails naming it and the loader's reason. The
# library is replaced, in a private mount namespace only, by an empty file
# and by a stub lacking all but MHD_start_daemon.
t_eq "xstate-watch does not link libmicrohttpd or its TLS stack" \
	"$(ldd "$W" | grep -cE 'microhttpd|gnutls')" 0
so=$(grep -aoE -m1 'libmicrohttpd\.so\.[0-9]+' "$W" | head -n1)
lib=$(ldconfig -p | awk -v so="$so" '$1 == so { print $NF; exit }')
if [ "$(id -u)" -ne 0 ] || ! command -v unshare >/dev/null; then
	t_skip "--listen without a loadable libmicrohttpd" "needs root and unshare(1) for a mount namespace"
	t_skip "--listen with a libmicrohttpd missing a function" "needs root and unshare(1)"
elif [ -z "$so" ] || [ -z "$lib" ]; then
	t_skip "--listen without a loadable libmicrohttpd" "no libmicrohttpd soname in $W or in ldconfig -p"
	t_skip "--listen with a libmicrohttpd missing a function" "no libmicrohttpd to stand in for"
else
	# hide FILE: run xstate-watch --listen with FILE mounted over the library
	hide() {
		# shellcheck disable=SC2016 # expanded by the inner sh
		unshare -m sh -c 'mount --bind "$1" "$2" && shift 2 && exec "$@"' sh \
			"$1" "$lib" "$W" --listen 127.0.0.1:0 --json=/dev/null -c 1
	}
	expect "--listen without a loadable libmicrohttpd: names it and why, exit 1" 1 \
		"--listen '127\.0\.0\.1:0': cannot load $so, which serves /metrics: $lib: file too short" \
		hide /dev/null
	stub=$(mktemp -d)
	echo 'void MHD_start_daemon(void); void MHD_start_daemon(void) {}' >"$stub/stub.c"
	if "${CC:-cc}" -shared -fPIC -Wl,-soname,"$so" -o "$stub/stub.so" "$stub/stub.c"; then
		expect "--listen with a libmicrohttpd missing a function: names it, exit 1" 1 \
			"cannot load $so, which serves /metrics: .*undefined symbol: MHD_stop_daemon" \
			hide "$stub/stub.so"
	else
		t_skip "--listen with a libmicrohttpd missing a function" "no C compiler for the stub"
	fi
	rm -rf "$stub"
fi
t_done
