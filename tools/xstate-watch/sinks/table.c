// SPDX-License-Identifier: GPL-2.0
/*
 * The live table, refreshed on an interval like kvm_stat or top: one row
 * per vCPU with what decides its buffer size (the process's guest
 * permission, the CPUID's xcr0), what the kernel holds (fpstate->size),
 * what the guest needs (I2's required size) and the difference.
 *
 * Lifecycles shorter than the interval would never show, so vCPUs that
 * went away since the last render are kept for one more render as "gone".
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../checks.h"
#include "sinks.h"

#define TABLE_MAX_GONE 256
#define TABLE_RECENT 5

struct row {
	struct xsw_vcpu_state st;
	uint64_t perm;
	bool perm_valid;
	bool gone;
};

struct xsw_table {
	FILE *f;
	bool clear;
	struct row gone[TABLE_MAX_GONE];
	unsigned int nr_gone, gone_dropped;
	char recent[TABLE_RECENT][200];
	unsigned int nr_recent;
	/* Rows collected for one render. */
	struct row *rows;
	size_t nr_rows, cap_rows;
	struct xsw_engine *eng;
};

static void table_on_event(void *ctx, struct xsw_engine *eng, const struct xsw_event *ev,
			   const struct xsw_vcpu_state *vcpu)
{
	struct xsw_table *t = ctx;
	char *slot;

	if (ev->type != XSW_EV_VIOLATION && ev->type != XSW_EV_LINT)
		return;
	if (t->nr_recent == TABLE_RECENT) {
		memmove(t->recent[0], t->recent[1], sizeof(t->recent[0]) * (TABLE_RECENT - 1));
		t->nr_recent--;
	}
	slot = t->recent[t->nr_recent++];
	snprintf(slot, sizeof(t->recent[0]), "%s %s pid %u vcpu %d: %s",
		 ev->type == XSW_EV_VIOLATION ? "VIOLATION" : "lint", ev->finding.id, ev->pid,
		 ev->vcpu_id, ev->finding.text);
}

static void table_on_vcpu_gone(void *ctx, struct xsw_engine *eng,
			       const struct xsw_vcpu_state *vcpu)
{
	struct xsw_table *t = ctx;
	const struct xsw_proc_state *p = xsw_engine_proc(eng, vcpu->pid);
	struct row *r;

	if (t->nr_gone >= TABLE_MAX_GONE) {
		t->gone_dropped++;
		return;
	}
	r = &t->gone[t->nr_gone++];
	r->st = *vcpu;
	r->perm_valid = p && p->guest_perm.valid;
	r->perm = r->perm_valid ? p->guest_perm.perm : 0;
	r->gone = true;
}

static void collect(const struct xsw_vcpu_state *v, void *arg)
{
	struct xsw_table *t = arg;
	const struct xsw_proc_state *p = xsw_engine_proc(t->eng, v->pid);
	struct row *r;

	if (t->nr_rows == t->cap_rows) {
		size_t ncap = t->cap_rows ? t->cap_rows * 2 : 64;
		void *np = realloc(t->rows, ncap * sizeof(*t->rows));

		if (!np)
			return;
		t->rows = np;
		t->cap_rows = ncap;
	}
	r = &t->rows[t->nr_rows++];
	r->st = *v;
	r->perm_valid = p && p->guest_perm.valid;
	r->perm = r->perm_valid ? p->guest_perm.perm : 0;
	r->gone = false;
}

static int cmp_rows(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	if (x->st.pid != y->st.pid)
		return x->st.pid < y->st.pid ? -1 : 1;
	if (x->st.vm_index != y->st.vm_index)
		return x->st.vm_index < y->st.vm_index ? -1 : 1;
	if (x->st.vcpu_id != y->st.vcpu_id)
		return x->st.vcpu_id < y->st.vcpu_id ? -1 : 1;
	return x->gone - y->gone;
}

static const char *fmt_hex(char *buf, size_t len, bool known, uint64_t v)
{
	if (known)
		snprintf(buf, len, "0x%" PRIx64, v);
	else
		snprintf(buf, len, "-");
	return buf;
}

