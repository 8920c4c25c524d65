#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the initramfs of the test guest.
#
#   tests/kernel/vm/mkinitramfs.sh OUT.cpio.gz BINARY...
#
# Contents: busybox (static, Debian's busybox-static), tests/kernel/vm/init,
# the plan files tests/kernel/vm/plan.*, and each BINARY in /usr/bin with
# every shared library ldd lists for it (at the same path) and the dynamic
# loader. A BINARY that does not exist is left out with a note: the guest
# then reports the steps that need it as skipped.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: mkinitramfs.sh OUT.cpio.gz BINARY...}
shift
busybox=${XSW_BUSYBOX:-/bin/busybox}

die() { echo "initramfs: $*" >&2; exit 1; }

[ -x "$busybox" ] || die "$busybox not found (apt-get install busybox-static)"
file -L "$busybox" 2>/dev/null | grep -q 'statically linked' ||
	ldd "$busybox" 2>&1 | grep -q 'not a dynamic executable' ||
	die "$busybox is not statically linked (install busybox-static)"
command -v cpio >/dev/null || die "cpio not found (apt-get install cpio)"

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc/xsw,proc,sys,dev,tmp,lib64}
cp "$busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
install -m 0755 "$here/init" "$root/init"
cp "$here"/plan.* "$root/etc/xsw/"

copy_lib() { # PATH
	local lib=$1
	[ -e "$root$lib" ] && return 0
	mkdir -p "$root$(dirname "$lib")"
	cp -L "$lib" "$root$lib"
}

for bin in "$@"; do
	if [ ! -x "$bin" ]; then
		echo "initramfs: $bin not built; the guest will skip the steps that need it" >&2
		continue
	fi
	cp "$bin" "$root/usr/bin/"
	# ldd prints "name => /path (addr)" and "/lib64/ld-linux... (addr)".
	while read -r lib; do
		copy_lib "$lib"
	done < <(ldd "$bin" 2>/dev/null | awk '/=> \// { print $3 } /^\t\// { print $1 }')
done

mkdir -p "$(dirname "$out")"
(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 >"$out.tmp"
mv "$out.tmp" "$out"
echo "initramfs: $out ($(du -k "$out" | cut -f1) KiB)" >&2
