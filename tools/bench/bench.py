#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""make bench: tracing overhead, start-up, footprint and event-rate figures.

Runs everything in one go and writes OUT/report.md (docs/BENCHMARKS.md via
`make bench-doc`) plus OUT/raw.json with every sample. Nothing here asserts
on a timing: targets are reported as pass/fail next to the measured spread.

Method (also printed in the report):
  * the overhead targets are judged on a section of their own: many short
    rounds (--paired-rounds, 60) of five modes only, untraced, untraced
    again (A/A: the method's resolution), xstate-watch -p 1 (attached,
    filtered out), xstate-watch and xstate-watch --syscall-hooks=raw, in
    Williams-design orders with a pause after each run; the median of the
    per-round ratios comes with a distribution-free 95 % interval;
  * the other rounds are interleaved: every round runs each mode once, and the order
    rotates from round to round (A B C D, B C D A, ...) so that drift and
    position effects spread over all modes;
  * an overhead is the ratio of a traced figure to the untraced one of the
    SAME round; the report gives the median ratio over rounds and its
    min..max;
  * tracers are attached system-wide (no pid filter) before the benchmark
    starts and stopped with SIGINT after it ends; perf instead wraps the
    benchmark (perf record -e ... -- CMD), so it traces only that process;
  * with --pin (the default on 2+ CPUs) every workload runs on the last
    CPU and every tracer on CPU 0, in every mode: the latency then carries
    what tracing adds in the workload's own syscalls, not where the
    scheduler happened to put the tracer's consumer thread;
  * what the hooks cost syscalls they do not trace (getppid, and a KVM
    ioctl the tier filters out) is measured hot, in a tight loop, against
    the untraced loop of the same round;
  * the fentry and tracepoint tiers, which the CI host cannot load, are
    compared with the syscall tier in the QEMU TCG test guest (rounds in
    rotating order, tests/kernel/vm/xsw-tier-bench): tiers against each
    other, not a host's overhead;
  * the in-kernel cost of xstate-watch's programs is read from the kernel's
    own counters (kernel.bpf_stats_enabled, run_time_ns / run_cnt in
    /proc/PID/fdinfo of the collector's program fds) in separate runs, so
    that the counters' own cost stays out of the overhead figures.
A figure whose tool is missing is reported as skipped, with the reason.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TARGETS = {
	"creation_p50_pct": 2.0,
	"exit_loop_pct": 3.0,
	"attach_ms": 150.0,
	"rss_mib": 16.0,
	"no_loss_rate": 50000,
}

# Workload and tracer CPUs under --pin (set in main()).
PIN = {"work": None, "tracer": None}


def pinned(argv, role):
	cpu = PIN[role]
	return argv if cpu is None else ["taskset", "-c", str(cpu)] + list(argv)


PERF_EVENTS = ("syscalls:sys_enter_ioctl,syscalls:sys_exit_ioctl,"
	       "syscalls:sys_enter_arch_prctl,syscalls:sys_exit_arch_prctl,"
	       "kvm:kvm_entry,sched:sched_process_exit")


class Skip(Exception):
	"""A measurement that cannot be made here; the message says why."""


def log(msg):
	print("bench: " + msg, file=sys.stderr, flush=True)


def sh(argv):
	return shlex.join(str(a) for a in argv)


def run_text(argv):
	try:
		return subprocess.run(argv, capture_output=True, text=True,
				      timeout=30).stdout.strip()
	except (OSError, subprocess.SubprocessError):
		return ""


def machine_info():
	cpu = "unknown"
	with open("/proc/cpuinfo") as f:
		for line in f:
			if line.startswith("model name"):
				cpu = line.split(":", 1)[1].strip()
				break
	return {
		"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
		"kernel": platform.release(),
		"cpu": cpu,
		"nproc": os.cpu_count(),
		"git": run_text(["git", "-C", TOP, "log", "-1", "--format=%h %s"]),
		# The tree is shared: `make bench` builds what is in it, committed or not.
		"dirty": len(run_text(["git", "-C", TOP, "status", "--porcelain",
				       "--untracked-files=no"]).splitlines()),
		"bpftrace": run_text(["bpftrace", "--version"]),
		"perf": run_text(["perf", "--version"]),
		"loadavg_start": loadavg(),
	}


def loadavg():
	with open("/proc/loadavg") as f:
		return " ".join(f.read().split()[:3])


def stats(xs):
	xs = sorted(xs)
	return {"median": statistics.median(xs), "min": xs[0], "max": xs[-1], "n": len(xs)}


# --- /proc -----------------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_status_kib(pid, key):
	with open("/proc/%d/status" % pid) as f:
		return next((int(l.split()[1]) for l in f if l.startswith(key + ":")), None)


def proc_footprint(pid):
	"""(VmHWM KiB, utime+stime seconds) of a live process, or (None, None)."""
	try:
		hwm = proc_status_kib(pid, "VmHWM")
		with open("/proc/%d/stat" % pid) as f:
			fields = f.read().rsplit(")", 1)[1].split()
		# fields[0] is state (field 3); utime, stime are fields 14, 15.
		cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
		return hwm, cpu
	except (OSError, StopIteration, IndexError, ValueError):
		return None, None


def bpf_prog_stats(pid):
	"""{prog id: (run_cnt, run_time_ns)} of the BPF program fds @pid holds."""
	out = {}
	fddir = "/proc/%d/fdinfo" % pid
	for fd in os.listdir(fddir):
		try:
			with open(os.path.join(fddir, fd)) as f:
				kv = dict(l.split(":", 1) for l in f.read().splitlines() if ":" in l)
		except OSError:
			continue
		if "prog_id" in kv and "run_cnt" in kv:
			out[int(kv["prog_id"])] = (int(kv["run_cnt"]), int(kv["run_time_ns"]))
	return out


# --- tracers -----------------------------------------------------------------

class Tracer:
	"""A tracer process attached before a workload and stopped after it."""

	def __init__(self, name, argv, attach_re, workdir, wrap=False):
		self.name = name
		self.argv = argv
		self.attach_re = re.compile(attach_re) if attach_re else None
		self.workdir = workdir
		self.wrap = wrap	# perf: prefix of the workload command
		self.proc = None

	def start(self, timeout=30.0):
		"""Start and wait for the attach line; returns ms from exec to it."""
		self.out = os.path.join(self.workdir, self.name + ".out")
		self.err = os.path.join(self.workdir, self.name + ".err")
		fo, fe = open(self.out, "w"), open(self.err, "w")
		t0 = time.monotonic()
		self.proc = subprocess.Popen(pinned(self.argv, "tracer"), stdout=fo, stderr=fe,
					     stdin=subprocess.DEVNULL)
		fo.close()
		fe.close()
		while time.monotonic() - t0 < timeout:
			if self.proc.poll() is not None:
				raise Skip("%s exited with %d before attaching: %s" %
					   (sh(self.argv), self.proc.returncode,
					    self.tail()))
			for path in (self.err, self.out):
				with open(path, errors="replace") as f:
					head = f.read(65536)
				if self.attach_re.search(head):
					self.attach_ms = (time.monotonic() - t0) * 1000
					self.cpu_at_attach = proc_footprint(self.proc.pid)[1]
					return self.attach_ms
			time.sleep(0.001)
		self.kill()
		raise Skip("%s printed no line matching /%s/ within %.0f s: %s" %
			   (sh(self.argv), self.attach_re.pattern, timeout, self.tail()))

	def tail(self):
		text = ""
		for path in (self.err, self.out):
			try:
				with open(path, errors="replace") as f:
					text += f.read()[-400:]
			except OSError:
				pass
		return " | ".join(text.strip().splitlines()[-4:]) or "(no output)"

	def stop(self):
		"""SIGINT, wait; returns footprint {rss_kib, vmrss_kib, cpu_s, cpu_during_s, rc}."""
		hwm, cpu = proc_footprint(self.proc.pid)
		try:
			vmrss = proc_status_kib(self.proc.pid, "VmRSS")
		except OSError:
			vmrss = None
		self.proc.send_signal(signal.SIGINT)
		try:
			rc = self.proc.wait(timeout=60)
		except subprocess.TimeoutExpired:
			self.kill()
			rc = None
		return {"rss_kib": hwm, "vmrss_kib": vmrss, "cpu_s": cpu,
			"cpu_after_attach_s": (cpu - self.cpu_at_attach)
			if cpu is not None and self.cpu_at_attach is not None else None,
			"rc": rc}

	def kill(self):
		if self.proc and self.proc.poll() is None:
			self.proc.kill()
			self.proc.wait()


# The line that says a tracer is attached. bpftrace prints "Attaching N
# probes..." BEFORE it attaches them; xsw.bt's BEGIN line comes once every
# probe is attached, so that is when the workload may start.
ATTACH_RE = {
	"xsw": r"(?i)attached",
	"bpftrace": r"xsw\.bt: tracing",
	"floor": r"floor\.bt: tracing",
	"xfloor-events": r"xsw-floor: attached",
	"xfloor-raw": r"xsw-floor: attached",
	"xfloor-emit": r"xsw-floor: attached",
}


def tracer_argv(kind, tools, extra=()):
	if kind == "xsw":
		return [tools["xsw"], "--json", "--probes=syscall"] + list(extra)
	if kind == "bpftrace":
		return [tools["bpftrace"], os.path.join(TOP, "tools/bench/xsw.bt")]
	if kind == "floor":
		return [tools["bpftrace"], os.path.join(TOP, "tools/bench/floor.bt")]
	if kind == "xfloor-emit":
		return [tools["floor"], "--hooks", "events", "--emit"]
	if kind.startswith("xfloor-"):
		return [tools["floor"], "--hooks", kind[len("xfloor-"):]]
	raise ValueError(kind)


# --- workloads -----------------------------------------------------------------

def extract_steps(obj, path=""):
	"""Every {p50, p99, ...} object in a bench JSON document, by step name."""
	found = {}
	if isinstance(obj, dict):
		keys = {k.replace("_ns", ""): k for k in obj}
		if "p50" in keys and "p99" in keys:
			name = obj.get("step") or obj.get("name") or path or "?"
			found[str(name)] = {k: obj[keys[k]] for k in
					    ("count", "p50", "p90", "p99", "max") if k in keys}
			return found
		for k, v in obj.items():
			found.update(extract_steps(v, k))
	elif isinstance(obj, list):
		for i, v in enumerate(obj):
			found.update(extract_steps(v, "%s[%d]" % (path, i)))
	return found


def run_workload(argv, timeout=900):
	t0 = time.monotonic()
	p = subprocess.run(pinned(argv, "work"), capture_output=True, text=True, timeout=timeout)
	wall = time.monotonic() - t0
	if p.returncode != 0:
		raise Skip("%s exited %d: %s" % (sh(argv), p.returncode,
						 (p.stderr or p.stdout).strip()[-300:]))
	return p.stdout, wall


def measure(kind, tools, work_argv, parse, workdir, xsw_extra=()):
	"""One workload run under tracer @kind ('none', 'xsw', 'bpftrace', 'perf')."""
	rec = {"mode": kind}
	if kind == "perf":
		pdata = os.path.join(workdir, "perf.data")
		argv = pinned([tools["perf"], "record", "-q", "-e", PERF_EVENTS, "-o", pdata,
			       "--"] + pinned(work_argv, "work"), "tracer")
		t0 = time.monotonic()
		p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
				     text=True)
		out, err = p.communicate(timeout=900)
		rec["wall_s"] = time.monotonic() - t0
		if p.returncode != 0:
			raise Skip("%s exited %d: %s" % (sh(argv), p.returncode, err.strip()[-300:]))
		rec["result"] = parse(out)
		return rec
	tracer = None
	if kind != "none":
		tracer = Tracer(kind, tracer_argv(kind, tools, xsw_extra),
				ATTACH_RE[kind],
				workdir)
		rec["attach_ms"] = tracer.start()
	try:
		out, rec["wall_s"] = run_workload(work_argv)
	finally:
		if tracer:
			rec.update(tracer.stop())
	rec["result"] = parse(out)
	if kind == "xfloor-emit":
		rec.update(floor_records(tracer))
	return rec


