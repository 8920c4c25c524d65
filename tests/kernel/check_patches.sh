#!/usr/bin/env bash
# The kernel patch series applies, is checkpatch --strict clean and every
# patch compiles on its own: runs kernel-patches/check-patches.sh (the logic
# behind `make check-patches`), which prints TAP itself.
. "$(dirname "$0")/../lib/tap.sh"

tarball=${XSW_KERNEL_TARBALL:-/usr/src/linux-source-6.12.tar.xz}
[ -r "$tarball" ] || t_skip_all "no base tarball $tarball (apt-get install linux-source-6.12)"
for tool in git make gcc flex bison bc perl; do
	command -v "$tool" >/dev/null || t_skip_all "$tool is not installed (make deps)"
done

exec "$XSW_TOP/kernel-patches/check-patches.sh"
