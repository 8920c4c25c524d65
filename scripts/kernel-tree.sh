#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Kernel source trees for the xstate-watch patch series.
#
#   scripts/kernel-tree.sh pristine DIR   unpack the Debian linux-source-6.12
#                                         tarball into DIR as a git repository
#                                         with one commit (tag xsw-base)
#   scripts/kernel-tree.sh patched DIR    the same, then `git am` the series
#                                         onto a fresh branch xsw-series
#   scripts/kernel-tree.sh reset DIR [BRANCH]
#                                         check out a fresh BRANCH (default
#                                         xsw-check) at xsw-base, clean tree
#   scripts/kernel-tree.sh version DIR    print the base version of DIR
#
# Both commands print the base kernel version (e.g. 6.12.117) on stdout;
# progress goes to stderr. Unpacking is cached: when DIR holds the marker
# .xsw-pristine-<sha256 of the tarball>-ok the tree is reused (the series is
# always re-applied from xsw-base, which only rewrites the files it touches).
#
# Environment:
#   XSW_KERNEL_TARBALL  base tarball (default /usr/src/linux-source-6.12.tar.xz)
#   XSW_KERNEL_SERIES   directory of *.patch (default kernel-patches/v6.12)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
tarball=${XSW_KERNEL_TARBALL:-/usr/src/linux-source-6.12.tar.xz}
series=${XSW_KERNEL_SERIES:-$top/kernel-patches/v6.12}

# A fixed identity and date: the base commit gets the same id on every machine.
export GIT_AUTHOR_NAME="xstate-watch developers"
export GIT_AUTHOR_EMAIL="xstate-watch@localhost"
export GIT_COMMITTER_NAME=$GIT_AUTHOR_NAME
export GIT_COMMITTER_EMAIL=$GIT_AUTHOR_EMAIL
export GIT_AUTHOR_DATE="2000-01-01T00:00:00Z"
export GIT_COMMITTER_DATE=$GIT_AUTHOR_DATE

die() { echo "kernel-tree: $*" >&2; exit 1; }
say() { echo "kernel-tree: $*" >&2; }

usage() {
	sed -n '4,21p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

base_version() { # DIR
	make -s -C "$1" kernelversion 2>/dev/null ||
		die "$1: cannot read the kernel version from its Makefile"
}

pristine() { # DIR
	local dir=$1 sha marker
	[ -r "$tarball" ] || die "base tarball $tarball not found (apt-get install linux-source-6.12)"
	sha=$(sha256sum "$tarball" | cut -c1-64)
	marker=$dir/.xsw-pristine-$sha-ok
	if [ -e "$marker" ]; then
		say "reusing $dir (unpacked from $(basename "$tarball"))"
		return 0
	fi
	if [ -e "$dir" ]; then
		# Only ever remove a tree this script made, or an empty directory.
		if compgen -G "$dir/.xsw-pristine-*" >/dev/null ||
		   [ -z "$(ls -A "$dir")" ]; then
			rm -rf "$dir"
		else
			die "$dir exists and was not made by kernel-tree.sh; refusing to overwrite it"
		fi
	fi
	mkdir -p "$dir"
	say "unpacking $(basename "$tarball") into $dir"
	tar -xJf "$tarball" -C "$dir" --strip-components=1
	say "committing the base tree"
	git -C "$dir" init -q -b xsw-base-branch
	git -C "$dir" config core.autocrlf false
	git -C "$dir" config gc.auto 0
	# `git am` in this tree (also by check-patches) needs a committer.
	git -C "$dir" config user.name "$GIT_AUTHOR_NAME"
	git -C "$dir" config user.email "$GIT_AUTHOR_EMAIL"
	# Debian's tarball ships no .git; its .gitignore would hide nothing we
	# need, but -f keeps every shipped file in the base commit regardless.
	git -C "$dir" add -A -f .
	git -C "$dir" commit -q -m "Linux $(base_version "$dir") (Debian linux-source-6.12)"
	git -C "$dir" tag -f xsw-base >/dev/null
	touch "$marker"
	# The marker is not part of the tree.
	echo "/.xsw-pristine-*" >>"$dir/.git/info/exclude"
}

reset_to_base() { # DIR BRANCH
	local dir=$1 branch=$2
	git -C "$dir" am --abort >/dev/null 2>&1 || true
	git -C "$dir" checkout -q -f -B "$branch" xsw-base
	# Remove anything an earlier `git am` or in-tree tools build left behind
	# (-x: Debian's .gitignore hides most untracked files). O= builds live
	# outside the tree and are not affected.
	git -C "$dir" clean -q -fdx -e '/.xsw-pristine-*'
}

patched() { # DIR
	local dir=$1 patches
	pristine "$dir"
	shopt -s nullglob
	patches=("$series"/[0-9][0-9][0-9][0-9]-*.patch)
	shopt -u nullglob
	# format-patch's cover letter carries no diff.
	patches=("${patches[@]/*\/0000-cover-letter.patch}")
	local p list=()
	for p in "${patches[@]}"; do [ -n "$p" ] && list+=("$p"); done
	[ ${#list[@]} -gt 0 ] || die "no patches in $series"
	reset_to_base "$dir" xsw-series
	say "applying ${#list[@]} patches from $series"
	git -C "$dir" am -q --keep-cr "${list[@]}" >&2 ||
		die "git am failed in $dir (see above); the series does not apply to $(base_version "$dir")"
}

[ $# -ge 2 ] || usage
cmd=$1 dir=$2
case "$cmd" in
pristine) pristine "$dir" ;;
patched) patched "$dir" ;;
version) ;;
reset) reset_to_base "$dir" "${3:-xsw-check}" ;;
*) usage ;;
esac
base_version "$dir"
