// SPDX-License-Identifier: GPL-2.0
/*
 * The `fentry` probe tier: fentry/fexit on the global KVM and x86 FPU
 * functions that size a guest's FPU state (bpf/xsw_fentry.bpf.c says which
 * function gives which event).
 *
 * available() tries, it does not guess: it loads and attaches an empty
 * fentry program on every function the tier needs (libbpf-tools'
 * fentry_can_attach pattern), so a kernel without BPF trampolines, one
 * whose lockdown refuses them, or one where a function was renamed, made
 * static or inlined is named in the reason, with the function.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "probe.h"
#include "probe_util.h"
#include "bpf/xsw_fentry.skel.h"

/*
 * Every function bpf/xsw_fentry.bpf.c attaches to. kvm_set_cpuid() and
 * kvm_vcpu_after_set_cpuid() would be closer to the enforcement but are
 * static in 6.12 (no BTF FUNC, no trampoline).
 */
static const char *const fentry_functions[] = {
	"fpu_xstate_prctl",
	"kvm_dev_ioctl_get_cpuid",
	"kvm_arch_init_vm",
	"kvm_arch_destroy_vm",
	"kvm_arch_vcpu_create",
	"fpu_alloc_guest_fpstate",
	"kvm_vcpu_ioctl_set_cpuid2",
	"fpu_enable_guest_xfd_features",
	"kvm_arch_vcpu_ioctl_run",
	"kvm_arch_vcpu_destroy",
};

/* The kernel-internal ENOTSUPP (524) leaks out of bpf() for trampolines. */
#define XSW_ENOTSUPP 524

struct xsw_probe {
	struct xsw_fentry *skel;
	struct ring_buffer *rb;
	xsw_event_fn fn;
	void *arg;
};

static int fentry_available(struct xsw_err *err)
{
	struct xsw_err ferr;
	size_t i;
	int ret;

	xsw_libbpf_log_clear();
	for (i = 0; i < sizeof(fentry_functions) / sizeof(fentry_functions[0]); i++) {
		xsw_err_clear(&ferr);
		ret = xsw_probe_fentry(fentry_functions[i], &ferr);
		if (!ret)
			continue;
		if (ret == -EPERM || ret == -EACCES || ret == -XSW_ENOTSUPP || ret == -EOPNOTSUPP ||
		    ret == -EINVAL)
			return xsw_err_set(err, -ret,
					   "%s; this kernel does not run fentry/fexit programs "
					   "(BPF trampolines need CONFIG_BPF_JIT and "
					   "CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS, and lockdown "
					   "or the hypervisor may refuse them)", ferr.msg);
		return xsw_err_set(err, -ret, "%s", ferr.msg);
	}
	return 0;
}

static int handle_event(void *ctx, void *data, size_t size)
{
	struct xsw_probe *p = ctx;
	struct xsw_event ev;

	if (!xsw_record_event(data, size, &ev))
		return 0;
	p->fn(&ev, p->arg);
	return 0;
}

static void fentry_close(struct xsw_probe *p)
{
	if (!p)
		return;
	ring_buffer__free(p->rb);
	xsw_fentry__destroy(p->skel);
	free(p);
}

static int fentry_open(struct xsw_probe **pp, const struct xsw_probe_opts *opts,
		       xsw_event_fn fn, void *arg, struct xsw_err *err)
{
	struct xsw_probe *p;
	__u8 one = 1;
	int ret;

	*pp = NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return xsw_err_set(err, ENOMEM, "fentry tier: out of memory");
	p->fn = fn;
	p->arg = arg;
	xsw_libbpf_log_clear();
	p->skel = xsw_fentry__open();
	if (!p->skel) {
		ret = xsw_err_set(err, errno ? errno : EINVAL,
				  "fentry tier: cannot open the BPF object: %s %s",
				  strerror(errno), xsw_libbpf_log_tail());
		goto fail;
	}
	p->skel->rodata->filter_tgid = opts ? opts->pid_filter : 0;
	p->skel->rodata->follow_children = opts && opts->follow_children;
	p->skel->rodata->kvm_entry_guard = !opts || opts->kvm_entry_guard;
	/* Batch wakeups: a quarter of the ring (see xsw_submit_flags()). */
	p->skel->rodata->wakeup_bytes = xsw_ringbuf_bytes(opts ? opts->ringbuf_kib : 0) / 4;
	bpf_map__set_max_entries(p->skel->maps.events,
				 xsw_ringbuf_bytes(opts ? opts->ringbuf_kib : 0));
	ret = xsw_fentry__load(p->skel);
	if (ret) {
		ret = xsw_err_set(err, -ret, "fentry tier: the kernel refuses the BPF programs (%s) %s",
				  strerror(-ret), xsw_libbpf_log_tail());
		goto fail;
	}
	if (opts && opts->pid_filter)
		bpf_map__update_elem(p->skel->maps.tracked, &opts->pid_filter,
				     sizeof(opts->pid_filter), &one, sizeof(one), BPF_ANY);
	ret = xsw_fentry__attach(p->skel);
	if (ret) {
		ret = xsw_err_set(err, -ret, "fentry tier: cannot attach (%s) %s",
				  strerror(-ret), xsw_libbpf_log_tail());
		goto fail;
	}
	p->rb = ring_buffer__new(bpf_map__fd(p->skel->maps.events), handle_event, p, NULL);
	if (!p->rb) {
		ret = xsw_err_set(err, errno ? errno : ENOMEM,
				  "fentry tier: cannot map the ring buffer: %s", strerror(errno));
		goto fail;
	}
	*pp = p;
	return 0;
fail:
	fentry_close(p);
	return ret;
}

static int fentry_poll(struct xsw_probe *p, int timeout_ms)
{
	return xsw_ring_drain(p->rb, timeout_ms);
}

static uint64_t fentry_lost(struct xsw_probe *p)
{
	return p->skel->bss->lost_events;
}

static uint64_t fentry_skipped(struct xsw_probe *p)
{
	return xsw_bpf_object_skips(p->skel->obj);
}

const struct xsw_probe_tier_ops xsw_tier_fentry = {
	.tier = XSW_TIER_FENTRY,
	.name = "fentry",
	.available = fentry_available,
	.open = fentry_open,
	.poll = fentry_poll,
	.lost = fentry_lost,
	.skipped = fentry_skipped,
	.close = fentry_close,
};
