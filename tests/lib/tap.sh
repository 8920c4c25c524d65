# shellcheck shell=bash
# TAP helpers for the shell test suites; source this file.
#   t_ok DESC / t_fail DESC WHY / t_skip DESC REASON
#   t_check DESC CMD...     ok when CMD succeeds, its output shown otherwise
#   t_eq DESC GOT WANT      ok when the two strings are equal
#   t_skip_all REASON       skip the whole program (prints 1..0 # SKIP) and exit
#   t_done                  print the plan; exit 1 if anything failed
# Environment from tests/run-tests: XSW_TOP, XSW_BUILD.

_t_n=0
_t_failed=0
XSW_TOP=${XSW_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
XSW_BUILD=${XSW_BUILD:-$XSW_TOP/build}

t_ok() { _t_n=$((_t_n + 1)); echo "ok $_t_n - $1"; }
t_fail() {
	_t_n=$((_t_n + 1)); _t_failed=$((_t_failed + 1))
	echo "not ok $_t_n - $1"
	[ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/# /'
	return 0
}
t_skip() { _t_n=$((_t_n + 1)); echo "# skip reason: $2"; echo "ok $_t_n - $1 # SKIP $2"; }
t_check() {
	local desc=$1 out; shift
	if out=$("$@" 2>&1); then t_ok "$desc"; else t_fail "$desc" "command: $*
$out"; fi
}
t_eq() {
	if [ "$2" = "$3" ]; then t_ok "$1"; else t_fail "$1" "got:  $2
want: $3"; fi
}
t_skip_all() { echo "1..0 # SKIP $1"; exit 0; }
t_done() { echo "1..$_t_n"; [ $_t_failed -eq 0 ]; }

# Common preconditions, each skipping the whole program with the reason.
t_need_root() { [ "$(id -u)" -eq 0 ] || t_skip_all "needs root (uid $(id -u))"; }
t_need_kvm() {
	[ -e /dev/kvm ] || t_skip_all "no /dev/kvm on this machine"
	[ -r /dev/kvm ] && [ -w /dev/kvm ] || t_skip_all "/dev/kvm not accessible to uid $(id -u)"
}
