// SPDX-License-Identifier: GPL-2.0
/*
 * The human report: each finding as it happens, with both sides of the
 * comparison (sizes, masks as names and hex) and the event that exposed it,
 * and the totals when the engine closes (or on SIGINT in live mode).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../checks.h"
#include "sinks.h"
#include "xsw_event_json.h"

const char *xsw_vcpu_status_name(enum xsw_vcpu_status s)
{
	switch (s) {
	case XSW_VCPU_OK: return "ok";
	case XSW_VCPU_UNKNOWN: return "unknown";
	case XSW_VCPU_LINT: return "lint";
	case XSW_VCPU_VIOLATION: return "VIOLATION";
	}
	return "?";
}

const char *xsw_verdict_name(enum xsw_verdict v)
{
	switch (v) {
	case XSW_VERDICT_UNKNOWN: return "unknown";
	case XSW_VERDICT_HOLDS: return "holds";
	case XSW_VERDICT_FAILS: return "fails";
	case XSW_VERDICT_NA: return "n/a";
	}
	return "?";
}

static void print_side(FILE *f, const char *label, bool sizes, uint64_t size, uint64_t mask)
{
	char names[256];

	fprintf(f, "    %s", label);
	if (sizes)
		fprintf(f, " %6" PRIu64 " bytes", size);
	if (mask)
		fprintf(f, "  xfeatures 0x%" PRIx64 " (%s)", mask,
			xsw_xfeatures_format(mask, names, sizeof(names)));
	fputc('\n', f);
}

void xsw_finding_print(FILE *f, const struct xsw_event *finding, const struct xsw_event *cause)
{
	const struct xsw_ev_finding *fd = &finding->finding;
	int check = xsw_check_from_id(fd->id);
	const struct xsw_check_info *info = check >= 0 ? xsw_check_info(check) : NULL;
	const char *cause_name = xsw_event_type_name(fd->cause_type);

	fprintf(f, "xstate-watch: %s %s (%s): pid %u (%.16s) vm 0x%" PRIx64,
		finding->type == XSW_EV_VIOLATION ? "VIOLATION" : "lint", fd->id,
		info ? info->title : "?", finding->pid, finding->comm, (uint64_t)finding->vm);
	if (finding->vcpu_id >= 0)
		fprintf(f, " vcpu %d", finding->vcpu_id);
	fprintf(f, ", at %s\n", cause_name ? cause_name : "?");
	if (fd->have_size || fd->need_size || fd->have_mask || fd->need_mask) {
		bool sizes = fd->have_size || fd->need_size;

		print_side(f, "have:", sizes, fd->have_size, fd->have_mask);
		print_side(f, "need:", sizes, fd->need_size, fd->need_mask);
	}
	fprintf(f, "    why:  %s\n", fd->text);
	if (cause && cause->type == fd->cause_type) {
		char *line = xsw_event_to_json(cause);

		if (line) {
			fprintf(f, "    event: %s\n", line);
			free(line);
		}
	}
}

void xsw_summary_print(FILE *f, struct xsw_engine *eng, const char *tier)
{
	const struct xsw_engine_totals *t = xsw_engine_totals(eng);
	const struct xsw_engine_opts *o = xsw_engine_opts(eng);
	bool first = true;
	unsigned int i;

	fprintf(f, "xstate-watch summary%s%s%s:\n", tier ? " (" : "", tier ?: "", tier ? ")" : "");
	fprintf(f, "  events:");
	for (i = 1; i < XSW_EV_MAX; i++) {
		if (!t->events[i] || i == XSW_EV_VIOLATION || i == XSW_EV_LINT)
			continue;
		fprintf(f, "%s %s %" PRIu64, first ? "" : ",", xsw_event_type_name(i),
			t->events[i]);
		first = false;
	}
	fprintf(f, "%s\n", first ? " none" : "");
	fprintf(f, "  vCPUs: %" PRIu64 " seen, %" PRIu64 " still live\n", t->vcpus_seen,
		t->vcpus_live);
	fprintf(f, "  violations: %" PRIu64 ", lints: %" PRIu64 "%s\n", t->violations, t->lints,
		o->lints_are_failures ? " (--strict: lints fail)" : "");
	if (t->lost)
		fprintf(f, "  LOST: %" PRIu64 " events (%" PRIu64 " dropped, ring buffer full; %"
			PRIu64 " program runs skipped by the kernel): state built from this "
			"trace is incomplete\n", t->lost, t->lost - t->lost_skipped,
			t->lost_skipped);
	if (t->untracked)
		fprintf(f, "  untracked: %" PRIu64 " events past the state bounds were not checked\n",
			t->untracked);
	if (t->ignored)
		fprintf(f, "  ignored: %" PRIu64 " violation/lint records in the input "
			"(findings are re-derived)\n", t->ignored);
	fprintf(f, "  result: %s\n", xsw_engine_failed(eng) ? "FAIL" : "PASS");
}

struct summary_sink {
	FILE *f;
	struct xsw_summary_opts opts;
	struct xsw_event last;		/* the last input event: the cause of what follows */
	bool lost_said;
};

static void summary_on_event(void *ctx, struct xsw_engine *eng, const struct xsw_event *ev,
			     const struct xsw_vcpu_state *vcpu)
{
	struct summary_sink *s = ctx;

	if (ev->type != XSW_EV_VIOLATION && ev->type != XSW_EV_LINT) {
		s->last = *ev;
		/* A burst loses in many small batches: say it once, count in the totals. */
		if (ev->type == XSW_EV_LOST && s->opts.findings && !s->lost_said) {
			fprintf(s->f, "xstate-watch: LOST %" PRIu64 " events (%s); "
				"further losses are counted in the summary\n",
				(uint64_t)ev->lost.count, ev->lost.skipped ?
				"program runs skipped by the kernel" : "ring buffer full");
			s->lost_said = true;
		}
		return;
	}
	if (!s->opts.findings)
		return;
	xsw_finding_print(s->f, ev, &s->last);
	fflush(s->f);
}

static void summary_close(void *ctx, struct xsw_engine *eng)
{
	struct summary_sink *s = ctx;

	if (s->opts.totals)
		xsw_summary_print(s->f, eng, s->opts.tier);
	fflush(s->f);
	free(s);
}

int xsw_summary_sink_new(FILE *f, const struct xsw_summary_opts *opts, struct xsw_sink *out)
{
	struct summary_sink *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->f = f;
	s->opts = *opts;
	memset(out, 0, sizeof(*out));
	out->name = "summary";
	out->ctx = s;
	out->on_event = summary_on_event;
	out->close = summary_close;
	return 0;
}
