#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Checks of prometheus_e2e.sh that talk to Prometheus' HTTP API. Prints one
line per check: "ok DESC", "fail DESC: WHY" or "skip DESC: WHY".

  e2e_checks.py alive --prom URL --t0 EPOCH --live HOST:PORT --dead HOST:PORT
                      --dash DASHBOARD.json --json EVENTS.jsonl --holder PID:NR
                      --holder-masks GUEST_PERM:CPUID_XCR0 --xstate-size PATH
      while kvm_hold.py holds its vCPUs: targets, up, scrape samples, rules
      loaded, every dashboard query (two variable settings) returns data,
      every alert expression returns what it should, the held vCPUs' sizes
      are what this host's kernel gives them.
  e2e_checks.py final --prom URL --t0 EPOCH --live HOST:PORT --json EVENTS.jsonl
                      --metrics URL --holder PID:NR
      after the holder exited: its label sets are gone; the exported
      counters equal what the collector's JSON lines say.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def say(status, desc, why=""):
    line = f"{status} {desc}" + (f": {why}" if why else "")
    print(line.replace("\n", " | "), flush=True)


def check(desc, cond, why=""):
    say("ok" if cond else "fail", desc, "" if cond else why)
    return cond


class Prom:
    def __init__(self, url):
        self.url = url.rstrip("/")

    def get(self, path, **params):
        q = urllib.parse.urlencode(params, doseq=True)
        try:
            with urllib.request.urlopen(f"{self.url}{path}?{q}", timeout=30) as r:
                body = json.load(r)
        except urllib.error.HTTPError as e:
            body = json.load(e)
        if body.get("status") != "success":
            raise RuntimeError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr, at=None):
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        return self.get("/api/v1/query", **params)

    def query_range(self, expr, start, end, step=1):
        return self.get("/api/v1/query_range", query=expr, start=f"{start:.3f}",
                        end=f"{end:.3f}", step=step)


def labels(series):
    return tuple(sorted((k, v) for k, v in series["metric"].items() if k != "__name__"))


def vector(data):
    """{labels: float} of an instant vector result."""
    if data["resultType"] == "scalar":
        return {(): float(data["result"][1])}
    return {labels(s): float(s["value"][1]) for s in data["result"]}


def real_points(data):
    """Number of non-NaN points in a query_range result."""
    n = 0
    for s in data["result"]:
        n += sum(1 for _, v in s.get("values", []) if not math.isnan(float(v)))
    return n


def json_events(path):
    events = []
    with open(path) as f:
        for line in f:
            if line.startswith("{"):
                try:
                    events.append(json.loads(line))
                except ValueError:
                    pass	# a line being written as we read
    return events


def dashboard_queries(dash, subst):
    args = [sys.executable, os.path.join(HERE, "dashboard_exprs.py"), dash] + \
        [f"{k}={v}" for k, v in subst.items()]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines()]


