#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Every PromQL expression of a Grafana dashboard (JSON model), with the
Grafana variables substituted, one per line as JSON:
  {"where": "panel 7 'Headroom per vCPU' target A", "kind": "panel",
   "expr": "...", "raw": "...", "instant": false}
Template-variable queries (label_values(SELECTOR, LABEL)) come out as
kind "variable" with "selector" and "label" (their selector substituted).

  dashboard_exprs.py DASHBOARD.json [NAME=VALUE ...]

NAME=VALUE overrides a substitution (instance, comm, __rate_interval,
__range, __interval); the defaults select everything.
"""
import json
import re
import sys

DEFAULTS = {"instance": ".*", "comm": ".*", "__rate_interval": "1m",
            "__range": "10m", "__interval": "15s"}


def substitute(expr, subst, where):
    def one(m):
        name = m.group(1) or m.group(2)
        if name not in subst:
            sys.exit(f"{where}: unknown variable ${name} in: {expr}")
        return subst[name]
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", one, expr)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    subst = dict(DEFAULTS)
    for arg in sys.argv[2:]:
        name, sep, value = arg.partition("=")
        if not sep:
            sys.exit(f"bad substitution '{arg}': expected NAME=VALUE")
        subst[name] = value
    path = sys.argv[1]
    try:
        with open(path) as f:
            dash = json.load(f)
    except (OSError, ValueError) as e:
        sys.exit(f"{path}: {e}")

    for var in dash.get("templating", {}).get("list", []):
        if var.get("type") != "query":
            continue
        q = var.get("query")
        q = q.get("query", "") if isinstance(q, dict) else q or ""
        where = f"variable ${var.get('name')}"
        m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\)\s*", q)
        if not m:
            sys.exit(f"{path}: {where}: not label_values(SELECTOR, LABEL): {q}")
        print(json.dumps({"where": where, "kind": "variable", "raw": q,
                          "selector": substitute(m.group(1), subst, where),
                          "label": m.group(2)}))

    def panels(ps):
        for p in ps:
            yield p
            yield from panels(p.get("panels", []))

    for p in panels(dash.get("panels", [])):
        for t in p.get("targets", []):
            where = f"panel {p.get('id')} '{p.get('title')}' target {t.get('refId')}"
            raw = t.get("expr", "")
            if not raw.strip():
                sys.exit(f"{path}: {where}: empty expression")
            print(json.dumps({"where": where, "kind": "panel", "raw": raw,
                              "expr": substitute(raw, subst, where),
                              "instant": bool(t.get("instant")) and not t.get("range"),
                              "panel_type": p.get("type")}))


main()
