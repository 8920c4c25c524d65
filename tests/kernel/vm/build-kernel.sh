#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Build (or fetch from the cache) the bzImage of the QEMU test kernel.
#
#   tests/kernel/vm/build-kernel.sh OUT_BZIMAGE
#
# Config: `make tinyconfig` + kernel-patches/config/vm.config (merge_config.sh),
# checked afterwards: every CONFIG_ line of the fragment must be in the final
# .config, else a dependency is missing and the build stops saying which.
# Source: Debian's linux-source-6.12 with the series kernel-patches/v6.12
# applied (scripts/kernel-tree.sh patched), or pristine while the series
# directory holds no patches (XSW_KERNEL_PRISTINE=1 forces pristine).
#
# Cache: $XSW_CACHE/kernel/<key>/bzImage (default /var/cache/xstate-watch),
# key = sha256 of the base tarball, the fragment, the series, the compiler
# version and this script. A fresh clone on the same machine reuses it.
# The out-of-tree object directory (build/kernel/vm/obj) is kept too, so a
# change to one patch recompiles only what it touches.
#
# Prints the path of the bzImage on stdout, progress on stderr.
set -euo pipefail

top=$(cd "$(dirname "$0")/../../.." && pwd)
out=${1:?usage: build-kernel.sh OUT_BZIMAGE}
cache=${XSW_CACHE:-/var/cache/xstate-watch}
tarball=${XSW_KERNEL_TARBALL:-/usr/src/linux-source-6.12.tar.xz}
series=${XSW_KERNEL_SERIES:-$top/kernel-patches/v6.12}
fragment=$top/kernel-patches/config/vm.config
work=${XSW_KERNEL_WORK:-$top/build/kernel/vm}
jobs=${XSW_KERNEL_JOBS:-$(nproc)}

. "$(dirname "$0")/tarball-sum.sh"

say() { echo "kernel: $*" >&2; }
die() { echo "kernel: $*" >&2; exit 1; }

[ -r "$tarball" ] || die "base tarball $tarball not found (apt-get install linux-source-6.12)"
[ -r "$fragment" ] || die "config fragment $fragment not found"

shopt -s nullglob
patches=("$series"/[0-9][0-9][0-9][0-9]-*.patch)
shopt -u nullglob
mode=patched
if [ ${#patches[@]} -eq 0 ] || [ -n "${XSW_KERNEL_PRISTINE:-}" ]; then
	mode=pristine
fi

# The cache key, from the tarball's content (tarball-sum.sh).
tar_sum=$(tarball_sum "$tarball" "$work")
key=$({
	echo "mode $mode"
	echo "$tar_sum"
	sha256sum "$fragment" | cut -c1-64
	[ $mode = pristine ] || cat "${patches[@]}"
	${CC:-gcc} --version | head -n1
	pahole --version 2>/dev/null || true
	sha256sum "$0" | cut -c1-64
} | sha256sum | cut -c1-16)

entry=$cache/kernel/$key
if [ -s "$entry/bzImage" ]; then
	say "cached $mode kernel $(cat "$entry/version" 2>/dev/null) ($entry)"
else
	command -v pahole >/dev/null || die "pahole not found (apt-get install dwarves): needed for CONFIG_DEBUG_INFO_BTF"
	src=$work/src obj=$work/obj
	start=$(date +%s)
	version=$("$top/scripts/kernel-tree.sh" "$mode" "$src")
	if [ $mode = pristine ]; then
		# A tree left patched by an earlier run goes back to the base.
		"$top/scripts/kernel-tree.sh" reset "$src" xsw-pristine >/dev/null
	fi
	mkdir -p "$obj"
	say "configuring $version ($mode): tinyconfig + $(basename "$fragment")"
	make -s -C "$src" O="$obj" tinyconfig >/dev/null
	(cd "$obj" && "$src/scripts/kconfig/merge_config.sh" -m .config "$fragment" >/dev/null)
	make -s -C "$src" O="$obj" olddefconfig >/dev/null
	# merge_config.sh only warns when a value does not survive; fail instead.
	missing=$(grep -E '^CONFIG_[A-Z0-9_]+=' "$fragment" | while IFS= read -r line; do
		grep -qxF "$line" "$obj/.config" || echo "  $line"
	done)
	[ -z "$missing" ] || die "config lines from $(basename "$fragment") lost in olddefconfig (missing dependency?):
$missing"
	say "building bzImage with -j$jobs (log: $work/build.log)"
	if ! make -C "$src" O="$obj" -j"$jobs" bzImage >"$work/build.log" 2>&1; then
		tail -n 40 "$work/build.log" >&2
		die "kernel build failed (full log: $work/build.log)"
	fi
	mkdir -p "$entry.tmp"
	cp "$obj/arch/x86/boot/bzImage" "$entry.tmp/bzImage"
	cp "$obj/.config" "$entry.tmp/config"
	echo "$version $mode" >"$entry.tmp/version"
	[ $mode = pristine ] || printf '%s\n' "${patches[@]##*/}" >"$entry.tmp/series"
	echo "$(( $(date +%s) - start ))" >"$entry.tmp/build-seconds"
	rm -rf "$entry" && mv "$entry.tmp" "$entry"
	say "built $version ($mode) in $(cat "$entry/build-seconds")s, cached in $entry"
fi
mkdir -p "$(dirname "$out")"
cp "$entry/bzImage" "$out.tmp" && mv "$out.tmp" "$out"
cp "$entry/config" "$out.config"
cp "$entry/version" "$out.version"
echo "$out"
