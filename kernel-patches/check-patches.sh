#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Check the patch series in kernel-patches/v6.12 patch by patch, as TAP:
# for each patch, that it applies (git am) on top of the previous ones,
# that scripts/checkpatch.pl --strict reports 0 errors, 0 warnings and
# 0 checks, and that the objects the series touches still compile with a
# small config (tinyconfig + kernel-patches/config/check.config), so that
# every patch builds on its own. A patch that touches the KVM selftests
# also gets its selftests built.
#
# Caches (under build/kernel/check, git-ignored):
#   src/                the unpacked base tree (scripts/kernel-tree.sh)
#   obj-<key>/          configured and prepared O= build directory, plus the
#                       installed UAPI headers; <key> hashes the base version,
#                       the config fragment and this script
#
# Environment: XSW_CHECK_DIR (default build/kernel/check), XSW_JOBS (2),
# XSW_KERNEL_SERIES, XSW_KERNEL_TARBALL (see scripts/kernel-tree.sh).
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
series=${XSW_KERNEL_SERIES:-$top/kernel-patches/v6.12}
fragment=$top/kernel-patches/config/check.config
dir=${XSW_CHECK_DIR:-$top/build/kernel/check}
jobs=${XSW_JOBS:-2}
src=$dir/src
# Objects built after every patch: everything the series changes, plus the
# files that include the changed trace headers (x86.c defines the kvm
# events, core.c the x86_fpu ones).
objects=(arch/x86/kernel/fpu/xstate.o arch/x86/kernel/fpu/core.o
	 arch/x86/kernel/fpu/signal.o arch/x86/kvm/cpuid.o arch/x86/kvm/x86.o)
# checkpatch's SPDX check runs scripts/spdxcheck.py with `python3`, which
# needs Debian's python3-ply: prefer the system interpreter over any other
# python3 (pyenv, venvs) earlier in PATH.
export PATH=/usr/bin:/bin:$PATH

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
	n=$((n + 1)); failed=$((failed + 1))
	echo "not ok $n - $1"
	[ -n "${2:-}" ] && printf '%s\n' "$2" | tail -n 40 | sed 's/^/# /'
	return 0
}
bail() { echo "Bail out! $*"; exit 1; }
note() { echo "# $*"; }

shopt -s nullglob
patches=("$series"/[0-9][0-9][0-9][0-9]-*.patch)
shopt -u nullglob
list=()
for p in "${patches[@]}"; do
	[ "$(basename "$p")" = 0000-cover-letter.patch ] || list+=("$p")