def floor_records(tracer):
	"""What `xsw-floor --emit` says it drained: {floor_records, floor_dropped}."""
	with open(tracer.err, errors="replace") as f:
		m = re.search(r"xsw-floor: (\d+) records, (\d+) dropped", f.read())
	if not m:
		raise Skip("%s printed no record count: %s" % (sh(tracer.argv), tracer.tail()))
	return {"floor_records": int(m.group(1)), "floor_dropped": int(m.group(2))}


def load_first_json(out):
	"""The first JSON object in @out (text may follow it, e.g. log lines)."""
	try:
		return json.JSONDecoder().raw_decode(out[out.index("{"):])[0]
	except ValueError:
		return None


def parse_bench_json(out):
	doc = load_first_json(out)
	steps = extract_steps(doc)
	if not steps:
		raise Skip("vcpu-lifecycle bench --json printed no {p50, p99} objects: %s" % out[:300])
	return steps


def parse_exit_loop(out):
	"""bench --scenario exit-loop --json: mean ns per exit and KVM_RUN p50/p99."""
	try:
		doc = load_first_json(out)
		run = extract_steps(doc)
		step = next(iter(run.values()))
		return {"ns_per_exit": doc["ns_per_exit"], "p50": step["p50"], "p99": step["p99"]}
	except (ValueError, KeyError, StopIteration, TypeError):
		raise Skip("vcpu-lifecycle bench --scenario exit-loop --json printed no "
			   "ns_per_exit and KVM_RUN p50/p99: %s" % out[:300])


# --- sections ----------------------------------------------------------------

def interleaved(rounds, modes):
	for r in range(rounds):
		k = r % len(modes)
		yield r, modes[k:] + modes[:k]


def section_creation(a, tools, workdir, raw):
	modes = ["none"] + [m for m in ("xsw", "bpftrace", "perf") if tools.get(m)]
	skipped = {m: tools["why_" + m] for m in ("xsw", "bpftrace", "perf") if not tools.get(m)}
	if tools.get("bpftrace"):
		modes.insert(1, "floor")
	else:
		skipped["floor"] = tools["why_bpftrace"]
	if not tools.get("vl"):
		raise Skip(tools["why_vl"])
	work = [tools["vl"], "bench", "--vms", a.vms, "--vcpus", a.vcpus,
		"--iterations", a.iterations, "--json"]
	runs = []
	for r, order in interleaved(a.rounds, modes):
		for m in order:
			log("creation round %d/%d: %s" % (r + 1, a.rounds, m))
			try:
				rec = measure(m, tools, [str(x) for x in work], parse_bench_json, workdir)
			except Skip as e:
				if m == "none":
					raise
				skipped[m] = str(e)
				modes.remove(m)
				continue
			rec["round"] = r
			runs.append(rec)
	raw["creation"] = {"command": sh(work), "runs": runs, "skipped": skipped}
	return {"command": sh(work), "runs": runs, "modes": modes, "skipped": skipped}


def ratios(runs, mode, key_fn, base="none"):
	"""Per-round ratio key_fn(mode) / key_fn(base)."""
	by_round = {}
	for rec in runs:
		by_round.setdefault(rec["round"], {})[rec["mode"]] = rec
	out = []
	for r, recs in sorted(by_round.items()):
		if mode in recs and base in recs:
			b, t = key_fn(recs[base]), key_fn(recs[mode])
			if b and t is not None:
				out.append(t / b)
	return out


def section_exit_loop(a, tools, workdir, raw):
	if not tools.get("vl"):
		raise Skip(tools["why_vl"])
	work = [tools["vl"], "bench", "--scenario", "exit-loop", "--exits", str(a.exits),
		"--iterations", str(a.exit_iterations), "--json"]
	modes = ["none"]
	skipped = {}
	if tools.get("xsw"):
		modes += ["xsw", "xsw-noguard"]
	else:
		skipped["xsw"] = tools["why_xsw"]
	if tools.get("bpftrace"):
		modes.append("bpftrace")
	runs = []
	for r, order in interleaved(a.rounds, modes):
		for m in order:
			log("exit-loop round %d/%d: %s" % (r + 1, a.rounds, m))
			kind = "xsw" if m.startswith("xsw") else m
			extra = ["--no-kvm-entry-guard"] if m == "xsw-noguard" else []
			try:
				rec = measure(kind, tools, work, parse_exit_loop, workdir, extra)
			except Skip as e:
				if m == "none":
					raise
				skipped[m] = str(e)
				modes.remove(m)
				continue
			rec["mode"] = m
			rec["round"] = r
			runs.append(rec)
	raw["exit_loop"] = {"command": sh(work), "runs": runs, "skipped": skipped}
	return {"command": sh(work), "runs": runs, "modes": modes, "skipped": skipped}


# Modes of the paired overhead section: (label, tracer kind, extra argv).
# "none2" is the untraced run a second time: its ratio to "none" is what
# the method reads when nothing changed (the resolution). "xsw-filtered"
# is the collector attached with a pid filter that matches no KVM process
# (-p 1: init), so its programs run on every ioctl but leave at the filter:
# what the attach points and the collector's presence cost by themselves.
# "xsw-raw" is the collector with --syscall-hooks=raw (tp_btf raw_syscalls
# instead of the syscall trace events).
PAIRED_MODES = (("none", "none", ()), ("none2", "none", ()),
		("xsw-filtered", "xsw", ("-p", "1")), ("xsw", "xsw", ()),
		("xsw-raw", "xsw", ("--syscall-hooks=raw",)))


def williams_orders(modes):
	"""Orders of @modes in which each mode follows every other one equally
	often (a Williams design: n rows for an even n, 2n for an odd one).

	A run leaves the machine changed for a while after it (a stopped
	tracer's programs, maps and ring buffer are freed through RCU and
	vfree, with the TLB flushes these take): with a plain rotation each
	mode always follows the same one, and that carry-over biases every
	ratio the same way. In a first version of this section the untraced
	run always came right after xstate-watch's and the untraced-again run
	measured -1.1 % (95 % interval -2.1 .. -0.2) against it."""
	n = len(modes)
	first, lo, hi = [0], 1, n - 1
	while len(first) < n:
		first.append(lo)
		lo += 1
		if len(first) < n:
			first.append(hi)
			hi -= 1
	rows = [[(i + r) % n for i in first] for r in range(n)]
	if n % 2:
		rows += [row[::-1] for row in rows]
	return [[modes[i] for i in row] for row in rows]


