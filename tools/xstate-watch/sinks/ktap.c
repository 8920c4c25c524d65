// SPDX-License-Identifier: GPL-2.0
/*
 * KTAP sink (Documentation/dev-tools/ktap.rst, kselftest totals line).
 * Written at close, when every vCPU's lifetime verdicts are final:
 *
 *   KTAP version 1
 *   1..N
 *   ok 1 pid 4242 (vcpu-lifecycle) vm0 vcpu0 lifecycle
 *   ok 2 pid 4242 (vcpu-lifecycle) vm0 vcpu0 I1 fpstate self-consistency
 *   not ok 3 pid 4242 (vcpu-lifecycle) vm0 vcpu0 I2 guest coverage
 *   # I2 fpstate->size 4096 < 10752 = ...
 *   ok 6 ... I5 hypervisor buffer # SKIP no hypervisor buffer on this vCPU
 *   # Totals: pass:4 fail:1 xfail:0 xpass:0 skip:1 error:0
 *   4 passed, 1 failed
 *
 * Lints are diagnostics under the vCPU's lifecycle point, or failing test
 * points of their own with --strict.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "../checks.h"
#include "sinks.h"

#define KTAP_MAX_VCPUS 100000
#define KTAP_MAX_FINDINGS 4096

struct ktap_sink {
	FILE *f;
	bool close_file;
	struct xsw_vcpu_state *vcpus;
	size_t nr_vcpus, cap_vcpus, dropped_vcpus;
	struct xsw_event *findings;
	size_t nr_findings, cap_findings;
	unsigned int n, pass, fail, skip;
};

static void *grow(void *p, size_t *cap, size_t elem)
{
	size_t ncap = *cap ? *cap * 2 : 64;
	void *np = realloc(p, ncap * elem);

	if (np)
		*cap = ncap;
	return np;
}

static void ktap_on_event(void *ctx, struct xsw_engine *eng, const struct xsw_event *ev,
			  const struct xsw_vcpu_state *vcpu)
{
	struct ktap_sink *s = ctx;
	void *np;

	if (ev->type != XSW_EV_VIOLATION && ev->type != XSW_EV_LINT)
		return;
	if (s->nr_findings >= KTAP_MAX_FINDINGS)
		return;
	if (s->nr_findings == s->cap_findings) {
		np = grow(s->findings, &s->cap_findings, sizeof(*s->findings));
		if (!np)
			return;
		s->findings = np;
	}
	s->findings[s->nr_findings++] = *ev;
}

static void ktap_on_vcpu_gone(void *ctx, struct xsw_engine *eng,
			      const struct xsw_vcpu_state *vcpu)
{
	struct ktap_sink *s = ctx;
	void *np;

	if (s->nr_vcpus >= KTAP_MAX_VCPUS) {
		s->dropped_vcpus++;
		return;
	}
	if (s->nr_vcpus == s->cap_vcpus) {
		np = grow(s->vcpus, &s->cap_vcpus, sizeof(*s->vcpus));
		if (!np) {
			s->dropped_vcpus++;
			return;
		}
		s->vcpus = np;
	}
	s->vcpus[s->nr_vcpus++] = *vcpu;
}

static bool finding_is_about(const struct xsw_event *f, const struct xsw_vcpu_state *v)
{
	return f->pid == v->pid && f->vcpu_id == v->vcpu_id && (!f->vm || f->vm == v->vm);
}

static void point(struct ktap_sink *s, bool ok, const char *skip, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void point(struct ktap_sink *s, bool ok, const char *skip, const char *fmt, ...)
{
	va_list ap;

	fprintf(s->f, "%s %u ", ok ? "ok" : "not ok", ++s->n);
	va_start(ap, fmt);
	vfprintf(s->f, fmt, ap);
	va_end(ap);
	if (skip) {
		fprintf(s->f, " # SKIP %s\n", skip);
		s->skip++;
	} else {
		fputc('\n', s->f);
		if (ok)
			s->pass++;
		else
			s->fail++;
	}
}

static void diag_findings(struct ktap_sink *s, const struct xsw_vcpu_state *v,
			  const char *id, bool lints)
{
	size_t i;

	for (i = 0; i < s->nr_findings; i++) {
		const struct xsw_event *f = &s->findings[i];

		if (!finding_is_about(f, v) || (f->type == XSW_EV_LINT) != lints)
			continue;
		if (id && strcmp(f->finding.id, id))
			continue;
		fprintf(s->f, "# %s %s: have %" PRIu64 " need %" PRIu64 " (masks 0x%" PRIx64
			" / 0x%" PRIx64 "): %s\n", lints ? "lint" : "violation", f->finding.id,
			(uint64_t)f->finding.have_size, (uint64_t)f->finding.need_size,
			(uint64_t)f->finding.have_mask, (uint64_t)f->finding.need_mask,
			f->finding.text);
	}
}

static size_t count_points(const struct ktap_sink *s, bool strict)
{
	size_t n = s->nr_vcpus * (1 + XSW_NR_INVARIANTS) + 1, i;

	if (strict)
		for (i = 0; i < s->nr_findings; i++)
			if (s->findings[i].type == XSW_EV_LINT && s->findings[i].vcpu_id < 0)
				n++;
	return n;
}

static void ktap_write(struct ktap_sink *s, struct xsw_engine *eng)
{
	const struct xsw_engine_totals *t = xsw_engine_totals(eng);
	bool strict = xsw_engine_opts(eng)->lints_are_failures;
	char lost[160];
	size_t i, j;

	fprintf(s->f, "KTAP version 1\n");
	fprintf(s->f, "1..%zu\n", count_points(s, strict));
	for (i = 0; i < s->nr_vcpus; i++) {
		const struct xsw_vcpu_state *v = &s->vcpus[i];
		char who[96];

		snprintf(who, sizeof(who), "pid %u (%.16s) vm%u vcpu%d", v->pid, v->comm,
			 v->vm_index, v->vcpu_id);
		point(s, !(strict && v->nr_lints), NULL,
		      "%s lifecycle: %s, cpuid generation %u, %s, %u realloc(s), %s", who,
		      v->created_seen ? "created" : "adopted mid-lifecycle", v->cpuid_generation,
		      v->ran ? "ran" : "never ran", v->nr_reallocs,
		      v->destroyed ? "destroyed" : "still live at end of trace");
		diag_findings(s, v, NULL, true);
		for (j = 0; j < XSW_NR_INVARIANTS; j++) {
			const struct xsw_check_info *info = xsw_check_info(j);
			enum xsw_verdict vd = v->verdict[j];
			const char *skip = NULL;

			if (vd == XSW_VERDICT_NA)
				skip = "no hypervisor buffer on this vCPU";
			else if (vd == XSW_VERDICT_UNKNOWN)
				skip = "not enough seen to check";
			point(s, vd != XSW_VERDICT_FAILS, skip, "%s %s %s", who, info->id,
			      info->title);
			if (vd == XSW_VERDICT_FAILS)
				diag_findings(s, v, info->id, false);
		}
	}
	for (i = 0; i < s->nr_findings; i++) {
		const struct xsw_event *f = &s->findings[i];

		if (f->type != XSW_EV_LINT || f->vcpu_id >= 0)
			continue;
		if (strict)
			point(s, false, NULL, "pid %u (%.16s) lint %s", f->pid, f->comm,
			      f->finding.id);
		fprintf(s->f, "# lint %s: pid %u (%.16s): %s\n", f->finding.id, f->pid, f->comm,
			f->finding.text);
	}
	if (s->dropped_vcpus)
		fprintf(s->f, "# %zu more vCPUs not listed (over %d)\n", s->dropped_vcpus,
			KTAP_MAX_VCPUS);
	snprintf(lost, sizeof(lost), "%" PRIu64 " events lost (%" PRIu64 " ring buffer full, %"
		 PRIu64 " program runs skipped by the kernel): checks incomplete", t->lost,
		 t->lost - t->lost_skipped, t->lost_skipped);
	point(s, true, t->lost ? lost : NULL, "no events lost");
	fprintf(s->f, "# Totals: pass:%u fail:%u xfail:0 xpass:0 skip:%u error:0\n", s->pass,
		s->fail, s->skip);
	fprintf(s->f, "%u passed, %u failed\n", s->pass, s->fail);
}

static void ktap_close(void *ctx, struct xsw_engine *eng)
{
	struct ktap_sink *s = ctx;

	ktap_write(s, eng);
	if (s->close_file)
		fclose(s->f);
	else
		fflush(s->f);
	free(s->vcpus);
	free(s->findings);
	free(s);
}

int xsw_ktap_sink_new(FILE *f, bool close_file, struct xsw_sink *out)
{
	struct ktap_sink *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->f = f;
	s->close_file = close_file;
	memset(out, 0, sizeof(*out));
	out->name = "ktap";
	out->ctx = s;
	out->on_event = ktap_on_event;
	out->on_vcpu_gone = ktap_on_vcpu_gone;
	out->close = ktap_close;
	return 0;
}
