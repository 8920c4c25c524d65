// SPDX-License-Identifier: GPL-2.0
/*
 * The `fentry` probe tier: fentry/fexit on KVM and FPU functions.
 * Not implemented in this build: this placeholder keeps the tier in the
 * registry (so --probes=fentry gives an honest reason and auto passes it over)
 * until its probes land as bpf/xsw_fentry.bpf.c and a real loader here.
 */
#include <errno.h>

#include "probe.h"

static int fentry_available(struct xsw_err *err)
{
	return xsw_err_set(err, EOPNOTSUPP, "tier not implemented in this build");
}

static int fentry_open(struct xsw_probe **p, const struct xsw_probe_opts *opts,
		       xsw_event_fn fn, void *arg, struct xsw_err *err)
{
	*p = NULL;
	return fentry_available(err);
}

static int fentry_poll(struct xsw_probe *p, int timeout_ms)
{
	return -EOPNOTSUPP;
}

static uint64_t fentry_lost(struct xsw_probe *p)
{
	return 0;
}

static void fentry_close(struct xsw_probe *p)
{
}

const struct xsw_probe_tier_ops xsw_tier_fentry = {
	.tier = XSW_TIER_FENTRY,
	.name = "fentry",
	.available = fentry_available,
	.open = fentry_open,
	.poll = fentry_poll,
	.lost = fentry_lost,
	.close = fentry_close,
};