def section_paired(a, tools, workdir, raw):
	"""The overhead targets' own measurement: many short rounds, 4 modes.

	Round-to-round drift on this host is larger than the overheads sought
	(a few %), so the targets are read from many short rounds of only the
	modes they compare, the order rotating, rather than from the rounds
	that also carry bpftrace and perf (which take seconds and disturb the
	machine around them)."""
	if not tools.get("vl"):
		raise Skip(tools["why_vl"])
	if not tools.get("xsw"):
		raise Skip(tools["why_xsw"])
	works = {
		"creation": ([tools["vl"], "bench", "--vms", a.vms, "--vcpus", a.vcpus,
			      "--iterations", str(a.paired_iterations), "--json"], parse_bench_json),
		"exit_loop": ([tools["vl"], "bench", "--scenario", "exit-loop", "--exits", str(a.paired_exits),
			       "--iterations", "5", "--json"], parse_exit_loop),
	}
	paired = list(PAIRED_MODES)
	if a.paired_floors:
		if not tools.get("floor"):
			raise Skip(tools["why_floor"])
		paired += [("xfloor-events", "xfloor-events", ()), ("xfloor-raw", "xfloor-raw", ()),
			   ("xfloor-emit", "xfloor-emit", ())]
	modes = [m[0] for m in paired]
	spec = {m[0]: m for m in paired}
	out = {}
	for name, (work, parse) in works.items():
		work = [str(x) for x in work]
		runs = []
		orders = williams_orders(modes)
		for r in range(a.paired_rounds):
			for m in orders[r % len(orders)]:
				log("paired %s round %d/%d: %s" % (name, r + 1, a.paired_rounds, m))
				_, kind, extra = spec[m]
				rec = measure(kind, tools, work, parse, workdir, extra)
				rec["mode"] = m
				rec["round"] = r
				runs.append(rec)
				time.sleep(a.settle)
		out[name] = {"command": sh(work), "runs": runs, "modes": modes}
	raw["paired"] = out
	return out


# The syscall tax: a syscall no hook traces, and a KVM ioctl the tier filters out.
TAX_OPS = ("getppid", "check-extension")
TAX_MODES = (("none", "none", ()), ("xfloor-events", "xfloor-events", ()),
	     ("xfloor-raw", "xfloor-raw", ()), ("xsw", "xsw", ()),
	     ("xsw-raw", "xsw", ("--syscall-hooks=raw",)))


def section_tax(a, tools, workdir, raw):
	"""What the collector costs the syscalls it does not trace.

	The overhead targets time KVM ioctls; a system-wide tracer is also paid
	for by every other process. Enabling a syscall trace event sets
	SYSCALL_WORK_SYSCALL_TRACEPOINT on every task (the slow syscall path);
	the raw hooks run a program on every syscall. Measured hot, as a tight
	loop of one call (xsw-burst --rate 0): ns per call from the rate
	reached, so the loop's own clock reads weigh the same in every mode."""
	if not tools.get("burst"):
		raise Skip(tools["why_burst"])
	if not tools.get("xsw"):
		raise Skip(tools["why_xsw"])
	modes = [m for m in TAX_MODES if tools.get("floor") or not m[0].startswith("xfloor")]
	spec = {m[0]: m for m in modes}
	orders = williams_orders([m[0] for m in modes])
	runs = []
	for r in range(a.tax_rounds):
		for op in TAX_OPS:
			work = [tools["burst"], "--op", op, "--rate", "0", "--duration", str(a.tax_seconds)]
			for m in orders[r % len(orders)]:
				log("tax round %d/%d, %s: %s" % (r + 1, a.tax_rounds, op, m))
				_, kind, extra = spec[m]
				rec = measure(kind, tools, work, json.loads, workdir, extra)
				rec.update(mode=m, round=r, op=op, command=sh(work),
					   ns_per_call=1e9 / rec["result"]["achieved_rate"])
				runs.append(rec)
				time.sleep(a.settle)
	out = {"runs": runs, "modes": [m[0] for m in modes],
	       "skipped": {} if tools.get("floor") else {"xfloor": tools["why_floor"]}}
	raw["tax"] = out
	return out


VM_TIERS = ("syscall", "fentry", "tracepoint")


def section_vm_tiers(a, tools, workdir, raw):
	"""vCPU creation under each probe tier, in the QEMU TCG test guest.

	The CI host refuses fentry programs and has no tracepoint series, so
	the other tiers' cost can only be seen in `make vm-test`'s guest
	(Linux 6.12 with kernel-patches/, emulated by TCG). TCG's costs are
	not hardware's: the figures compare the tiers with each other in one
	run, they do not predict the overhead on a real host."""
	if not shutil.which("qemu-system-x86_64"):
		raise Skip("qemu-system-x86_64 not installed (Debian package qemu-system-x86)")
	kdir = os.path.join(TOP, "build", "kernel")
	log("vm tiers: building the test kernel (cached) and the initramfs")
	p = subprocess.run(["make", "-C", TOP, "-s", "--no-print-directory", "kernel", "initramfs"],
			   capture_output=True, text=True)
	if p.returncode != 0:
		raise Skip("make kernel initramfs failed: %s" % (p.stderr or p.stdout).strip()[-300:])
	with open(os.path.join(kdir, "bzImage.version")) as f:
		version = f.read().strip()
	if "patched" not in version.split():
		raise Skip("the test kernel is %s: the tracepoint tier needs the series" % version)
	out = os.path.join(workdir, "vm-tiers")
	argv = [os.path.join(TOP, "tests/kernel/vm/run-qemu.sh"), "--plan", "bench",
		"--timeout", str(600 + 60 * a.vm_rounds),
		"--append", "xsw.bench=%d,%d" % (a.vm_rounds, a.vm_iterations),
		os.path.join(kdir, "bzImage"), os.path.join(kdir, "initramfs.cpio.gz"), out]
	log("vm tiers: %d rounds in the guest" % a.vm_rounds)
	t0 = time.monotonic()
	q = subprocess.run(argv, capture_output=True, text=True)
	files, name = {}, None
	try:
		with open(os.path.join(out, "data.log"), errors="replace") as f:
			for line in f:
				line = line.rstrip("\r\n")
				if line.startswith("XSW-FILE-BEGIN "):
					name = line.split(" ", 1)[1]
					files[name] = []
				elif line.startswith("XSW-FILE-END "):
					name = None
				elif name:
					files[name].append(line)
	except OSError as e:
		raise Skip("the guest sent nothing (%s): QEMU exited %d: %s" % (e, q.returncode,
									   q.stderr.strip()[-300:]))
	runs = []
	for line in files.get("tier-bench.jsonl", []):
		try:
			rec = json.loads(line)
			rec["result"] = parse_bench_json(json.dumps(rec["result"]))
		except (ValueError, KeyError, Skip) as e:
			raise Skip("tier-bench.jsonl: unreadable line (%s): %s" % (e, line[:200]))
		runs.append(rec)
	errs = " ".join(files.get("tier-bench.err", [])).strip()
	if errs or not runs:
		raise Skip("xsw-tier-bench in the guest: %s" % (errs[-400:] or "no runs (see %s)" % out))
	res = {"runs": runs, "modes": ["none"] + list(VM_TIERS), "kernel": version,
	       "command": sh(argv).replace(TOP + "/", ""), "wall_s": time.monotonic() - t0}
	raw["vm_tiers"] = res
	return res


def median_ci95(xs):
	"""The median and a distribution-free 95 % interval for it (order
	statistics of the binomial(n, 1/2) bounds; n >= 6)."""
	xs = sorted(xs)
	n = len(xs)
	k = max(0, int((n - 1.96 * n ** 0.5) / 2))
	return statistics.median(xs), xs[k], xs[min(n - 1, n - 1 - k)]


BPF_STATS = "/proc/sys/kernel/bpf_stats_enabled"


def prog_names():
	"""{prog id: name} of the loaded BPF programs (bpftool)."""
	try:
		progs = json.loads(subprocess.run(["bpftool", "prog", "show", "--json"],
						  capture_output=True, text=True, timeout=30).stdout)
		return {p["id"]: p.get("name", "?") for p in progs}
	except (OSError, ValueError, subprocess.SubprocessError):
		return {}


