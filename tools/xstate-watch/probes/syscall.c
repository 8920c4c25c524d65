// SPDX-License-Identifier: GPL-2.0
/*
 * The `syscall` probe tier's loader: bpf/xsw_syscall.bpf.c through its
 * skeleton. Needs only syscall tracepoints, tp_btf and a BPF ring buffer,
 * so it runs on stock and locked-down kernels.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "probe.h"
#include "probe_util.h"
#include "bpf/xsw_syscall.skel.h"

struct xsw_probe {
	struct xsw_syscall *skel;
	struct ring_buffer *rb;
	struct bpf_link *fd_links[4];	/* xsw_close_enter on close_range, dup2, dup3;
					 * xsw_dup_exit on fcntl */
	xsw_event_fn fn;
	void *arg;
	int ncpus;
	uint64_t *percpu;	/* scratch for reading the drop counter */
	uint64_t lost_reported;	/* drops already delivered as XSW_EV_LOST */
	int delivered;		/* events delivered by the current poll */
	char detail[256];	/* "direct loads", or probe reads and why */
};

/* What the tier needs from the kernel, each tried for real where possible. */
static int syscall_available(struct xsw_err *err)
{
	static const char *const syscall_tps[] = {
		"sys_enter_ioctl", "sys_exit_ioctl",
		"sys_enter_arch_prctl", "sys_exit_arch_prctl",
		"sys_enter_close", "sys_enter_close_range",
		"sys_enter_dup2", "sys_enter_dup3",
		"sys_exit_dup", "sys_exit_fcntl",
	};
	size_t i;
	int ret;

	for (i = 0; i < sizeof(syscall_tps) / sizeof(syscall_tps[0]); i++) {
		ret = xsw_tracefs_event_check("syscalls", syscall_tps[i], err);
		if (ret)
			return ret;	/* CONFIG_FTRACE_SYSCALLS=n, or no tracefs */
	}
	ret = xsw_tracefs_event_check("sched", "sched_process_exit", err);
	if (ret)
		return ret;
	ret = xsw_probe_tp_btf("kvm_entry", err);
	if (ret)
		return ret;
	return xsw_probe_tp_btf("sched_process_fork", err);
}

static int on_sample(void *ctx, void *data, size_t size)
{
	struct xsw_probe *p = ctx;
	struct xsw_event ev;

	if (!xsw_record_event(data, size, &ev))
		return 0;
	if (ev.type == XSW_EV_VCPU_CREATE && ev.vcpu.perm_sync_follows) {
		struct xsw_event sync = ev;

		ev.vcpu.perm_sync_follows = 0;
		ev.vcpu.locked_now = 0;
		p->fn(&ev, p->arg);
		p->delivered++;
		sync.type = XSW_EV_PERM_SYNC;
		sync.ret = 0;
		sync.vcpu.perm_sync_follows = 0;
		ev = sync;
	}
	p->fn(&ev, p->arg);
	p->delivered++;
	return 0;
}

static uint64_t drops_total(struct xsw_probe *p)
{
	uint32_t zero = 0;
	uint64_t total = 0;
	int i;

	if (bpf_map_lookup_elem(bpf_map__fd(p->skel->maps.drops), &zero, p->percpu))
		return p->lost_reported;
	for (i = 0; i < p->ncpus; i++)
		total += p->percpu[i];
	return total;
}

static void deliver_lost(struct xsw_probe *p)
{
	uint64_t total = drops_total(p);
	struct xsw_event ev;
	struct timespec now;

	if (total <= p->lost_reported)
		return;
	memset(&ev, 0, sizeof(ev));
	clock_gettime(CLOCK_MONOTONIC, &now);	/* bpf_ktime_get_ns()'s clock */
	ev.ts_ns = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
	ev.type = XSW_EV_LOST;
	ev.source = XSW_SRC_SYSCALL;
	ev.vcpu_id = -1;
	ev.lost.count = total - p->lost_reported;
	p->lost_reported = total;
	p->fn(&ev, p->arg);
	p->delivered++;
}

static void syscall_close(struct xsw_probe *p)
{
	if (!p)
		return;
	ring_buffer__free(p->rb);
	for (size_t i = 0; i < sizeof(p->fd_links) / sizeof(p->fd_links[0]); i++)
		bpf_link__destroy(p->fd_links[i]);
	xsw_syscall__destroy(p->skel);
	free(p->percpu);
	free(p);
}