def phase_alive(a, prom):
    now = time.time()
    live, dead = a.live, a.dead
    holder_pid, holder_nr = a.holder.split(":")
    holder_nr = int(holder_nr)

    # Prometheus scraped the collector without an error: it parsed the exposition.
    targets = prom.get("/api/v1/targets")["activeTargets"]
    by_inst = {t["labels"].get("instance"): t for t in targets}
    t = by_inst.get(live, {})
    check(f"target {live}: health up, no scrape error",
          t.get("health") == "up" and not t.get("lastError"),
          f"health {t.get('health')!r}, lastError {t.get('lastError')!r}")
    t = by_inst.get(dead, {})
    check(f"target {dead} (nothing listens): health down", t.get("health") == "down",
          f"health {t.get('health')!r}")
    up = vector(prom.query(f'up{{instance="{live}"}}'))
    check(f"up{{instance=\"{live}\"}} == 1", list(up.values()) == [1.0], str(up))
    samples = vector(prom.query(f'scrape_samples_scraped{{instance="{live}"}}'))
    nr_samples = next(iter(samples.values()), 0)
    check(f"scrape_samples_scraped of the collector > 0 ({nr_samples:.0f})", nr_samples > 0,
          str(samples))
    scraped = vector(prom.query(f'xstate_watch_info{{instance="{live}"}}'))
    check("xstate_watch_info scraped from the collector", len(scraped) == 1, str(scraped))

    # Prometheus loaded the alert rules itself.
    groups = prom.get("/api/v1/rules")["groups"]
    rules = [r for g in groups for r in g["rules"] if r["type"] == "alerting"]
    bad = [f"{r['name']}: {r.get('health')} {r.get('lastError', '')}" for r in rules
           if r.get("health") != "ok"]
    check(f"Prometheus loaded {len(rules)} alert rules, all evaluating without error",
          len(rules) == a.rules and not bad, f"want {a.rules}; {bad}")

    # first_run events come from tp_btf/kvm_entry; some KVM backends never fire it.
    first_runs = vector(prom.query('sum(xstate_watch_events_total{type="first_run"})'))
    no_first_run = sum(first_runs.values()) == 0

    # Every dashboard expression: All selected, then one host and one VMM.
    for subst in ({}, {"instance": live, "comm": "kvm-hold"}):
        tag = "All" if not subst else f"instance={live} comm=kvm-hold"
        for q in dashboard_queries(a.dash, dict(subst, __range=f"{int(now - a.t0) + 60}s",
                                                __rate_interval="30s")):
            if q["kind"] == "variable":
                data = prom.get("/api/v1/series", **{"match[]": q["selector"],
                                                     "start": f"{a.t0:.3f}",
                                                     "end": f"{now:.3f}"})
                values = sorted({s.get(q["label"]) for s in data if q["label"] in s})
                want = live if q["label"] == "instance" else "kvm-hold"
                check(f"[{tag}] {q['where']}: values include {want}", want in values,
                      f"{q['selector']} -> {values}")
                continue
            desc = f"[{tag}] {q['where']}"
            if no_first_run and "first_run" in q["expr"]:
                say("skip", desc, "the collector saw no first_run event (tp_btf/kvm_entry "
                    "did not fire on this KVM backend), so this histogram is empty")
                continue
            try:
                if q["instant"]:
                    got = len(prom.query(q["expr"])["result"])
                else:
                    got = real_points(prom.query_range(q["expr"], a.t0, now))
            except RuntimeError as e:
                check(desc, False, str(e))
                continue
            check(f"{desc}: data ({got} {'series' if q['instant'] else 'points'})", got > 0,
                  f"no data for {q['expr']}")

    # Alert expressions, as Prometheus parsed them, against what they should say.
    events = json_events(a.json)
    sizes = vector(prom.query("xstate_watch_vcpu_fpstate_size_bytes"))
    required = vector(prom.query("xstate_watch_vcpu_required_size_bytes"))
    headroom = {k: sizes[k] - required[k] for k in sizes if k in required}
    holder = {k for k in headroom if ("comm", "kvm-hold") in k and ("pid", holder_pid) in k}
    check(f"kvm_hold.py's {holder_nr} vCPUs exported with size and required size",
          len(holder) == holder_nr, f"{sorted(sizes)}")
    expect = {
        "XstateWatchCollectorDown": {(("instance", dead), ("job", "xstate-watch"))},
        "XstateWatchHeadroomNegative": {k for k, v in headroom.items() if v < 0},
        "XstateWatchHeadroomNearZero": {k for k, v in headroom.items() if 0 <= v < 64},
        "XstateWatchInvariantViolation": {(("instance", live), ("invariant", e["id"]),
                                           ("job", "xstate-watch"))
                                          for e in events if e.get("event") == "violation"},
        "XstateWatchLostEvents": {(("instance", live), ("job", "xstate-watch"))}
        if sum(e.get("count", 0) for e in events if e.get("event") == "lost") else set(),
    }
    for r in rules:
        want = expect.get(r["name"])
        if want is None:
            check(f"alert {r['name']}: an expected value is known", False,
                  "new rule: add its expectation to e2e_checks.py")
            continue
        got = set(vector(prom.query(r["query"])))
        check(f"alert {r['name']}: `{r['query']}` returns {len(want)} series as expected",
              got == want, f"got {sorted(got)}, want {sorted(want)}")
    if holder:
        check_holder_sizes(a, prom, holder_pid, events)
    alerts = vector(prom.query('ALERTS{alertname="XstateWatchCollectorDown"}'))
    check(f"ALERTS: XstateWatchCollectorDown pending or firing for {dead}",
          any(("instance", dead) in k and (("alertstate", "pending") in k or
                                           ("alertstate", "firing") in k) for k in alerts),
          str(alerts))


