# SPDX-License-Identifier: GPL-2.0
#
# Sourced by build-kernel.sh and build-selftest.sh.
#
# tarball_sum TARBALL WORKDIR: print the sha256 of TARBALL, the base of
# every cache key here. Hashing 140 MB costs about a second, so the sum is
# kept in WORKDIR/tarball.sha256 under the tarball's (path, size, mtime)
# and recomputed only when those change.
tarball_sum() {
	local tarball=$1 work=$2 id file

	id=$(stat -c '%n %s %Y' "$tarball")
	file=$work/tarball.sha256
	mkdir -p "$work"
	if [ ! -s "$file" ] || [ "$(head -n1 "$file")" != "$id" ]; then
		printf '%s\n%s\n' "$id" "$(sha256sum "$tarball" | cut -c1-64)" >"$file"
	fi
	sed -n 2p "$file"
}