/*
 * Open and load the BPF object, reading kernel structs with plain loads
 * (@direct: bpf_rdonly_cast(), xsw_core.h) or with probe reads.
 */
static int syscall_load(struct xsw_probe *p, const struct xsw_probe_opts *opts, bool direct,
			struct xsw_err *err)
{
	bool raw;
	int ret;

	xsw_syscall__destroy(p->skel);
	xsw_libbpf_log_clear();
	p->skel = xsw_syscall__open();
	if (!p->skel)
		return xsw_err_set(err, errno ? errno : EINVAL,
				   "syscall tier: opening the BPF object failed: %s%s%s",
				   strerror(errno), xsw_libbpf_log_tail()[0] ? ": " : "",
				   xsw_libbpf_log_tail());
	p->skel->rodata->xsw_direct_loads = direct;
	raw = opts && opts->hooks == XSW_HOOKS_RAW;
	bpf_program__set_autoload(p->skel->progs.xsw_ioctl_enter, !raw);
	bpf_program__set_autoload(p->skel->progs.xsw_ioctl_exit, !raw);
	bpf_program__set_autoload(p->skel->progs.xsw_prctl_enter, !raw);
	bpf_program__set_autoload(p->skel->progs.xsw_prctl_exit, !raw);
	bpf_program__set_autoload(p->skel->progs.xsw_close_enter, !raw);
	bpf_program__set_autoload(p->skel->progs.xsw_dup_exit, !raw);
	bpf_program__set_autoload(p->skel->progs.xsw_raw_sys_enter, raw);
	bpf_program__set_autoload(p->skel->progs.xsw_raw_sys_exit, raw);
	if (opts) {
		p->skel->rodata->targ_tgid = opts->pid_filter;
		p->skel->rodata->follow_children = opts->follow_children;
		p->skel->rodata->kvm_entry_guard = opts->kvm_entry_guard;
		/* Batch wakeups: a quarter of the ring (see submit_flags()). */
		p->skel->rodata->wakeup_bytes = xsw_ringbuf_bytes(opts->ringbuf_kib) / 4;
	}
	ret = bpf_map__set_max_entries(p->skel->maps.events,
				       xsw_ringbuf_bytes(opts ? opts->ringbuf_kib : 0));
	if (ret)
		return xsw_err_set(err, -ret, "syscall tier: ring buffer size: %s",
				   strerror(-ret));
	ret = xsw_syscall__load(p->skel);
	if (ret)
		return xsw_err_set(err, -ret,
				   "syscall tier: the kernel refused the BPF programs (%s)%s%s",
				   strerror(-ret), xsw_libbpf_log_tail()[0] ? ": " : "",
				   xsw_libbpf_log_tail());
	if (direct)
		snprintf(p->detail, sizeof(p->detail), "direct loads");
	else if (!p->detail[0])
		snprintf(p->detail, sizeof(p->detail), "probe reads");
	if (raw)
		strncat(p->detail, ", raw syscall hooks", sizeof(p->detail) - strlen(p->detail) - 1);
	return 0;
}

static const char *syscall_detail(struct xsw_probe *p)
{
	return p->detail;
}

/*
 * The tier line's "probe reads; direct loads refused: WHY", on one line:
 * WHY may carry the verifier's log, a line per instruction (--reads=direct
 * prints it whole). Room is left for syscall_load()'s hooks note.
 */
static void set_refused_detail(struct xsw_probe *p, const char *why)
{
	static const char head[] = "probe reads; direct loads refused: ";
	const size_t room = sizeof(p->detail) - sizeof(", raw syscall hooks");
	size_t n = sizeof(head) - 1;

	memcpy(p->detail, head, n);
	for (; *why && n < room; why++)
		p->detail[n++] = *why == '\n' || *why == '\t' ? ' ' : *why;
	if (*why)
		memcpy(p->detail + n - 3, "...", 3);
	p->detail[n] = '\0';
}

/*
 * xsw_close_enter, which skeleton attach put on sys_enter_close, on the
 * other syscalls that close fds, and xsw_dup_exit (on sys_exit_dup) on
 * fcntl's exit, where F_DUPFD adds one: each switches on the syscall number.
 */