def xstate_sizes(tool, masks):
    """(host xcr0, {mask: size}) from the project's size model for this CPU,
    sizes in the format the kernel's buffers use."""
    def run(*args):
        return subprocess.run([tool, *args], check=True, capture_output=True,
                              text=True).stdout.splitlines()
    fmt = xcr0 = None
    for line in run():
        if line.startswith("kernel buffer format:"):
            fmt = line.split()[3]
        elif line.startswith("xcr0 "):
            xcr0 = int(line.split()[1], 16)
    sizes = {}
    for line in run(*(hex(m) for m in masks)):
        f = line.split()
        if f and f[0] == "mask":
            sizes[int(f[1], 16)] = int(f[f.index(fmt) + 1])
    return xcr0, sizes


def check_holder_sizes(a, prom, holder_pid, events):
    """The held vCPUs against the kernel's sizing rules, from this host's facts.
    fpu_alloc_guest_fpstate() sizes a new vCPU's buffer for the kernel's
    default features, which are also the process's guest permission (user
    part, ARCH_GET_XCOMP_GUEST_PERM) plus the supervisor part; a
    KVM_SET_CPUID2 reallocates only for dynamic features, and the supported
    CPUID offers none without a permission request. So fpstate->size is
    size(perm | supervisor) and I2's required size(CPUID xcr0 | supervisor):
    0 headroom when KVM offers every default feature, the size of those it
    withholds otherwise (xtilecfg's 64 bytes on an AMX host whose KVM offers
    no AMX)."""
    desc = "kvm_hold.py's vCPUs sized as this host's kernel sizes them"
    perm, xcr0 = a.holder_masks.split(":")
    if perm == "-":
        say("skip", desc, "no ARCH_GET_XCOMP_GUEST_PERM in this kernel")
        return
    perm, xcr0 = int(perm, 16), int(xcr0, 16)
    created = [e for e in events if e.get("event") == "vcpu_create" and
               str(e.get("pid")) == holder_pid and "fpstate" in e]
    if not created:
        check(desc, False, "no vcpu_create event with an fpstate for kvm-hold in the JSON lines")
        return
    xfeatures = {int(e["fpstate"]["xfeatures"], 16) for e in created}
    # Userspace cannot see which supervisor features the kernel enabled:
    # take them from fpstate->xfeatures, whose user part must be the permission.
    host_xcr0, _ = xstate_sizes(a.xstate_size, [])
    if len(xfeatures) != 1 or {x & host_xcr0 for x in xfeatures} != {perm}:
        check(desc, False, f"fpstate->xfeatures {sorted(map(hex, xfeatures))}: want guest "
              f"permission 0x{perm:x} and one supervisor part")
        return
    sup = xfeatures.pop() & ~host_xcr0
    _, size = xstate_sizes(a.xstate_size, [perm | sup, xcr0 | sup])
    want = (size[perm | sup], size[xcr0 | sup], size[perm | sup] - size[xcr0 | sup])
    sel = f'{{comm="kvm-hold",pid="{holder_pid}"}}'
    got = [vector(prom.query(f"xstate_watch_vcpu_{m}{sel}"))
           for m in ("fpstate_size_bytes", "required_size_bytes", "headroom_bytes")]
    bad = [f"{dict(k)['vcpu']}: {tuple(int(g.get(k, -1)) for g in got)}"
           for k in sorted(got[0]) if tuple(g.get(k) for g in got) != want]
    check(f"{desc} (fpstate {want[0]} = size(guest perm 0x{perm:x} | supervisor 0x{sup:x}), "
          f"required {want[1]} = size(CPUID xcr0 0x{xcr0:x} | supervisor), headroom {want[2]})",
          bool(got[0]) and not bad, f"want (fpstate, required, headroom) {want}, exported per vCPU "
          f"{bad or got}")