static const char *fmt_num(char *buf, size_t len, bool known, int64_t v)
{
	if (known)
		snprintf(buf, len, "%" PRId64, v);
	else
		snprintf(buf, len, "-");
	return buf;
}

static void print_row(FILE *f, const struct row *r)
{
	const struct xsw_vcpu_state *v = &r->st;
	char perm[20], xcr0[20], fps[12], req[12], head[12];

	fprintf(f, "%7u %-15.16s %3u %5d %10s %10s %8s %8s %8s  %s%s\n", v->pid, v->comm,
		v->vm_index, v->vcpu_id, fmt_hex(perm, sizeof(perm), r->perm_valid, r->perm),
		fmt_hex(xcr0, sizeof(xcr0), v->cpuid_generation, v->cpuid.xcr0),
		fmt_num(fps, sizeof(fps), v->fps.valid, v->fps.size),
		fmt_num(req, sizeof(req), v->required_size, v->required_size),
		fmt_num(head, sizeof(head), v->required_size && v->fps.valid, v->headroom),
		xsw_vcpu_status_name(v->status), r->gone ? " (gone)" : "");
}

void xsw_table_render(struct xsw_table *t, struct xsw_engine *eng, const char *header)
{
	const struct xsw_engine_totals *tot = xsw_engine_totals(eng);
	unsigned int i;
	size_t k;

	t->eng = eng;
	t->nr_rows = 0;
	xsw_engine_foreach_vcpu(eng, collect, t);
	for (i = 0; i < t->nr_gone; i++) {
		if (t->nr_rows == t->cap_rows) {
			size_t ncap = t->cap_rows ? t->cap_rows * 2 : 64;
			void *np = realloc(t->rows, ncap * sizeof(*t->rows));

			if (!np)
				break;
			t->rows = np;
			t->cap_rows = ncap;
		}
		t->rows[t->nr_rows++] = t->gone[i];
	}
	t->nr_gone = 0;
	if (t->nr_rows)
		qsort(t->rows, t->nr_rows, sizeof(*t->rows), cmp_rows);

	if (t->clear)
		fputs("\033[H\033[2J", t->f);
	if (header)
		fprintf(t->f, "%s\n", header);
	fprintf(t->f, "vCPUs %" PRIu64 " live, %" PRIu64 " seen   violations %" PRIu64
		"   lints %" PRIu64 "   lost events %" PRIu64 "\n\n", tot->vcpus_live,
		tot->vcpus_seen, tot->violations, tot->lints, tot->lost);
	fprintf(t->f, "%7s %-15s %3s %5s %10s %10s %8s %8s %8s  %s\n", "PID", "COMM", "VM",
		"VCPU", "GUESTPERM", "CPUIDXCR0", "FPSTATE", "REQUIRED", "HEADROOM", "STATUS");
	for (k = 0; k < t->nr_rows; k++)
		print_row(t->f, &t->rows[k]);
	if (!t->nr_rows)
		fprintf(t->f, "(no vCPUs yet)\n");
	if (t->gone_dropped) {
		fprintf(t->f, "(%u more vCPUs came and went)\n", t->gone_dropped);
		t->gone_dropped = 0;
	}
	if (t->nr_recent) {
		fprintf(t->f, "\nrecent findings:\n");
		for (i = 0; i < t->nr_recent; i++)
			fprintf(t->f, "  %s\n", t->recent[i]);
	}
	fflush(t->f);
}

static void table_close(void *ctx, struct xsw_engine *eng)
{
	struct xsw_table *t = ctx;

	free(t->rows);
	free(t);
}

struct xsw_table *xsw_table_sink_new(FILE *f, bool clear_screen, struct xsw_sink *out)
{
	struct xsw_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->f = f;
	t->clear = clear_screen;
	memset(out, 0, sizeof(*out));
	out->name = "table";
	out->ctx = t;
	out->on_event = table_on_event;
	out->on_vcpu_gone = table_on_vcpu_gone;
	out->close = table_close;
	return t;
}