def section_bpf_cost(a, tools, workdir, raw):
	"""In-kernel time of xstate-watch's programs, from the kernel's counters."""
	if not tools.get("xsw"):
		raise Skip(tools["why_xsw"])
	if not tools.get("vl") or not tools.get("burst"):
		raise Skip(tools.get("why_vl") or tools.get("why_burst"))
	try:
		with open(BPF_STATS) as f:
			old = f.read().strip()
	except OSError as e:
		raise Skip("%s: %s (kernel without BPF run-time statistics)" % (BPF_STATS, e))
	n_vcpus = a.vms * a.vcpus * a.iterations
	works = [
		("lifecycle", [tools["vl"], "bench", "--vms", a.vms, "--vcpus", a.vcpus,
			       "--iterations", a.iterations, "--json"]),
		("create-vcpu", [tools["burst"], "--op", "create-vcpu", "--rate", 0, "--duration", 2]),
	]
	out = {"runs": [], "n_vcpus": n_vcpus}
	try:
		with open(BPF_STATS, "w") as f:
			f.write("1")
		for rnd in range(3):
			for name, work in works:
				work = [str(x) for x in work]
				log("bpf cost round %d/3: %s" % (rnd + 1, name))
				if name == "create-vcpu":	# the untraced call, for the ratio
					base = json.loads(run_workload(work)[0])["lat_p50_ns"]
				tracer = Tracer("xsw", tracer_argv("xsw", tools), ATTACH_RE["xsw"], workdir)
				tracer.start()
				try:
					names = prog_names()
					before = bpf_prog_stats(tracer.proc.pid)
					res, _ = run_workload(work)
					after = bpf_prog_stats(tracer.proc.pid)
				finally:
					tracer.stop()
				progs = {}
				for prog_id, (cnt, ns) in after.items():
					c0, t0 = before.get(prog_id, (0, 0))
					if cnt - c0 > 0:
						progs[names.get(prog_id, "prog %d" % prog_id)] = (cnt - c0, ns - t0)
				rec = {"work": name, "round": rnd, "command": sh(work), "progs": progs}
				if name == "create-vcpu":
					doc = json.loads(res)
					rec.update(issued=doc["issued"], base_p50_ns=base,
						   traced_p50_ns=doc["lat_p50_ns"])
				out["runs"].append(rec)
	finally:
		with open(BPF_STATS, "w") as f:
			f.write(old)
	raw["bpf_cost"] = out
	return out


def count_burst_events(kind, tracer, pid):
	"""Events the tracer delivered for @pid and the loss it reported."""
	seen = lost = 0
	if kind == "xsw":
		with open(tracer.out, errors="replace") as f:
			for line in f:
				if not line.startswith("{"):
					continue
				try:
					ev = json.loads(line)
				except ValueError:
					continue
				if ev.get("event") == "lost":
					lost += int(ev.get("count") or ev.get("lost", {}).get("count", 0))
				elif ev.get("pid") == pid and ev.get("event") == "perm_request":
					seen += 1
		with open(tracer.err, errors="replace") as f:
			m = re.findall(r"(?i)lost[ =:]+(\d+)", f.read())
			if m and not lost:
				lost = int(m[-1])
	else:
		pat = " pid=%d " % pid
		for path in (tracer.out, tracer.err):
			with open(path, errors="replace") as f:
				for line in f:
					if line.startswith("arch_prctl") and pat in line:
						seen += 1
					m = re.search(r"Lost (\d+) events", line)
					if m:
						lost += int(m.group(1))
	return seen, lost


def section_burst(a, tools, workdir, raw):
	if not tools.get("burst"):
		raise Skip(tools["why_burst"])
	kinds = [k for k in ("xsw", "bpftrace") if tools.get(k)]
	skipped = {k: tools["why_" + k] for k in ("xsw", "bpftrace") if not tools.get(k)}
	rows = []
	for rnd, rate in ((rnd, rate) for rnd in range(a.burst_rounds) for rate in a.rates):
		work = [tools["burst"], "--op", "get-guest-perm", "--rate", str(rate),
			"--duration", str(a.burst_seconds)]
		modes = ["none"] + [k for k in kinds if k not in skipped]
		k = rnd % len(modes)
		for kind in modes[k:] + modes[:k]:
			log("burst round %d/%d, %s/s: %s" % (rnd + 1, a.burst_rounds, rate or "max", kind))
			tracer = None
			if kind != "none":
				tracer = Tracer(kind, tracer_argv(kind, tools),
						ATTACH_RE[kind],
						workdir)
				try:
					tracer.start()
				except Skip as e:
					skipped[kind] = str(e)
					continue
			try:
				out, _ = run_workload(work)
				res = json.loads(out)
			finally:
				if tracer:
					time.sleep(0.5)	# let the consumer drain
					foot = tracer.stop()
			row = {"tracer": kind, "round": rnd, "target_rate": rate, "command": sh(work),
			       "issued": res["issued"], "achieved_rate": res["achieved_rate"],
			       "lat_p50_ns": res["lat_p50_ns"], "lat_p99_ns": res["lat_p99_ns"]}
			if tracer:
				seen, lost = count_burst_events(kind, tracer, res["pid"])
				row.update(seen=seen, lost_reported=lost,
					   missing=res["issued"] - seen, rss_kib=foot["rss_kib"],
					   cpu_s=foot["cpu_after_attach_s"])
				os.unlink(tracer.out)
			rows.append(row)
	raw["burst"] = {"rows": rows, "skipped": skipped}
	return {"rows": rows, "skipped": skipped}


# --- report ------------------------------------------------------------------

def rate_label(rate):
	return "%d events/s" % rate if rate else "max (as fast as the caller went)"


def pct(ratio):
	return (ratio - 1.0) * 100.0


def fmt_pct_spread(rs):
	if not rs:
		return "n/a"
	s = stats(rs)
	return "%+.1f %% (%+.1f .. %+.1f, n=%d)" % (pct(s["median"]), pct(s["min"]),
						     pct(s["max"]), s["n"])


def fmt_ns(v):
	if v is None:
		return "n/a"
	if v >= 1e6:
		return "%.2f ms" % (v / 1e6)
	if v >= 1e3:
		return "%.1f us" % (v / 1e3)
	return "%d ns" % v


MODE_NAMES = {
	"none": "untraced",
	"xsw": "xstate-watch (syscall tier)",
	"xsw-noguard": "xstate-watch --no-kvm-entry-guard",
	"bpftrace": "bpftrace xsw.bt",
	"floor": "empty programs, same attach points (floor.bt)",
	"perf": "perf record -e (tracepoints)",
}


