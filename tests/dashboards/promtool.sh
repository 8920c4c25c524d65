#!/usr/bin/env bash
# The alert rules pass `promtool check rules` and their unit tests
# (`promtool test rules`, dashboards/prometheus/*_test.yml); every alert is
# exercised by a test that expects it to fire, and breaking any one alert's
# expression makes the unit tests fail (so they pin each rule down).
set -uo pipefail
. "$(dirname "$0")/../lib/tap.sh"

command -v promtool >/dev/null || t_skip_all "promtool not installed (Debian package prometheus)"

dir=$XSW_TOP/dashboards/prometheus
rules=$dir/alerts.yml
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

t_check "promtool check rules alerts.yml" promtool check rules "$rules"

alerts=$(sed -n 's/^ *- alert: *\([A-Za-z0-9_]*\).*/\1/p' "$rules")
nr_alerts=$(printf '%s\n' "$alerts" | grep -c .)
out=$(promtool check rules "$rules" 2>&1)
t_eq "promtool finds every rule in alerts.yml ($nr_alerts)" \
	"$(sed -n 's/.*SUCCESS: \([0-9]*\) rules found.*/\1/p' <<<"$out")" "$nr_alerts"
for want in XstateWatchInvariantViolation XstateWatchLostEvents XstateWatchCollectorDown \
	XstateWatchHeadroomNearZero; do
	if grep -qx "$want" <<<"$alerts"; then t_ok "alert $want defined"
	else t_fail "alert $want defined" "alerts: $alerts"; fi
done

for t in "$dir"/*_test.yml; do
	[ -e "$t" ] || { t_fail "unit tests exist" "no $dir/*_test.yml"; continue; }
	t_check "promtool test rules $(basename "$t")" bash -c 'cd "$1" && promtool test rules "$2"' _ \
		"$dir" "$(basename "$t")"
done

# Each alert has a test case that expects it to fire (a non-empty exp_alerts
# right after its alertname line).
for a in $alerts; do
	fires=$(awk -v a="$a" '
		$1 == "alertname:" && $2 == a { in_case = 1; next }
		in_case && $1 == "exp_alerts:" { if ($2 != "[]") n++; in_case = 0 }
		END { print n + 0 }' "$dir"/*_test.yml)
	if [ "$fires" -gt 0 ]; then t_ok "$a: $fires test case(s) expect it to fire"
	else t_fail "$a: a test case expects it to fire" "none in $dir/*_test.yml"; fi
done

# Mutation check: replace one alert's expression with one that never fires;
# the unit tests must notice.
for a in $alerts; do
	mkdir -p "$tmp/$a"
	awk -v a="$a" '
		$0 ~ "- alert: *" a "$" { hit = 1 }
		hit && $1 == "expr:" { sub(/expr:.*/, "expr: vector(0) > 1"); hit = 0 }
		{ print }' "$rules" >"$tmp/$a/alerts.yml"
	cp "$dir"/*_test.yml "$tmp/$a/"
	if cmp -s "$rules" "$tmp/$a/alerts.yml"; then
		t_fail "$a: mutated copy differs" "awk did not find its expr"
		continue
	fi
	if (cd "$tmp/$a" && for t in *_test.yml; do promtool test rules "$t" || exit 1; done) \
		>"$tmp/$a/out" 2>&1; then
		t_fail "$a: breaking its expression fails the unit tests" "$(cat "$tmp/$a/out")"
	else
		t_ok "$a: breaking its expression fails the unit tests"
	fi
done

# A syntax error is reported with the file and the problem.
printf 'groups:\n  - name: x\n    rules:\n      - alert: Broken\n        expr: rate(xstate_watch_events_total[5m]\n' \
	>"$tmp/broken.yml"
if out=$(promtool check rules "$tmp/broken.yml" 2>&1); then
	t_fail "promtool rejects a rule with a PromQL syntax error" "$out"
else
	if grep -q 'broken.yml' <<<"$out"; then
		t_ok "promtool rejects a rule with a PromQL syntax error, naming the file"
	else
		t_fail "promtool rejects a rule with a PromQL syntax error, naming the file" "$out"
	fi
fi

t_done