done
[ ${#list[@]} -gt 0 ] || bail "no patches in $series"
/usr/bin/python3 -c 'import ply' 2>/dev/null ||
	bail "checkpatch's SPDX check needs python3-ply (apt-get install python3-ply)"

start=$SECONDS
version=$("$top/scripts/kernel-tree.sh" pristine "$src" 2>/dev/null) ||
	bail "cannot unpack the base tree into $src (run scripts/kernel-tree.sh pristine $src)"
note "base $version in ${src#"$top"/} ($((SECONDS - start))s)"

key=$( { echo "$version"; cat "$fragment" "$0"; } | sha256sum | cut -c1-12)
obj=$dir/obj-$key
kmake() { make -s -C "$src" O="$obj" -j"$jobs" "$@"; }

# Start from the base commit: the configuration and the prepared tree must
# not see any patch.
"$top/scripts/kernel-tree.sh" reset "$src" xsw-check >/dev/null 2>&1 ||
	bail "cannot reset $src to the base commit"

if [ ! -e "$obj/.xsw-prepared-ok" ]; then
	t=$SECONDS
	rm -rf "$obj" && mkdir -p "$obj"
	log=$obj/prepare.log
	if ! { kmake tinyconfig &&
	       "$src/scripts/kconfig/merge_config.sh" -m -O "$obj" "$obj/.config" "$fragment" &&
	       kmake olddefconfig &&
	       kmake prepare &&
	       kmake headers_install INSTALL_HDR_PATH="$obj/hdr"; } >"$log" 2>&1; then
		tail -n 30 "$log" | sed 's/^/# /'
		bail "configuring/preparing the check build failed (log: $log)"
	fi
	# merge_config only warns when Kconfig drops an option: insist.
	missing=$(grep -E '^CONFIG_[A-Z0-9_]+=' "$fragment" | while read -r opt; do
		grep -qxF "$opt" "$obj/.config" || echo "$opt"
	done)
	[ -z "$missing" ] || bail "Kconfig did not keep: $(echo $missing) (see $fragment)"
	touch "$obj/.xsw-prepared-ok"
	note "configured and prepared ${obj#"$top"/} ($((SECONDS - t))s)"
else
	note "reusing prepared ${obj#"$top"/}"
fi

# Added files are fine when MAINTAINERS already covers them; checkpatch
# warns about every added file regardless, so check coverage ourselves and
# only then silence that one warning type.
added_files_covered() { # patch
	local f who
	for f in $(sed -n 's@^+++ b/@@p' "$1"); do
		grep -q "^new file mode" <(sed -n "\@^diff --git a/$f b/$f@,/^@@/p" "$1") || continue
		who=$(cd "$src" && scripts/get_maintainer.pl --no-git --no-rolestats \
			--no-git-fallback -f "$f" 2>/dev/null | grep -c '@')
		[ "$who" -gt 0 ] || { echo "$f"; return 1; }
	done
	return 0
}

for p in "${list[@]}"; do
	name=$(basename "$p" .patch)
	if out=$(git -C "$src" am -q "$p" 2>&1); then
		ok "$name: applies"
	else
		git -C "$src" am --abort >/dev/null 2>&1
		not_ok "$name: applies" "$out"
		bail "$name does not apply; later patches cannot be checked"
	fi

	ignore=()
	if uncovered=$(added_files_covered "$p"); then
		ignore=(--ignore FILE_PATH_CHANGES)
	else
		note "$uncovered is not covered by MAINTAINERS"
	fi
	out=$(cd "$src" && scripts/checkpatch.pl --strict --color=never \
		"${ignore[@]}" "$p" 2>&1)
	summary=$(grep -E '^total: ' <<<"$out")
	if [ "$summary" = "total: 0 errors, 0 warnings, 0 checks, ${summary##*checks, }" ] &&
	   ! grep -q 'Traceback' <<<"$out"; then
		ok "$name: checkpatch --strict clean"
	else
		not_ok "$name: checkpatch --strict clean" "$out"
	fi

	t=$SECONDS
	if out=$(kmake "${objects[@]}" 2>&1) && [ -z "$(grep -E 'warning:|error:' <<<"$out")" ]; then
		ok "$name: builds ${objects[*]##*/} without warnings ($((SECONDS - t))s)"
	else
		not_ok "$name: builds ${objects[*]##*/} without warnings" "$out"
	fi

	tests=$(sed -n 's@^+++ b/tools/testing/selftests/kvm/\(x86_64/[a-z0-9_]*\)\.c$@\1@p' "$p")
	for tst in $tests; do
		grep -q "x86_64/$(basename "$tst")\$" "$src/tools/testing/selftests/kvm/Makefile" ||
			{ not_ok "$name: $tst is listed in the selftests Makefile"; continue; }
		t=$SECONDS
		if out=$(make -s -C "$src/tools/testing/selftests/kvm" -j"$jobs" \
			OUTPUT="$obj/selftests" KHDR_INCLUDES="-isystem $obj/hdr/include" \
			"$obj/selftests/$tst" 2>&1) &&
		   [ -z "$(grep -E 'warning:|error:' <<<"$out")" ]; then
			ok "$name: selftest $tst builds without warnings ($((SECONDS - t))s)"
		else
			not_ok "$name: selftest $tst builds without warnings" "$out"
		fi
	done
done

note "total $((SECONDS - start))s"
echo "1..$n"
[ $failed -eq 0 ]