def parse_exposition(text):
    """{(name, labels): value} of a text exposition (this exporter's output)."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        name, _, rest = head.partition("{")
        labels_ = []
        rest = rest.rstrip("}")
        while rest:
            k, _, rest = rest.partition('="')
            v = ""
            while rest and rest[0] != '"':
                if rest[0] == "\\":
                    v += {"n": "\n"}.get(rest[1], rest[1])
                    rest = rest[2:]
                else:
                    v, rest = v + rest[0], rest[1:]
            rest = rest[1:].lstrip(",")
            labels_.append((k, v))
        out[(name, tuple(sorted(labels_)))] = float(value)
    return out


def fetch(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return parse_exposition(r.read().decode())


def phase_final(a, prom):
    now = time.time()
    holder_pid = a.holder.split(":")[0]
    sel = f'xstate_watch_vcpu_headroom_bytes{{comm="kvm-hold",pid="{holder_pid}"}}'
    before = real_points(prom.query_range(sel, a.t0, now))
    after = vector(prom.query(sel))
    check(f"kvm_hold.py's vCPUs were exported ({before} points) and are gone after it exited",
          before > 0 and not after, f"{before} points before, now {after}")
    text = urllib.request.urlopen(a.metrics, timeout=10).read().decode()
    check("no kvm-hold label set left in /metrics", 'comm="kvm-hold"' not in text,
          [l for l in text.splitlines() if "kvm-hold" in l][:3])

    # The counters against the collector's own JSON lines. The JSON sink
    # writes and flushes each event before the metrics sink counts it, so
    # JSON read before a scrape <= the scrape <= JSON read after it; on a
    # quiet host both bounds are equal. Other KVM users may be busy.
    before = counters_from_json(json_events(a.json))
    scraped = counters_from_exposition(fetch(a.metrics))
    after = counters_from_json(json_events(a.json))
    extra = sum(after.get(k, 0) - before.get(k, 0) for k in after if k[0] == "events_total")
    how = "exactly" if before == after else f"within {extra} events that arrived during the scrape"
    for family in ("events_total", "violations_total", "lint_warnings_total",
                   "lost_events_total", "perm_requests_total",
                   "vcpu_create_duration_seconds_count", "vcpu_create_duration_ns_sum"):
        keys = {k for k in list(before) + list(after) + list(scraped) if k[0] == family}
        bad = [f"{k[1:]}: json {before.get(k, 0)}..{after.get(k, 0)}, exported {scraped.get(k, 0)}"
               for k in sorted(keys)
               if not before.get(k, 0) <= scraped.get(k, 0) <= after.get(k, 0)]
        total = sum(scraped.get(k, 0) for k in keys)
        check(f"{family} equals the JSON lines {how} (exported total {total})", not bad,
              "; ".join(bad[:6]))


def counters_from_json(events):
    c = {}

    def inc(key, by=1):
        c[key] = c.get(key, 0) + by
    for e in events:
        inc(("events_total", e["event"]))
        if e["event"] == "violation":
            inc(("violations_total", e["id"]))
        elif e["event"] == "lint":
            inc(("lint_warnings_total", e["id"]))
        elif e["event"] == "lost":
            inc(("lost_events_total",), e.get("count", 0))
        elif e["event"] == "perm_request":
            op = ("req" if e.get("request") else "get") + ("_guest" if e.get("guest") else "")
            inc(("perm_requests_total", op, "ok" if not e.get("ret") else e.get("errno")))
        elif e["event"] == "vcpu_create" and e.get("duration_ns"):
            inc(("vcpu_create_duration_seconds_count",))
            inc(("vcpu_create_duration_ns_sum",), e["duration_ns"])
    return c


def counters_from_exposition(m):
    c = {}
    for (name, lbl), v in m.items():
        d = dict(lbl)
        name = name[len("xstate_watch_"):] if name.startswith("xstate_watch_") else name
        if name == "events_total":
            c[(name, d["type"])] = int(v)
        elif name == "violations_total":
            c[(name, d["invariant"])] = int(v)
        elif name == "lint_warnings_total":
            c[(name, d["lint"])] = int(v)
        elif name == "perm_requests_total":
            c[(name, d["op"], d["result"])] = int(v)
        elif name in ("lost_events_total", "vcpu_create_duration_seconds_count"):
            c[(name,)] = int(v)
        elif name == "vcpu_create_duration_seconds_sum":
            c[("vcpu_create_duration_ns_sum",)] = round(v * 1e9)
    return c


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("phase", choices=("alive", "final"))
    ap.add_argument("--prom", required=True)
    ap.add_argument("--t0", type=float, required=True)
    ap.add_argument("--live", required=True)
    ap.add_argument("--dead")
    ap.add_argument("--dash")
    ap.add_argument("--json", required=True)
    ap.add_argument("--metrics")
    ap.add_argument("--holder", required=True)
    ap.add_argument("--holder-masks", default="-:0x0")
    ap.add_argument("--xstate-size")
    ap.add_argument("--rules", type=int, default=0)
    a = ap.parse_args()
    prom = Prom(a.prom)
    try:
        (phase_alive if a.phase == "alive" else phase_final)(a, prom)
    except (RuntimeError, OSError, ValueError, KeyError,
            subprocess.CalledProcessError) as e:
        say("fail", f"{a.phase} checks ran to the end", f"{type(e).__name__}: {e}")


main()
