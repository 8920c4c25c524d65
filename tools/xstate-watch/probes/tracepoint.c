// SPDX-License-Identifier: GPL-2.0
/*
 * The `tracepoint` probe tier: this project's kernel tracepoints (x86_fpu:*, kvm:kvm_set_cpuid).
 * Not implemented in this build: this placeholder keeps the tier in the
 * registry (so --probes=tracepoint gives an honest reason and auto passes it over)
 * until its probes land as bpf/xsw_tracepoint.bpf.c and a real loader here.
 */
#include <errno.h>

#include "probe.h"

static int tracepoint_available(struct xsw_err *err)
{
	return xsw_err_set(err, EOPNOTSUPP, "tier not implemented in this build");
}

static int tracepoint_open(struct xsw_probe **p, const struct xsw_probe_opts *opts,
			   xsw_event_fn fn, void *arg, struct xsw_err *err)
{
	*p = NULL;
	return tracepoint_available(err);
}

static int tracepoint_poll(struct xsw_probe *p, int timeout_ms)
{
	return -EOPNOTSUPP;
}

static uint64_t tracepoint_lost(struct xsw_probe *p)
{
	return 0;
}

static void tracepoint_close(struct xsw_probe *p)
{
}

const struct xsw_probe_tier_ops xsw_tier_tracepoint = {
	.tier = XSW_TIER_TRACEPOINT,
	.name = "tracepoint",
	.available = tracepoint_available,
	.open = tracepoint_open,
	.poll = tracepoint_poll,
	.lost = tracepoint_lost,
	.close = tracepoint_close,
};