def report(a, info, tools, sections, targets_out):
	L = []
	w = L.append
	w("# Benchmarks")
	w("")
	w("Generated by `make bench` (tools/bench/bench.py); do not edit by hand:")
	w("regenerate with `make bench && make bench-doc`.")
	w("")
	w("## Machine and run")
	w("")
	w("| | |")
	w("| --- | --- |")
	w("| date | %s |" % info["date"])
	w("| kernel (`uname -r`) | %s |" % info["kernel"])
	w("| CPU | %s |" % info["cpu"])
	w("| nproc | %s |" % info["nproc"])
	w("| tree | %s (binaries built by `make bench` from the working tree: %d tracked files differed from that commit) |" % (info["git"], info["dirty"]))
	w("| bpftrace | %s |" % (info["bpftrace"] or "absent"))
	w("| perf | %s |" % (info["perf"] or "absent"))
	w("| harness | `%s` |" % sh(["tools/bench/bench.py"] + a.argv))
	w("| load average (1/5/15 min) at start, end | %s; %s |" % (info["loadavg_start"], info["loadavg_end"]))
	w("| duration | %.0f s |" % info["duration_s"])
	w("")
	w("Method: each round runs every mode once, in an order that rotates from")
	w("round to round; an overhead is the traced figure divided by the untraced")
	w("figure of the same round, given as the median over rounds with its")
	w("min .. max. Tracers run system-wide (no pid filter) and attach before")
	w("the workload starts; xstate-watch runs as `%s` with its JSON lines" %
	  sh(["xstate-watch", "--json", "--probes=syscall"]))
	w("written to a file; bpftrace runs `bpftrace tools/bench/xsw.bt` with its")
	w("output to a file; perf wraps the workload: `perf record -q -e %s -o FILE -- CMD`." % PERF_EVENTS)
	if PIN["work"] is not None:
		w("Pinned (--pin): every workload runs on CPU %d and every tracer on CPU %d," % (PIN["work"], PIN["tracer"]))
		w("in every mode including the untraced one.")
	else:
		w("Not pinned (--pin no, or one CPU): the scheduler places workload and tracer.")
	w("The machine has %s CPUs and is noisy: read the spreads, not only the medians." % info["nproc"])
	w("")

	w("## Targets")
	w("")
	w("| target | measured | result |")
	w("| --- | --- | --- |")
	for t in targets_out:
		w("| %s | %s | %s |" % t)
	w("")

	paired_report(a, sections.get("paired"), w)

	c = sections.get("creation")
	w("## vCPU creation (`vcpu-lifecycle bench`)")
	w("")
	if isinstance(c, Skip):
		w("Skipped: %s" % c)
	else:
		w("Command: `%s`, %d rounds." % (c["command"], a.rounds))
		w("")
		steps = list(c["runs"][0]["result"].keys())
		w("Per-step latency, median over rounds of each round's p50 and p99:")
		w("")
		w("| step | mode | p50 | p99 | p50 overhead (median, min..max) | p99 overhead |")
		w("| --- | --- | --- | --- | --- | --- |")
		for s in steps:
			for m in c["modes"]:
				p50 = [r["result"][s]["p50"] for r in c["runs"] if r["mode"] == m and s in r["result"]]
				p99 = [r["result"][s]["p99"] for r in c["runs"] if r["mode"] == m and s in r["result"]]
				if not p50:
					continue
				o50 = o99 = ""
				if m != "none":
					o50 = fmt_pct_spread(ratios(c["runs"], m, lambda r, s=s: r["result"].get(s, {}).get("p50")))
					o99 = fmt_pct_spread(ratios(c["runs"], m, lambda r, s=s: r["result"].get(s, {}).get("p99")))
				w("| %s | %s | %s | %s | %s | %s |" % (s, MODE_NAMES[m], fmt_ns(statistics.median(p50)),
								      fmt_ns(statistics.median(p99)), o50, o99))
		w("")
		w("Wall time of one benchmark run (perf's includes its own start-up and")
		w("the writing of perf.data, as it wraps the command):")
		w("")
		w("| mode | wall (median, min..max) | overhead |")
		w("| --- | --- | --- |")
		for m in c["modes"]:
			ws = stats([r["wall_s"] for r in c["runs"] if r["mode"] == m])
			o = "" if m == "none" else fmt_pct_spread(ratios(c["runs"], m, lambda r: r["wall_s"]))
			w("| %s | %.3f s (%.3f .. %.3f) | %s |" % (MODE_NAMES[m], ws["median"], ws["min"], ws["max"], o))
		w("")
		for m, why in c["skipped"].items():
			w("- %s skipped: %s" % (MODE_NAMES.get(m, m), why))
		w("")

	e = sections.get("exit_loop")
	w("## KVM_RUN exit loop (`vcpu-lifecycle exit-loop`)")
	w("")
	if isinstance(e, Skip):
		w("Skipped: %s" % e)
	else:
		w("Command: `%s`, %d rounds. Figures: the p50 and p99 of one KVM_RUN" % (e["command"], a.rounds))
		w("round trip to a PIO exit, and the mean (total time / exits, which")
		w("includes the rare slow exits).")
		w("")
		w("| mode | KVM_RUN p50 | p50 overhead (median, min..max) | KVM_RUN p99 | mean ns/exit | mean overhead |")
		w("| --- | --- | --- | --- | --- | --- |")
		for m in e["modes"]:
			rs = [r for r in e["runs"] if r["mode"] == m]
			if not rs:
				continue
			p50 = statistics.median(r["result"]["p50"] for r in rs)
			p99 = statistics.median(r["result"]["p99"] for r in rs)
			mean = statistics.median(r["result"]["ns_per_exit"] for r in rs)
			o50 = om = ""
			if m != "none":
				o50 = fmt_pct_spread(ratios(e["runs"], m, lambda r: r["result"]["p50"]))
				om = fmt_pct_spread(ratios(e["runs"], m, lambda r: r["result"]["ns_per_exit"]))
			w("| %s | %s | %s | %s | %s | %s |" % (MODE_NAMES[m], fmt_ns(p50), o50, fmt_ns(p99),
							   fmt_ns(mean), om))
		w("")
		for m, why in e["skipped"].items():
			w("- %s skipped: %s" % (MODE_NAMES.get(m, m), why))
		w("")

	bpf_cost_report(sections.get("bpf_cost"), w)
	tax_report(a, sections.get("tax"), w)

	w("## Start-up and footprint")
	w("")
	w("Start-up: from exec to the tracer's \"attached\" line (xstate-watch) or to")
	w("the output of xsw.bt's BEGIN probe (bpftrace prints \"Attaching N probes...\"")
	w("before attaching them and runs BEGIN once they are), polled every 1 ms,")
	w("over every start in the sections above; the workloads start only then.")
	w("Memory: from /proc/PID/status just before SIGINT, VmHWM (the peak, which")
	w("for xstate-watch is libbpf parsing the kernel's BTF while it loads the")
	w("programs) and VmRSS (resident then); CPU: utime+stime from /proc/PID/stat,")
	w("from the attach line to the end of the workload (consumer work during the run).")
	w("")
	foot = sections.get("footprint", {})
	if not foot:
		w("Skipped: no tracer ran.")
	else:
		w("| tracer | start-up ms (median, min..max, n) | VmHWM MiB (max over runs) | VmRSS MiB (max over runs) | CPU during creation bench, s (median) |")
		w("| --- | --- | --- | --- | --- |")
		for m, f in foot.items():
			w("| %s | %s | %s | %s | %s |" % (MODE_NAMES[m], f["attach"], f["rss"], f["vmrss"], f["cpu"]))
	w("")

	b = sections.get("burst")
	w("## Event rate (`xsw-burst`)")
	w("")
	if isinstance(b, Skip):
		w("Skipped: %s" % b)
	else:
		w("`xsw-burst --op get-guest-perm --rate R --duration %d` issues" % a.burst_seconds)
		w("arch_prctl(ARCH_GET_XCOMP_GUEST_PERM) at R calls/s (0 = as fast as it")
		w("can); the syscall tier turns each into a perm_request event. `seen` counts")
		w("the burst's events in the tracer's output; `lost` is what the tracer")
		w("itself reported (xstate-watch `lost` events, bpftrace \"Lost N events\");")
		w("`missing` = issued - seen. %d rounds; in each, every rate runs once per" % a.burst_rounds)
		w("tracer, in a rotating order. Rows sorted by tracer and rate.")
		w("")
		w("| tracer | target/s | round | achieved/s | issued | seen | lost (reported) | missing | call p50 | call p99 | tracer CPU s | VmHWM MiB |")
		w("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
		order = {k: i for i, k in enumerate(("none", "xsw", "bpftrace"))}
		for r in sorted(b["rows"], key=lambda r: (order[r["tracer"]], r["target_rate"] or 1 << 40, r["round"])):
			w("| %s | %s | %d | %.0f | %d | %s | %s | %s | %s | %s | %s | %s |" % (
				MODE_NAMES[r["tracer"]], r["target_rate"] or "max", r["round"] + 1, r["achieved_rate"],
				r["issued"], r.get("seen", ""), r.get("lost_reported", ""),
				r.get("missing", ""), fmt_ns(r["lat_p50_ns"]), fmt_ns(r["lat_p99_ns"]),
				"%.2f" % r["cpu_s"] if r.get("cpu_s") is not None else "",
				"%.1f" % (r["rss_kib"] / 1024) if r.get("rss_kib") else ""))
		w("")
		for kind in ("xsw", "bpftrace"):
			rows = [r for r in b["rows"] if r["tracer"] == kind]
			if not rows:
				continue
			by_rate = {}
			for r in rows:
				by_rate.setdefault(r["target_rate"], []).append(r)
			clean = [rate for rate, rs in by_rate.items()
				 if all(r["missing"] == 0 and r["lost_reported"] == 0 for r in rs)]
			lossy = sorted((rate for rate in by_rate if rate not in clean), key=lambda x: x or 1 << 40)
			best = max(clean, key=lambda x: x or 1 << 40) if clean else None
			w("- %s: highest target rate without loss in every round: %s; lossy rates (missing per round): %s." % (
				MODE_NAMES[kind],
				rate_label(best) if best is not None else "none of the rates tried",
				"; ".join("%s: %s" % (rate_label(rate), ", ".join(
					"%d of %d (%.1f %%)" % (r["missing"], r["issued"], 100.0 * r["missing"] / max(r["issued"], 1))
					for r in sorted(by_rate[rate], key=lambda r: r["round"]))) for rate in lossy) or "none"))
		for m, why in b["skipped"].items():
			w("- %s skipped: %s" % (MODE_NAMES.get(m, m), why))
	w("")
	vm_tiers_report(a, sections.get("vm_tiers"), w)
	profile_summary(a, w)
	return "\n".join(L) + "\n"


def bpf_cost_report(c, w):
	w("## In-kernel cost of xstate-watch's programs (`bpf_stats`)")
	w("")
	if isinstance(c, Skip) or c is None:
		w("Skipped: %s" % (c or "not run"))
		w("")
		return
	w("With `kernel.bpf_stats_enabled=1` (its own cost, two clock reads per")
	w("program run, is in these figures and in no other section), the")
	w("collector attached, pinned as above: each program's run count and run")
	w("time (`run_cnt`, `run_time_ns` in /proc/PID/fdinfo of its program fds)")
	w("over one workload run, 3 rounds. This is the part of the overhead that")
	w("the collector's own code decides; the rest is the attach points (see")
	w("the floor.bt row above) and the consumer's share of the machine.")
	w("")
	for work in ("lifecycle", "create-vcpu"):
		runs = [r for r in c["runs"] if r["work"] == work]
		if not runs:
			continue
		w("`%s`:" % runs[0]["command"].replace(TOP + "/", ""))
		w("")
		w("| program | calls (median) | ns per call (median, min..max) |")
		w("| --- | --- | --- |")
		names = sorted({n for r in runs for n in r["progs"]})
		for n in names:
			per = [r["progs"][n][1] / r["progs"][n][0] for r in runs if n in r["progs"]]
			cnt = [r["progs"][n][0] for r in runs if n in r["progs"]]
			st = stats(per)
			w("| %s | %d | %.0f (%.0f .. %.0f) |" % (n, statistics.median(cnt), st["median"],
								   st["min"], st["max"]))
		w("")
		if work == "lifecycle":
			per_vcpu = stats([sum(ns for _, ns in r["progs"].values()) / c["n_vcpus"] for r in runs])
			w("All programs together: %s of BPF time per vCPU lifecycle (min %s, max %s; %d vCPUs per run, VM work included)." % (
				fmt_ns(per_vcpu["median"]), fmt_ns(per_vcpu["min"]), fmt_ns(per_vcpu["max"]), c["n_vcpus"]))
		else:
			def ioctl_ns(r):
				return sum(r["progs"].get(n, (0, 0))[1] for n in ("xsw_ioctl_enter", "xsw_ioctl_exit")) / r["issued"]
			per = stats([ioctl_ns(r) for r in runs])
			share = stats([ioctl_ns(r) / r["base_p50_ns"] for r in runs])
			w("Per KVM_CREATE_VCPU, sys_enter_ioctl + sys_exit_ioctl (the KVM_CREATE_VM of every 64th call included): %s (min %s, max %s),"
			  " that is %+.1f %% of the untraced call's p50 measured just before (%s); the traced p50 of the same runs: %s." % (
				fmt_ns(per["median"]), fmt_ns(per["min"]), fmt_ns(per["max"]),
				share["median"] * 100, fmt_ns(statistics.median(r["base_p50_ns"] for r in runs)),
				fmt_pct_spread([r["traced_p50_ns"] / r["base_p50_ns"] for r in runs])))
		w("")


# The modes of the paired rounds and of the syscall-tax loops.
PAIRED_NAMES = {
	"none": "untraced",
	"none2": "untraced again (A/A)",
	"xsw-filtered": "xstate-watch -p 1 (attached, filtered out)",
	"xsw": "xstate-watch (syscall tier)",
	"xsw-raw": "xstate-watch --syscall-hooks=raw",
	"xfloor-events": "empty programs, trace event hooks (xsw-floor --hooks events)",
	"xfloor-raw": "empty programs, raw_syscalls hooks (xsw-floor --hooks raw)",
	"xfloor-emit": "a bare record per vCPU created, trace event hooks (xsw-floor --hooks events --emit)",
}


def tax_report(a, t, w):
	w("## What other syscalls pay (`xsw-burst`, hot loop)")
	w("")
	if not isinstance(t, dict):
		w("Skipped: %s" % (t or "not run"))
		w("")
		return
	w("A system-wide tracer is paid for by every process, not only by the")
	w("VMM. Enabling any syscall trace event puts every task on the slow")
	w("syscall path and runs the perf syscall hook, which looks the syscall up")
	w("in its bitmap of traced ones; the raw_syscalls hooks instead run a")
	w("program on every syscall, which switches on the number. Each mode")
	w("below was attached while `xsw-burst --op OP --rate 0 --duration %d`" % a.tax_seconds)
	w("issued one call in a tight loop: `getppid` (no tracer here hooks it:")
	w("what every other process on the host pays per syscall) and")
	w("`check-extension` (KVM_CHECK_EXTENSION on /dev/kvm: an ioctl the tier")
	w("runs its programs for and filters out, as it does every non-KVM ioctl).")
	w("ns per call is the loop's time over its calls (its own two clock reads")
	w("included, alike in every mode); added is the difference from the")
	w("untraced run of the same round, median (min .. max) over %d rounds in" % a.tax_rounds)
	w("Williams orders. Hot: the hooks' code and data stay in cache; the -p 1")
	w("row of the paired rounds measures the same hooks around KVM_CREATE_VCPU,")
	w("which runs them between other kernel work.")
	w("")
	for op in TAX_OPS:
		rs = [r for r in t["runs"] if r["op"] == op]
		if not rs:
			continue
		w("`%s`:" % rs[0]["command"].replace(TOP + "/", ""))
		w("")
		w("| mode | ns per call (median) | added ns per call | call p50 |")
		w("| --- | --- | --- | --- |")
		base = {r["round"]: r["ns_per_call"] for r in rs if r["mode"] == "none"}
		for m in t["modes"]:
			mine = [r for r in rs if r["mode"] == m]
			v = statistics.median(r["ns_per_call"] for r in mine)
			p50 = statistics.median(r["result"]["lat_p50_ns"] for r in mine)
			add = ""
			if m != "none":
				d = [r["ns_per_call"] - base[r["round"]] for r in mine if r["round"] in base]
				if d:
					add = "%+.1f (%+.1f .. %+.1f)" % (statistics.median(d), min(d), max(d))
			w("| %s | %.1f | %s | %s |" % (PAIRED_NAMES[m], v, add, fmt_ns(p50)))
		w("")
	for m, why in t["skipped"].items():
		w("- %s skipped: %s" % (m, why))
	w("")


def vm_tiers_report(a, v, w):
	w("## Probe tiers compared, in the QEMU TCG guest")
	w("")
	if not isinstance(v, dict):
		w("Skipped: %s" % (v or "not run"))
		w("")
		return
	w("The CI host runs only the syscall tier; the fentry and tracepoint tiers")
	w("load in `make vm-test`'s guest (Linux %s with kernel-patches/), which" %
	  v["kernel"].split()[0])
	w("QEMU emulates with TCG on this host. There `tests/kernel/vm/xsw-tier-bench`")
	w("ran `vcpu-lifecycle bench --vms 2 --vcpus 2 --iterations %d` untraced and" % a.vm_iterations)
	w("under `xstate-watch --json --probes=TIER` for each tier, %d rounds in" % a.vm_rounds)
	w("rotating order, one guest CPU (tracer and workload share it). An")
	w("overhead is the traced p50 over the untraced p50 of the same round,")
	w("median (min .. max) over rounds. TCG's costs are not a CPU's (a vCPU")
	w("creation takes several times the host's, a BPF program far more than")
	w("that): read these as the tiers against each other, not as what a real")
	w("host would measure. Command: `%s` (%.0f s)." % (v["command"], v["wall_s"]))
	w("")
	steps = ("create_vcpu", "set_cpuid2", "first_run")
	w("| mode | %s |" % " | ".join("%s p50 | overhead" % st for st in steps))
	w("| --- |%s" % (" --- | --- |" * len(steps)))
	for m in v["modes"]:
		cells = []
		for st in steps:
			vals = [r["result"][st]["p50"] for r in v["runs"] if r["mode"] == m and st in r["result"]]
			cells.append(fmt_ns(statistics.median(vals)) if vals else "n/a")
			cells.append("" if m == "none" else
				     fmt_pct_spread(ratios(v["runs"], m, lambda r, st=st: r["result"][st]["p50"])))
		w("| %s | %s |" % ("untraced" if m == "none" else "xstate-watch --probes=" + m,
				     " | ".join(cells)))
	w("")


def paired_report(a, p, w):
	w("## Overhead targets: paired rounds")
	w("")
	if not isinstance(p, dict):
		w("Skipped: %s" % p)
		w("")
		return
	w("The figures the overhead targets are judged on. Each round runs five")
	w("modes: untraced, untraced again, xstate-watch attached with `-p 1` (its")
	w("programs run on every ioctl but stop at the pid filter: the attach")
	w("points and the collector's presence alone), xstate-watch, and")
	w("xstate-watch `--syscall-hooks=raw` (the same handlers entered from")
	w("tp_btf on raw_syscalls instead of the syscall trace events). The")
	w("orders form a Williams design (each mode follows every other equally")
	w("often: what a stopped tracer leaves behind falls on all modes alike),")
	w("with a %.1f s pause after every run. A run takes about half a second, so" % a.settle)
	w("a round spans seconds, not the minute of the rounds below, and host drift")
	w("mostly cancels in the per-round ratio. The untraced-again row is that")
	w("method applied to no change at all: its interval is the resolution. The")
	w("95 % interval of a median is distribution-free (binomial order")
	w("statistics); quartiles are of the per-round ratios. %d rounds." % a.paired_rounds)
	if a.paired_floors:
		w("With --paired-floors, three more modes: `xsw-floor --hooks events|raw`,")
		w("empty programs on each set of hooks (what the attach points cost alone),")
		w("and `xsw-floor --hooks events --emit`: the same hooks, and on each")
		w("successful KVM_CREATE_VCPU one ring buffer record of xstate-watch's")
		w("vcpu_create size with only its header filled (clock, pid, tid, comm),")
		w("drained the way xstate-watch drains its ring. Nothing is read from the")
		w("vCPU: it is the least a tracer that reports each vCPU creation through a")
		w("BPF ring buffer can cost on these hooks, the lower bound for the")
		w("creation target.")
	w("")
	pc = p["creation"]
	step = create_step_of(pc["runs"])
	w("`%s`, step %s:" % (pc["command"], step))
	w("")
	w("| mode | p50 (median over rounds) | p50 overhead |")
	w("| --- | --- | --- |")
	for m in pc["modes"]:
		v = statistics.median(r["result"][step]["p50"] for r in pc["runs"] if r["mode"] == m)
		o = "" if m == "none" else fmt_pct_ci(ratios(pc["runs"], m, lambda r: r["result"][step]["p50"]))
		w("| %s | %s | %s |" % (PAIRED_NAMES[m], fmt_ns(v), o))
	w("")
	emits = [r for r in pc["runs"] if r["mode"] == "xfloor-emit"]
	if emits:
		w("`xsw-floor --emit` drained %g records per run (median; min %d, max %d), %d dropped in all." % (
			statistics.median(r["floor_records"] for r in emits),
			min(r["floor_records"] for r in emits), max(r["floor_records"] for r in emits),
			sum(r["floor_dropped"] for r in emits)))
		w("")
	pe = p["exit_loop"]
	w("`%s`, one KVM_RUN round trip to a PIO exit:" % pe["command"])
	w("")
	w("| mode | KVM_RUN p50 | p50 overhead | mean ns/exit | mean overhead |")
	w("| --- | --- | --- | --- | --- |")
	for m in pe["modes"]:
		rs = [r for r in pe["runs"] if r["mode"] == m]
		v = statistics.median(r["result"]["p50"] for r in rs)
		mean = statistics.median(r["result"]["ns_per_exit"] for r in rs)
		o50 = om = ""
		if m != "none":
			o50 = fmt_pct_ci(ratios(pe["runs"], m, lambda r: r["result"]["p50"]))
			om = fmt_pct_ci(ratios(pe["runs"], m, lambda r: r["result"]["ns_per_exit"]))
		w("| %s | %s | %s | %s | %s |" % (PAIRED_NAMES[m], fmt_ns(v), o50, fmt_ns(mean), om))
	w("")


def profile_summary(a, w):
	"""Top entries of the last `make profile`, if there is one."""
	pdir = os.path.join(a.build, "profile")
	w("## Profile (`make profile`)")
	w("")
	readme = os.path.join(pdir, "README.txt")
	if not os.path.exists(readme):
		w("Not run: no %s; run `make profile` before `make bench` to include it." %
		  os.path.relpath(readme, TOP))
		w("")
		return
	with open(readme) as f:
		lines = [l.rstrip("\n") for l in f]
	w("From %s (its own date and machine below); flame graphs and full" % os.path.relpath(pdir, TOP))
	w("reports stay in that directory.")
	w("")
	w("```")
	w("\n".join(lines))
	w("```")
	w("")
	for name in ("lifecycle-filtered", "set-cpuid2-filtered"):
		path = os.path.join(pdir, name + ".top.txt")
		if not os.path.exists(path):
			continue
		with open(path) as f:
			rep = f.read().splitlines()
		w("%s" % rep[0].lstrip("# "))
		w("")
		w("```")
		w("\n".join(rep[1:11]))
		w("```")
		w("")
	for name in ("lifecycle", "set-cpuid2"):
		path = os.path.join(pdir, name + ".report.txt")
		if not os.path.exists(path):
			continue
		with open(path) as f:
			rep = f.read().splitlines()
		samples = next((l.lstrip("# ") for l in rep if l.startswith("# Samples")), "")
		top = [l for l in rep if re.match(r"\s+\d+\.\d+%", l)][:10]
		w("%s (%s), top symbols by self time:" % (name, samples))
		w("")
		w("```")
		w("\n".join(top))
		w("```")
		w("")


def footprint(sections):
	"""Per tracer: start-up, peak RSS and CPU over every traced run."""
	recs = {}
	p = sections.get("paired")
	for name, s in (("creation", sections.get("creation")), ("exit_loop", sections.get("exit_loop")),
			("creation", p.get("creation") if isinstance(p, dict) else None),
			("exit_loop", p.get("exit_loop") if isinstance(p, dict) else None)):
		if isinstance(s, dict):
			for r in s["runs"]:
				m = r["mode"]
				if m in ("xsw", "xsw-noguard", "xsw-filtered", "xsw-raw", "bpftrace") and "attach_ms" in r:
					recs.setdefault("xsw" if m.startswith("xsw") else m, []).append((name, r))
	out = {}
	for m, rs in recs.items():
		att = stats([r["attach_ms"] for _, r in rs])
		rss = [r["rss_kib"] for _, r in rs if r.get("rss_kib")]
		vmrss = [r["vmrss_kib"] for _, r in rs if r.get("vmrss_kib")]
		cpu = [r["cpu_after_attach_s"] for n, r in rs
		       if n == "creation" and r.get("cpu_after_attach_s") is not None]
		out[m] = {
			"attach_stats": att,
			"rss_max_kib": max(rss) if rss else None,
			"attach": "%.0f (%.0f .. %.0f, n=%d)" % (att["median"], att["min"], att["max"], att["n"]),
			"rss": "%.1f" % (max(rss) / 1024) if rss else "n/a",
			"vmrss": "%.1f" % (max(vmrss) / 1024) if vmrss else "n/a",
			"cpu": "%.2f" % statistics.median(cpu) if cpu else "n/a",
		}
	return out


def fmt_pct_ci(rs):
	"""Median overhead with its 95 % interval, quartiles and n."""
	if len(rs) < 6:
		return fmt_pct_spread(rs)
	med, lo, hi = median_ci95(rs)
	q = statistics.quantiles(rs, n=4)
	return "%+.1f %% (95 %% CI %+.1f .. %+.1f; quartiles %+.1f .. %+.1f; n=%d)" % (
		pct(med), pct(lo), pct(hi), pct(q[0]), pct(q[2]), len(rs))


def verdict(rs, limit_pct):
	"""pass/FAIL on the median, saying when the interval crosses the limit."""
	if not rs:
		return "n/a"
	if len(rs) < 6:
		return "pass" if pct(statistics.median(rs)) < limit_pct else "FAIL"
	med, lo, hi = (pct(x) for x in median_ci95(rs))
	if med < limit_pct:
		return "pass" if hi < limit_pct else "pass (not significant: interval to %+.1f %%)" % hi
	return "FAIL" if lo >= limit_pct else "FAIL (not significant: interval from %+.1f %%)" % lo


def create_step_of(runs):
	return next((s for s in runs[0]["result"] if "CREATE_VCPU" in s.upper()), None) if runs else None


def targets(sections, foot):
	t = []
	p = sections.get("paired")
	if isinstance(p, dict):
		pc, pe = p["creation"], p["exit_loop"]
		step = create_step_of(pc["runs"])
		for mode, hooks in (("xsw", ""), ("xsw-raw", "; --syscall-hooks=raw")):
			if mode not in pc["modes"]:
				continue
			rs = ratios(pc["runs"], mode, lambda r: r["result"].get(step, {}).get("p50"))
			t.append(("vCPU creation (%s) p50 overhead < 2 %% (paired rounds%s)" % (step, hooks),
				  fmt_pct_ci(rs), verdict(rs, TARGETS["creation_p50_pct"])))
			for key, what in (("p50", "KVM_RUN p50"), ("ns_per_exit", "mean ns/exit")):
				rs = ratios(pe["runs"], mode, lambda r, key=key: r["result"][key])
				t.append(("exit-loop %s overhead < 3 %% (kvm_entry guard on; paired rounds%s)" % (what, hooks),
					  fmt_pct_ci(rs), verdict(rs, TARGETS["exit_loop_pct"])))
		if "xfloor-emit" in pc["modes"]:
			# Not a target: what any ring-buffer tracer of vCPU creation pays here.
			rs = ratios(pc["runs"], "xfloor-emit", lambda r: r["result"].get(step, {}).get("p50"))
			t.append(("(lower bound) vCPU creation p50 overhead of a bare record per vCPU "
				  "(xsw-floor --emit, paired rounds)", fmt_pct_ci(rs),
				  "not a target: " + verdict(rs, TARGETS["creation_p50_pct"]) + " against 2 %"))
		c = sections.get("creation")
		create_step = create_step_of(c["runs"]) if isinstance(c, dict) else None
		return t + targets_rest(sections, foot, c, create_step)
	c = sections.get("creation")
	create_step = None
	if isinstance(c, dict) and c["runs"]:
		create_step = create_step_of(c["runs"])
	if isinstance(c, dict) and create_step and "xsw" in c["modes"]:
		rs = ratios(c["runs"], "xsw", lambda r: r["result"].get(create_step, {}).get("p50"))
		med = pct(statistics.median(rs)) if rs else None
		t.append(("vCPU creation (%s) p50 overhead < 2 %%" % create_step, fmt_pct_spread(rs),
			  "n/a" if med is None else ("pass" if med < TARGETS["creation_p50_pct"] else "FAIL")))
	else:
		t.append(("vCPU creation p50 overhead < 2 %", "not measured", "skipped: %s" % why(c, "xsw")))
	e = sections.get("exit_loop")
	if isinstance(e, dict) and "xsw" in e["modes"]:
		rs = ratios(e["runs"], "xsw", lambda r: r["result"]["p50"])
		med = pct(statistics.median(rs)) if rs else None
		t.append(("exit-loop KVM_RUN p50 overhead < 3 % (kvm_entry guard on)", fmt_pct_spread(rs),
			  "n/a" if med is None else ("pass" if med < TARGETS["exit_loop_pct"] else "FAIL")))
		# The mean carries what the median hides: a cost on some exits only.
		rs = ratios(e["runs"], "xsw", lambda r: r["result"]["ns_per_exit"])
		med = pct(statistics.median(rs)) if rs else None
		t.append(("exit-loop mean ns/exit overhead < 3 % (kvm_entry guard on)", fmt_pct_spread(rs),
			  "n/a" if med is None else ("pass" if med < TARGETS["exit_loop_pct"] else "FAIL")))
	else:
		t.append(("exit-loop overhead < 3 %", "not measured", "skipped: %s" % why(e, "xsw")))
	return t + targets_rest(sections, foot, c, create_step)


def targets_rest(sections, foot, c, create_step):
	"""The targets after the overhead ones: attach, RSS, loss, bpftrace."""
	t = []
	x = foot.get("xsw")
	if x:
		t.append(("attach < 150 ms (median)", "%.0f ms" % x["attach_stats"]["median"],
			  "pass" if x["attach_stats"]["median"] < TARGETS["attach_ms"] else "FAIL"))
		if x["rss_max_kib"]:
			t.append(("RSS < 16 MiB (max VmHWM)", "%.1f MiB" % (x["rss_max_kib"] / 1024),
				  "pass" if x["rss_max_kib"] / 1024 < TARGETS["rss_mib"] else "FAIL"))
	else:
		t.append(("attach < 150 ms, RSS < 16 MiB", "not measured", "skipped: xstate-watch did not run"))
	b = sections.get("burst")
	row = None
	if isinstance(b, dict):
		row = [r for r in b["rows"] if r["tracer"] == "xsw"
		       and r["target_rate"] == TARGETS["no_loss_rate"]]
	if row:
		ok = all(r["missing"] == 0 and r["lost_reported"] == 0 for r in row)
		reached = all(r["achieved_rate"] >= 0.95 * 50000 for r in row)
		t.append(("no loss at 50 000 events/s (every round)", "; ".join(
			"%.0f/s: missing %d, lost %d" % (r["achieved_rate"], r["missing"], r["lost_reported"])
			for r in row), ("pass" if ok else "FAIL") + ("" if reached else " (rate not reached)")))
	else:
		t.append(("no loss at 50 000 events/s", "not measured", "skipped: %s" % why(b, "xsw")))
	bt = foot.get("bpftrace")
	if isinstance(c, dict) and create_step and "xsw" in c["modes"] and "bpftrace" in c["modes"]:
		rx = ratios(c["runs"], "xsw", lambda r: r["result"].get(create_step, {}).get("p50"))
		rb = ratios(c["runs"], "bpftrace", lambda r: r["result"].get(create_step, {}).get("p50"))
		mx, mb = statistics.median(rx), statistics.median(rb)
		t.append(("lower creation overhead than bpftrace", "%+.1f %% vs %+.1f %%" % (pct(mx), pct(mb)),
			  "pass" if mx < mb else "FAIL"))
	else:
		t.append(("lower overhead than bpftrace", "not measured", "skipped: xstate-watch or bpftrace did not run"))
	if x and bt:
		t.append(("faster start than bpftrace", "%.0f ms vs %.0f ms" %
			  (x["attach_stats"]["median"], bt["attach_stats"]["median"]),
			  "pass" if x["attach_stats"]["median"] < bt["attach_stats"]["median"] else "FAIL"))
	else:
		t.append(("faster start than bpftrace", "not measured", "skipped: xstate-watch or bpftrace did not run"))
	return t


def why(section, tool):
	if isinstance(section, Skip):
		return str(section)
	if isinstance(section, dict):
		return section.get("skipped", {}).get(tool, "not run")
	return "not run"


def find_tools(build):
	t = {}

	def exe(key, path, what):
		if os.access(path, os.X_OK):
			t[key] = path
		else:
			t["why_" + key] = "%s not built (%s; `make -j2 all` at %s)" % (
				os.path.relpath(path, TOP), what,
				run_text(["git", "-C", TOP, "log", "-1", "--format=%h"]))

	exe("vl", os.path.join(build, "tools/vcpu-lifecycle/vcpu-lifecycle"), "the lifecycle driver")
	exe("xsw", os.path.join(build, "tools/xstate-watch/xstate-watch"), "the collector")
	exe("burst", os.path.join(build, "tools/bench/xsw-burst"), "the burst generator")
	exe("floor", os.path.join(build, "tools/bench/xsw-floor"), "empty programs on the syscall hooks")
	for key in ("bpftrace", "perf"):
		p = shutil.which(key)
		if p:
			t[key] = p
		else:
			t["why_" + key] = "%s not installed (Debian package %s)" % (
				key, "bpftrace" if key == "bpftrace" else "linux-perf")
	return t


def main():
	ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
	ap.add_argument("--build", default=os.path.join(TOP, "build"))
	ap.add_argument("--out", default=None)
	ap.add_argument("--rounds", type=int, default=9)
	ap.add_argument("--vms", type=int, default=2)
	ap.add_argument("--vcpus", type=int, default=2)
	ap.add_argument("--iterations", type=int, default=200)
	ap.add_argument("--exits", type=int, default=2000)
	ap.add_argument("--exit-iterations", type=int, default=50)
	ap.add_argument("--rates", default="10000,25000,50000,100000,200000,0",
			help="burst rates, comma-separated; 0 = as fast as possible")
	ap.add_argument("--burst-seconds", type=int, default=2)
	ap.add_argument("--burst-rounds", type=int, default=3)
	ap.add_argument("--paired-rounds", type=int, default=60,
			help="rounds of the paired overhead section (the targets' figures)")
	ap.add_argument("--paired-iterations", type=int, default=100,
			help="vcpu-lifecycle bench --iterations in the paired section")
	ap.add_argument("--paired-floors", action="store_true",
			help="paired section: also empty programs on each set of syscall hooks, and a bare record per vCPU created (xsw-floor)")
	ap.add_argument("--settle", type=float, default=0.3,
			help="seconds of pause after each run of the paired section")
	ap.add_argument("--paired-exits", type=int, default=10000,
			help="exit-loop --exits in the paired section (5 iterations)")
	ap.add_argument("--only", default="paired,creation,exit_loop,bpf_cost,tax,burst,vm_tiers")
	ap.add_argument("--vm-rounds", type=int, default=10,
			help="rounds of the probe-tier comparison in the QEMU guest")
	ap.add_argument("--vm-iterations", type=int, default=100,
			help="vcpu-lifecycle bench iterations per run in the QEMU guest")
	ap.add_argument("--tax-rounds", type=int, default=5,
			help="rounds of the syscall-tax section (untraced syscalls' cost)")
	ap.add_argument("--tax-seconds", type=int, default=1,
			help="seconds per tight loop in the syscall-tax section")
	ap.add_argument("--pin", choices=("auto", "yes", "no"), default="auto",
			help="workloads on the last CPU, tracers on CPU 0 (auto: with 2+ CPUs)")
	a = ap.parse_args()
	a.argv = sys.argv[1:]
	a.rates = [int(x) for x in a.rates.split(",") if x != ""]
	a.out = a.out or os.path.join(a.build, "bench")
	ncpu = os.cpu_count() or 1
	if a.pin == "yes" or (a.pin == "auto" and ncpu >= 2):
		if ncpu < 2 or not shutil.which("taskset"):
			sys.exit("bench: --pin needs 2+ CPUs and taskset (util-linux)")
		PIN.update(work=ncpu - 1, tracer=0)
	if os.geteuid() != 0:
		sys.exit("bench: needs root (KVM, BPF, perf tracepoints)")
	os.makedirs(a.out, exist_ok=True)
	workdir = os.path.join(a.out, "tmp")
	os.makedirs(workdir, exist_ok=True)
	if not os.path.ismount("/sys/kernel/tracing"):
		subprocess.run(["mount", "-t", "tracefs", "nodev", "/sys/kernel/tracing"])
	os.environ.setdefault("BPFTRACE_MAP_KEYS_MAX", "65536")

	t_start = time.monotonic()
	info = machine_info()
	tools = find_tools(a.build)
	raw = {"machine": info, "args": a.argv, "tools": tools}
	sections = {}
	only = a.only.split(",")
	for name, fn in (("paired", section_paired),
			 ("creation", section_creation), ("exit_loop", section_exit_loop),
			 ("bpf_cost", section_bpf_cost), ("tax", section_tax),
			 ("burst", section_burst), ("vm_tiers", section_vm_tiers)):
		if name not in only:
			sections[name] = Skip("not selected (--only %s)" % a.only)
			continue
		try:
			sections[name] = fn(a, tools, workdir, raw)
		except Skip as e:
			log("%s skipped: %s" % (name, e))
			sections[name] = e
			raw[name] = {"skipped": str(e)}
	info["loadavg_end"] = loadavg()
	info["duration_s"] = time.monotonic() - t_start
	sections["footprint"] = footprint(sections)
	t = targets(sections, sections["footprint"])
	raw["targets"] = t
	text = report(a, info, tools, sections, t)
	with open(os.path.join(a.out, "report.md"), "w") as f:
		f.write(text)
	with open(os.path.join(a.out, "raw.json"), "w") as f:
		json.dump(raw, f, indent=1, default=str)
	log("wrote %s and raw.json" % os.path.join(a.out, "report.md"))
	print(text)


if __name__ == "__main__":
	main()
