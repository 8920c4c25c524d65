// SPDX-License-Identifier: GPL-2.0
/*
 * The `tracepoint` probe tier: this project's kernel tracepoints
 * (x86_fpu:x86_fpu_xstate_perm, x86_fpu:x86_fpu_guest_perm_sync,
 * x86_fpu:x86_fpu_fpstate_realloc, kvm:kvm_set_cpuid; kernel-patches/v6.12)
 * for the sizing decisions, and the syscall tier for the rest of the
 * lifecycle (VM and vCPU creation, KVM_RUN, teardown, permission reads).
 *
 * The syscall tier runs unchanged beside bpf/xsw_tracepoint.bpf.c; its
 * events of the kinds the tracepoints report (permission requests, perm
 * sync, KVM_SET_CPUID2, realloc) are dropped, so each event is reported
 * once, by the source closest to the kernel's decision. The two ring
 * buffers are drained together and each batch is delivered in timestamp
 * order: the tracepoints fire inside the ioctl whose syscall-tier event is
 * taken at its exit, so draining the tracepoint buffer first never delivers
 * a syscall-tier event ahead of an earlier tracepoint event.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "probe.h"
#include "probe_util.h"
#include "bpf/xsw_tracepoint.skel.h"

/* The tracepoints of the series, as tracefs names them. */
static const struct {
	const char *category, *name;
	bool btf;	/* attached as tp_btf (else from its trace record) */
} tp_events[] = {
	{ "x86_fpu", "x86_fpu_xstate_perm", true },
	{ "x86_fpu", "x86_fpu_guest_perm_sync", true },
	{ "x86_fpu", "x86_fpu_fpstate_realloc", true },
	{ "kvm", "kvm_set_cpuid", false },
};

#define TP_BATCH_MAX 4096

struct xsw_probe {
	struct xsw_tracepoint *skel;
	struct ring_buffer *rb;
	struct xsw_probe *syscall;	/* the syscall tier, for the rest */
	xsw_event_fn fn;
	void *arg;
	struct xsw_event *batch;
	size_t nbatch;
	uint64_t batch_overflows;	/* batch full: delivered unsorted */
};

static int tracepoint_available(struct xsw_err *err)
{
	struct xsw_err terr;
	size_t i;
	int ret;

	for (i = 0; i < sizeof(tp_events) / sizeof(tp_events[0]); i++) {
		xsw_err_clear(&terr);
		ret = xsw_tracefs_event_check(tp_events[i].category, tp_events[i].name, &terr);
		if (ret)
			return xsw_err_set(err, -ret,
					   "%s (a kernel without the xstate-watch tracepoint "
					   "series, kernel-patches/v6.12)", terr.msg);
		if (!tp_events[i].btf)
			continue;
		ret = xsw_probe_tp_btf(tp_events[i].name, &terr);
		if (ret)
			return xsw_err_set(err, -ret, "%s", terr.msg);
	}
	xsw_err_clear(&terr);
	ret = xsw_tier_syscall.available(&terr);
	if (ret)
		return xsw_err_set(err, -ret, "needs the syscall tier for VM and vCPU lifecycle: %s",
				   terr.msg);
	return 0;
}

static void batch_add(struct xsw_probe *p, const struct xsw_event *ev)
{
	if (p->nbatch == TP_BATCH_MAX) {
		/* Never drop: deliver what is held, in order, and go on. */
		p->fn(ev, p->arg);
		p->batch_overflows++;
		return;
	}
	p->batch[p->nbatch++] = *ev;
}

static int handle_tp_event(void *ctx, void *data, size_t size)
{
	struct xsw_event ev;

	if (xsw_record_event(data, size, &ev))
		batch_add(ctx, &ev);
	return 0;
}

/* Syscall-tier events the tracepoints report themselves are dropped. */
static void handle_syscall_event(const struct xsw_event *ev, void *arg)
{
	switch (ev->type) {
	case XSW_EV_PERM_REQUEST:
		if (ev->perm.request)	/* x86_fpu_xstate_perm has it */
			return;
		break;
	case XSW_EV_PERM_SYNC:
	case XSW_EV_SET_CPUID:
	case XSW_EV_FPSTATE_REALLOC:
		return;
	}
	batch_add(arg, ev);
}

static int by_timestamp(const void *a, const void *b)
{
	const struct xsw_event *x = a, *y = b;

	return x->ts_ns < y->ts_ns ? -1 : x->ts_ns > y->ts_ns;
}

static void tracepoint_close(struct xsw_probe *p)
{
	if (!p)
		return;
	if (p->syscall)
		xsw_tier_syscall.close(p->syscall);
	ring_buffer__free(p->rb);
	xsw_tracepoint__destroy(p->skel);
	free(p->batch);
	free(p);
}

