#!/usr/bin/env bash
# The Grafana dashboard, statically: valid JSON model; a datasource variable
# of type prometheus and no hard-coded datasource UID anywhere; the instance
# and comm variables; the panels the fleet view needs; every expression is
# valid PromQL (promtool checks it, wrapped in a rule file) and names only
# metrics the /metrics sink exports. Live evaluation: prometheus_e2e.sh.
set -uo pipefail
. "$(dirname "$0")/../lib/tap.sh"

command -v python3 >/dev/null || t_skip_all "python3 not installed"
dash=$XSW_TOP/dashboards/grafana/xstate-watch.json
sink=$XSW_TOP/tools/xstate-watch/sinks/metrics.c
lib=$XSW_TOP/tests/dashboards/lib
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Structural checks; each line "ok DESC" or "fail DESC: WHY".
python3 - "$dash" >"$tmp/checks" 2>&1 <<'PY'
import json, sys
path = sys.argv[1]
try:
    d = json.load(open(path))
except ValueError as e:
    print(f"fail valid JSON: {e}"); sys.exit(0)
print("ok valid JSON")

def check(desc, cond, why=""):
    print(f"ok {desc}" if cond else f"fail {desc}: {why}")

vars_ = {v.get("name"): v for v in d.get("templating", {}).get("list", [])}
ds = vars_.get("datasource", {})
check("datasource variable of type prometheus",
      ds.get("type") == "datasource" and ds.get("query") == "prometheus", json.dumps(ds))
for name in ("instance", "comm"):
    v = vars_.get(name, {})
    check(f"${name} variable: query, multi, with All", v.get("type") == "query"
          and v.get("multi") and v.get("includeAll"), json.dumps(v))

def walk(o, where="$"):
    if isinstance(o, dict):
        for k, v in o.items():
            yield from walk(v, f"{where}.{k}")
        yield where, o
    elif isinstance(o, list):
        for i, v in enumerate(o):
            yield from walk(v, f"{where}[{i}]")

bad = []
for where, o in walk(d):
    if "datasource" in o and isinstance(o["datasource"], (dict, str)) and where != "$":
        ref = o["datasource"]
        if isinstance(ref, str) or ref.get("uid") != "${datasource}" \
                or ref.get("type") != "prometheus":
            bad.append(f"{where}: {json.dumps(ref)}")
check("every datasource reference is ${datasource}", not bad, "; ".join(bad))
check("no __inputs/hard-coded DS_ placeholders", "DS_" not in json.dumps(d), "found DS_")

panels = [p for p in d.get("panels", []) if p.get("type") != "row"]
ids = [p.get("id") for p in d.get("panels", [])]
check("panel ids unique", len(ids) == len(set(ids)), str(ids))
empty = [p.get("title") for p in panels if not any(t.get("expr") for t in p.get("targets", []))]
check("every panel has a query", not empty, str(empty))
refs = [p.get("title") for p in panels
        if len({t.get("refId") for t in p["targets"]}) != len(p["targets"])]
check("refIds unique within each panel", not refs, str(refs))
cells, overlap = {}, []
for p in d.get("panels", []):
    g = p["gridPos"]
    if g["x"] + g["w"] > 24:
        overlap.append(f"{p['title']} wider than 24")
    for x in range(g["x"], g["x"] + g["w"]):
        for y in range(g["y"], g["y"] + g["h"]):
            if (x, y) in cells:
                overlap.append(f"{p['title']} over {cells[(x, y)]}")
            cells[(x, y)] = p["title"]
check("panels do not overlap", not overlap, "; ".join(sorted(set(overlap))[:5]))

exprs = [(p, t["expr"]) for p in panels for t in p["targets"]]
def has(desc, pred):
    hits = [p["title"] for p, e in exprs if pred(p, e)]
    check(f"panel for {desc}", hits, "none")
has("violations", lambda p, e: "xstate_watch_violations_total" in e)
has("headroom per vCPU", lambda p, e: "xstate_watch_vcpu_headroom_bytes" in e
    and 'comm=~"$comm"' in e)
for m in ("vcpu_create_duration_seconds", "set_cpuid_duration_seconds",
          "vcpu_create_to_first_run_seconds"):
    has(f"{m} quantiles", lambda p, e, m=m: "histogram_quantile" in e and m in e)
    has(f"{m} heatmap", lambda p, e, m=m: p["type"] == "heatmap" and m in e)
has("event rates", lambda p, e: "rate(xstate_watch_events_total" in e)
has("lost events", lambda p, e: "xstate_watch_lost_events_total" in e)
has("collector up", lambda p, e: e.startswith('up{job="xstate-watch"'))
has("collector CPU", lambda p, e: "xstate_watch_collector_cpu_seconds_total" in e)
has("collector memory", lambda p, e: "xstate_watch_collector_resident_memory_bytes" in e)
unfiltered = [p["title"] for p, e in exprs if "xstate_watch_" in e and '$instance' not in e]
check("every xstate_watch_ query is filtered by $instance", not unfiltered, str(unfiltered))
PY
while IFS= read -r line; do
	case "$line" in
	"ok "*) t_ok "${line#ok }" ;;
	"fail "*) desc=${line#fail }; t_fail "${desc%%: *}" "${desc#*: }" ;;
	*) t_fail "dashboard checker output" "$line" ;;
	esac
done <"$tmp/checks"

# Every expression, variables substituted, through promtool's PromQL parser.
if ! "$lib/dashboard_exprs.py" "$dash" >"$tmp/exprs" 2>"$tmp/err"; then
	t_fail "extract the dashboard's expressions" "$(cat "$tmp/err")"
	t_done; exit
fi
nr=$(grep -c '"kind": "panel"' "$tmp/exprs")
t_ok "extract the dashboard's expressions ($nr panel queries)"
if command -v promtool >/dev/null; then
	python3 - "$tmp/exprs" >"$tmp/rules.yml" <<'PY'
import json, sys
print("groups:\n  - name: dashboard\n    rules:")
for i, line in enumerate(open(sys.argv[1])):
    q = json.loads(line)
    expr = q["expr"] if q["kind"] == "panel" else q["selector"]
    print(f"      - record: dashboard:expr{i}\n        expr: {json.dumps(expr)}")
PY
	t_check "every dashboard expression parses (promtool check rules)" \
		promtool check rules "$tmp/rules.yml"
else
	t_skip "every dashboard expression parses" "promtool not installed"
fi

# Metric names the dashboard and alerts use, against what the sink exports.
exported=$(grep -oE '(out_header|render_histogram|render_keyed)\(o, "[a-z_0-9]+"' "$sink" |
	sed 's/.*"\(.*\)"/xstate_watch_\1/' | sort -u)
used=$(cat "$dash" "$XSW_TOP/dashboards/prometheus/alerts.yml" |
	grep -oE 'xstate_watch_[a-z_0-9]+' | sed -E 's/_(bucket|sum|count)$//' | sort -u)
missing=$(comm -23 <(printf '%s\n' "$used") <(printf '%s\n' "$exported"))
t_eq "every metric the dashboard and alerts use is exported by sinks/metrics.c" "$missing" ""
[ "$(printf '%s\n' "$exported" | grep -c .)" -ge 15 ] ||
	t_fail "found the sink's metric names" "$exported"

t_done
