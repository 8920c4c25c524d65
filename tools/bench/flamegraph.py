#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Fold `perf script` call chains and draw them as a flame graph (SVG).

Debian bookworm packages no FlameGraph tool, so this is a small one:

  perf script -i perf.data | flamegraph.py --folded out.folded --title T > out.svg

Folding: each sample becomes "comm;root;...;leaf" (frames outermost first,
symbol offsets dropped) with its count; identical stacks are summed. With
--filter REGEX only stacks with a frame matching REGEX are kept (e.g. the
KVM_SET_CPUID2 path of a whole-lifecycle profile). Drawing: one row per stack
depth, the root at the bottom, each frame as wide as its share of samples;
frames narrower than 0.1 % are merged into their parent's width. Kernel
frames are drawn in orange, user-space frames in yellow; hovering shows the
name, samples and share.
"""

import argparse
import collections
import html
import re
import sys
import zlib

HEADER = re.compile(r"^(\S.*?)\s+(\d+)(?:/\d+)?\s+.*:\s*(\d+\s+)?\S+:\s*$")
FRAME = re.compile(r"^\s+([0-9a-f]+)\s+(.+?)\s+\((.*)\)\s*$")


def fold(lines, pattern=None):
	"""perf script text -> Counter of 'comm;frame;...' (root first)."""
	stacks = collections.Counter()
	comm, frames = None, []

	def flush():
		if comm is None:
			return
		chain = list(reversed(frames))
		if pattern and not any(pattern.search(f) for f in chain):
			return
		stacks[";".join([comm] + chain)] += 1

	for line in lines:
		line = line.rstrip("\n")
		if not line.strip():
			flush()
			comm, frames = None, []
			continue
		if not line[0].isspace():
			flush()
			m = HEADER.match(line)
			comm = (m.group(1) if m else line.split()[0]).strip()
			frames = []
			continue
		m = FRAME.match(line)
		if not m:
			continue
		sym, dso = m.group(2), m.group(3)
		sym = re.sub(r"\+0x[0-9a-f]+$", "", sym)
		if sym == "[unknown]":
			sym = "[unknown %s]" % dso.rsplit("/", 1)[-1]
		if "kernel.kallsyms" in dso or dso.startswith("[kernel"):
			sym += "_[k]"
		frames.append(sym.replace(";", ":"))
	flush()
	return stacks


class Node:
	__slots__ = ("name", "count", "children")

	def __init__(self, name):
		self.name = name
		self.count = 0
		self.children = {}


def build_tree(stacks):
	root = Node("all")
	for stack, n in stacks.items():
		root.count += n
		node = root
		for f in stack.split(";"):
			node = node.children.setdefault(f, Node(f))
			node.count += n
	return root


def color(name):
	h = zlib.crc32(name.encode()) & 0xffff
	if name.endswith("_[k]"):
		return "rgb(%d,%d,%d)" % (230 + h % 25, 90 + (h >> 5) % 80, 30 + (h >> 9) % 30)
	return "rgb(%d,%d,%d)" % (220 + h % 35, 190 + (h >> 5) % 50, 50 + (h >> 9) % 40)


def render(root, title, width=1200, row=16, min_frac=0.001):
	depth = 0

	def max_depth(n, d):
		nonlocal depth
		depth = max(depth, d)
		for c in n.children.values():
			max_depth(c, d + 1)

	max_depth(root, 0)
	pad_top, pad_side = 40, 10
	height = pad_top + (depth + 1) * row + 20
	scale = (width - 2 * pad_side) / max(root.count, 1)
	out = ['<?xml version="1.0" standalone="no"?>',
	       '<svg version="1.1" width="%d" height="%d" xmlns="http://www.w3.org/2000/svg" '
	       'font-family="monospace" font-size="11">' % (width, height),
	       '<rect width="100%" height="100%" fill="#f8f8f8"/>',
	       '<text x="%d" y="22" font-size="15">%s (%d samples)</text>' %
	       (pad_side, html.escape(title), root.count)]

	def draw(n, x, d):
		w = n.count * scale
		y = height - 20 - (d + 1) * row
		share = 100.0 * n.count / max(root.count, 1)
		label = n.name
		out.append('<g><title>%s: %d samples, %.2f %%</title>'
			   '<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s" stroke="#fff" stroke-width="0.5"/>' %
			   (html.escape(label), n.count, share, x, y, w, row - 1, color(n.name)))
		chars = int(w / 6.6)
		if chars >= 4:
			text = label if len(label) <= chars else label[:chars - 2] + ".."
			out.append('<text x="%.1f" y="%d">%s</text>' % (x + 2, y + row - 4, html.escape(text)))
		out.append("</g>")
		cx = x
		for c in sorted(n.children.values(), key=lambda c: c.name):
			if c.count / max(root.count, 1) >= min_frac:
				draw(c, cx, d + 1)
			cx += c.count * scale

	draw(root, pad_side, 0)
	out.append("</svg>")
	return "\n".join(out) + "\n"


def main():
	ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
	ap.add_argument("input", nargs="?", default="-", help="perf script output (- = stdin)")
	ap.add_argument("--title", default="Flame graph")
	ap.add_argument("--filter", help="keep only stacks with a frame matching this regex")
	ap.add_argument("--folded", help="also write the folded stacks to this file")
	ap.add_argument("--top", help="also write the leaf (self-time) symbols of the kept stacks, "
			"most samples first, to this file")
	a = ap.parse_args()
	f = sys.stdin if a.input == "-" else open(a.input, errors="replace")
	try:
		pattern = re.compile(a.filter) if a.filter else None
	except re.error as e:
		sys.exit("flamegraph.py: --filter '%s': %s" % (a.filter, e))
	stacks = fold(f, pattern)
	if not stacks:
		sys.exit("flamegraph.py: %s: no call chains%s (was perf record run with -g?)" %
			 (a.input, " matching --filter '%s'" % a.filter if a.filter else ""))
	if a.folded:
		with open(a.folded, "w") as fo:
			for s, n in sorted(stacks.items()):
				fo.write("%s %d\n" % (s, n))
	if a.top:
		leaves = collections.Counter()
		for s, n in stacks.items():
			leaves[s.rsplit(";", 1)[-1]] += n
		total = sum(leaves.values())
		with open(a.top, "w") as fo:
			fo.write("# %s: self samples by leaf symbol (%d samples%s)\n" %
				 (a.title, total, ", stacks matching /%s/" % a.filter if a.filter else ""))
			for sym, n in leaves.most_common():
				fo.write("%7.2f%% %8d  %s\n" % (100.0 * n / total, n, sym))
	sys.stdout.write(render(build_tree(stacks), a.title))


if __name__ == "__main__":
	main()