static int tracepoint_open(struct xsw_probe **pp, const struct xsw_probe_opts *opts,
			   xsw_event_fn fn, void *arg, struct xsw_err *err)
{
	struct xsw_probe *p;
	__u8 one = 1;
	int ret;

	*pp = NULL;
	p = calloc(1, sizeof(*p));
	if (p)
		p->batch = calloc(TP_BATCH_MAX, sizeof(*p->batch));
	if (!p || !p->batch) {
		free(p);
		return xsw_err_set(err, ENOMEM, "tracepoint tier: out of memory");
	}
	p->fn = fn;
	p->arg = arg;
	xsw_libbpf_log_clear();
	p->skel = xsw_tracepoint__open();
	if (!p->skel) {
		ret = xsw_err_set(err, errno ? errno : EINVAL,
				  "tracepoint tier: cannot open the BPF object: %s %s",
				  strerror(errno), xsw_libbpf_log_tail());
		goto fail;
	}
	p->skel->rodata->filter_tgid = opts ? opts->pid_filter : 0;
	p->skel->rodata->follow_children = opts && opts->follow_children;
	/*
	 * Batch wakeups (see xsw_submit_flags()). Nothing waits on this ring:
	 * each poll consumes it around the syscall tier's, whose wait is at
	 * most XSW_DRAIN_MS.
	 */
	p->skel->rodata->wakeup_bytes = xsw_ringbuf_bytes(opts ? opts->ringbuf_kib : 0) / 4;
	bpf_map__set_max_entries(p->skel->maps.events,
				 xsw_ringbuf_bytes(opts ? opts->ringbuf_kib : 0));
	ret = xsw_tracepoint__load(p->skel);
	if (ret) {
		ret = xsw_err_set(err, -ret,
				  "tracepoint tier: the kernel refuses the BPF programs (%s) %s",
				  strerror(-ret), xsw_libbpf_log_tail());
		goto fail;
	}
	if (opts && opts->pid_filter)
		bpf_map__update_elem(p->skel->maps.tracked, &opts->pid_filter,
				     sizeof(opts->pid_filter), &one, sizeof(one), BPF_ANY);
	ret = xsw_tracepoint__attach(p->skel);
	if (ret) {
		ret = xsw_err_set(err, -ret, "tracepoint tier: cannot attach (%s) %s",
				  strerror(-ret), xsw_libbpf_log_tail());
		goto fail;
	}
	p->rb = ring_buffer__new(bpf_map__fd(p->skel->maps.events), handle_tp_event, p, NULL);
	if (!p->rb) {
		ret = xsw_err_set(err, errno ? errno : ENOMEM,
				  "tracepoint tier: cannot map the ring buffer: %s", strerror(errno));
		goto fail;
	}
	ret = xsw_tier_syscall.open(&p->syscall, opts, handle_syscall_event, p, err);
	if (ret)
		goto fail;
	*pp = p;
	return 0;
fail:
	tracepoint_close(p);
	return ret;
}

static int tracepoint_poll(struct xsw_probe *p, int timeout_ms)
{
	size_t i;
	int ret, n;

	p->nbatch = 0;
	/* Tracepoint events first: see the comment at the top. */
	ret = ring_buffer__consume(p->rb);
	if (ret < 0 && ret != -EINTR)
		return ret;
	ret = xsw_tier_syscall.poll(p->syscall, p->nbatch ? 0 : timeout_ms);
	if (ret < 0 && ret != -EINTR)
		return ret;
	n = ring_buffer__consume(p->rb);
	if (n < 0 && n != -EINTR)
		return n;
	qsort(p->batch, p->nbatch, sizeof(*p->batch), by_timestamp);
	for (i = 0; i < p->nbatch; i++)
		p->fn(&p->batch[i], p->arg);
	return (int)p->nbatch;
}

static uint64_t tracepoint_lost(struct xsw_probe *p)
{
	return p->skel->bss->lost_events + xsw_tier_syscall.lost(p->syscall);
}

static uint64_t tracepoint_skipped(struct xsw_probe *p)
{
	return xsw_bpf_object_skips(p->skel->obj) + xsw_tier_syscall.skipped(p->syscall);
}

const struct xsw_probe_tier_ops xsw_tier_tracepoint = {
	.tier = XSW_TIER_TRACEPOINT,
	.name = "tracepoint",
	.available = tracepoint_available,
	.open = tracepoint_open,
	.poll = tracepoint_poll,
	.lost = tracepoint_lost,
	.skipped = tracepoint_skipped,
	.close = tracepoint_close,
};