static int attach_fd_closers(struct xsw_probe *p, const struct xsw_probe_opts *opts,
			     struct xsw_err *err)
{
	const struct {
		struct bpf_program *prog;
		const char *event;
	} more[] = {
		{ p->skel->progs.xsw_close_enter, "sys_enter_close_range" },
		{ p->skel->progs.xsw_close_enter, "sys_enter_dup2" },
		{ p->skel->progs.xsw_close_enter, "sys_enter_dup3" },
		{ p->skel->progs.xsw_dup_exit, "sys_exit_fcntl" },
	};
	size_t i;

	_Static_assert(sizeof(more) / sizeof(more[0]) == sizeof(p->fd_links) / sizeof(p->fd_links[0]),
		       "one link per extra event");
	if (opts && opts->hooks == XSW_HOOKS_RAW)	/* the raw hooks have them */
		return 0;
	for (i = 0; i < sizeof(more) / sizeof(more[0]); i++) {
		p->fd_links[i] = bpf_program__attach_tracepoint(more[i].prog, "syscalls",
								more[i].event);
		if (!p->fd_links[i])
			return xsw_err_set(err, errno ? errno : EINVAL,
					   "syscall tier: attaching to syscalls:%s failed (%s)",
					   more[i].event, strerror(errno));
	}
	return 0;
}

static int syscall_open(struct xsw_probe **pp, const struct xsw_probe_opts *opts,
			xsw_event_fn fn, void *arg, struct xsw_err *err)
{
	struct xsw_probe *p;
	int ret;

	*pp = NULL;
	if (!fn)
		return xsw_err_set(err, EINVAL, "syscall tier: no event callback");
	p = calloc(1, sizeof(*p));
	if (!p)
		return xsw_err_set(err, ENOMEM, "syscall tier: out of memory");
	p->fn = fn;
	p->arg = arg;
	p->ncpus = libbpf_num_possible_cpus();
	if (p->ncpus <= 0) {
		ret = xsw_err_set(err, p->ncpus ? -p->ncpus : EINVAL,
				  "syscall tier: cannot count the possible CPUs");
		goto fail;
	}
	p->percpu = calloc(p->ncpus, sizeof(*p->percpu));
	if (!p->percpu) {
		ret = xsw_err_set(err, ENOMEM, "syscall tier: out of memory");
		goto fail;
	}

	xsw_libbpf_log_setup(opts && opts->verbose);
	if (!opts || opts->reads != XSW_READS_PROBE) {
		ret = syscall_load(p, opts, true, err);
		if (ret && (!opts || opts->reads == XSW_READS_AUTO)) {
			/* Say why, then run as kernels before v6.2 do. */
			set_refused_detail(p, err ? err->msg : "?");
			ret = syscall_load(p, opts, false, err);
		}
	} else {
		ret = syscall_load(p, opts, false, err);
	}
	if (ret)
		goto fail;
	ret = xsw_syscall__attach(p->skel);
	if (ret) {
		ret = xsw_err_set(err, -ret, "syscall tier: attaching the probes failed (%s)%s%s",
				  strerror(-ret), xsw_libbpf_log_tail()[0] ? ": " : "",
				  xsw_libbpf_log_tail());
		goto fail;
	}
	ret = attach_fd_closers(p, opts, err);
	if (ret)
		goto fail;
	p->rb = ring_buffer__new(bpf_map__fd(p->skel->maps.events), on_sample, p, NULL);
	if (!p->rb) {
		ret = xsw_err_set(err, errno ? errno : EINVAL,
				  "syscall tier: cannot map the ring buffer: %s", strerror(errno));
		goto fail;
	}
	*pp = p;
	return 0;
fail:
	syscall_close(p);
	return ret;
}

static int syscall_poll(struct xsw_probe *p, int timeout_ms)
{
	int ret;

	p->delivered = 0;
	ret = xsw_ring_drain(p->rb, timeout_ms);
	if (ret < 0)
		return ret;
	deliver_lost(p);
	return p->delivered;
}

static uint64_t syscall_lost(struct xsw_probe *p)
{
	return p ? drops_total(p) : 0;
}

static uint64_t syscall_skipped(struct xsw_probe *p)
{
	return p ? xsw_bpf_object_skips(p->skel->obj) : 0;
}

const struct xsw_probe_tier_ops xsw_tier_syscall = {
	.tier = XSW_TIER_SYSCALL,
	.name = "syscall",
	.available = syscall_available,
	.open = syscall_open,
	.poll = syscall_poll,
	.lost = syscall_lost,
	.skipped = syscall_skipped,
	.detail = syscall_detail,
	.close = syscall_close,
};
