#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Build (or fetch from the cache) a KVM selftest of the series for the guest.
#
#   tests/kernel/vm/build-selftest.sh OUT_DIR/TEST
#
# TEST is a program of tools/testing/selftests/kvm/x86_64 in the patched
# tree (xstate_trace_test, added by the series' last patch). It is built the
# way kernel-patches/check-patches.sh builds it: headers_install of the
# tree into an object directory, then the selftests Makefile with OUTPUT=
# and KHDR_INCLUDES=, so it is the test that `make check-patches` compiles,
# now also run by the guest of `make vm-test`.
# Source: the tree build-kernel.sh builds the kernel from (build/kernel/vm/src,
# scripts/kernel-tree.sh patched), so test and kernel come from one series.
#
# Cache: $XSW_CACHE/selftest/<key>/TEST (default /var/cache/xstate-watch),
# key = sha256 of the base tarball, the series, the compiler and C library
# versions, TEST and this script: the tree is only unpacked on a miss.
#
# While the series is empty (or XSW_KERNEL_PRISTINE=1) the kernel is pristine
# and has no such test: OUT is removed and nothing is printed. Otherwise
# prints the path of OUT on stdout, progress on stderr.
set -euo pipefail

top=$(cd "$(dirname "$0")/../../.." && pwd)
out=${1:?usage: build-selftest.sh OUT_DIR/TEST}
test=$(basename "$out")
cache=${XSW_CACHE:-/var/cache/xstate-watch}
tarball=${XSW_KERNEL_TARBALL:-/usr/src/linux-source-6.12.tar.xz}
series=${XSW_KERNEL_SERIES:-$top/kernel-patches/v6.12}
work=${XSW_KERNEL_WORK:-$top/build/kernel/vm}
jobs=${XSW_KERNEL_JOBS:-$(nproc)}

. "$(dirname "$0")/tarball-sum.sh"

say() { echo "selftest: $*" >&2; }
die() { echo "selftest: $*" >&2; exit 1; }

shopt -s nullglob
patches=("$series"/[0-9][0-9][0-9][0-9]-*.patch)
shopt -u nullglob
if [ ${#patches[@]} -eq 0 ] || [ -n "${XSW_KERNEL_PRISTINE:-}" ]; then
	rm -f "$out"
	exit 0
fi
[ -r "$tarball" ] || die "base tarball $tarball not found (apt-get install linux-source-6.12)"

# The cache key, from the tarball's content (tarball-sum.sh).
tar_sum=$(tarball_sum "$tarball" "$work")
key=$({
	echo "test $test"
	echo "$tar_sum"
	cat "${patches[@]}"
	${CC:-gcc} --version | head -n1
	ldd --version | head -n1
	sha256sum "$0" | cut -c1-64
} | sha256sum | cut -c1-16)

entry=$cache/selftest/$key
if [ -x "$entry/$test" ]; then
	say "cached $test ($entry)"
else
	src=$work/src obj=$work/selftest
	start=$(date +%s)
	version=$("$top/scripts/kernel-tree.sh" patched "$src")
	[ -e "$src/tools/testing/selftests/kvm/x86_64/$test.c" ] ||
		die "the series adds no tools/testing/selftests/kvm/x86_64/$test.c"
	rm -rf "$obj" && mkdir -p "$obj"
	log=$obj/build.log
	say "building $test against $version + series (log: $log)"
	if ! { make -s -C "$src" O="$obj/kobj" headers_install INSTALL_HDR_PATH="$obj/hdr" &&
	       make -s -C "$src/tools/testing/selftests/kvm" -j"$jobs" \
			OUTPUT="$obj/out" KHDR_INCLUDES="-isystem $obj/hdr/include" \
			"$obj/out/x86_64/$test"; } >"$log" 2>&1; then
		tail -n 40 "$log" >&2
		die "$test build failed (full log: $log)"
	fi
	mkdir -p "$entry.tmp"
	cp "$obj/out/x86_64/$test" "$entry.tmp/$test"
	echo "$version" >"$entry.tmp/version"
	printf '%s\n' "${patches[@]##*/}" >"$entry.tmp/series"
	rm -rf "$entry" && mv "$entry.tmp" "$entry"
	say "built $test in $(( $(date +%s) - start ))s, cached in $entry"
fi
mkdir -p "$(dirname "$out")"
cp "$entry/$test" "$out.tmp" && mv "$out.tmp" "$out"
echo "$out"
