/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Probe tiers. Each tier is a set of BPF programs that turn kernel activity
 * into struct xsw_event records. The tier is chosen at start-up by trying to
 * load and attach (not by reading version numbers); the engine does not
 * know which tier feeds it.
 */
#ifndef XSW_PROBE_H
#define XSW_PROBE_H

#include <stdbool.h>
#include <stdint.h>

#include "xsw_err.h"
#include "xsw_event.h"

enum xsw_tier {
	XSW_TIER_AUTO = 0,
	XSW_TIER_TRACEPOINT,	/* this project's kernel tracepoints (patched kernel) */
	XSW_TIER_FENTRY,	/* fentry/fexit on KVM/FPU functions */
	XSW_TIER_SYSCALL,	/* syscall tracepoints + tp_btf/kvm_entry */
};

typedef void (*xsw_event_fn)(const struct xsw_event *ev, void *arg);

/*
 * How the syscall tier's programs read kernel structs: plain loads through
 * bpf_rdonly_cast() pointers (v6.2+), or bpf_probe_read_kernel() calls.
 * auto tries direct loads and falls back, saying why.
 */
enum xsw_reads {
	XSW_READS_AUTO = 0,
	XSW_READS_DIRECT,
	XSW_READS_PROBE,
};

/*
 * Where the syscall tier enters its handlers: the syscall trace events
 * (syscalls:sys_{enter,exit}_ioctl...; a program runs only for those
 * syscalls) or raw_syscalls through tp_btf (cheaper per traced syscall,
 * dearer for every other one). bpf/xsw_syscall.bpf.c has the figures.
 */
enum xsw_syscall_hooks {
	XSW_HOOKS_EVENTS = 0,
	XSW_HOOKS_RAW,
};

struct xsw_probe_opts {
	uint32_t pid_filter;	/* 0: every process; else only this tgid ... */
	bool follow_children;	/* ... and its descendants (run -- CMD) */
	/*
	 * Emit kvm_entry events only on change. Set it to true: a zeroed opts
	 * has it off, which emits an event on EVERY VM entry (only for
	 * measuring what the guard saves).
	 */
	bool kvm_entry_guard;
	unsigned int ringbuf_kib;	/* ring buffer size, 0 = default (1 MiB) */
	enum xsw_reads reads;	/* how the syscall tier reads kernel structs */
	enum xsw_syscall_hooks hooks;	/* where the syscall tier attaches */
	bool verbose;		/* libbpf's log to stderr (else kept for errors) */
};

/* An open tier; each tier's loader defines its own (opaque to callers). */
struct xsw_probe;

struct xsw_probe_tier_ops {
	enum xsw_tier tier;
	const char *name;	/* "tracepoint", "fentry", "syscall" */
	/* 0 when this kernel can run the tier, else -errno and why in @err. */
	int (*available)(struct xsw_err *err);
	int (*open)(struct xsw_probe **p, const struct xsw_probe_opts *opts,
		    xsw_event_fn fn, void *arg, struct xsw_err *err);
	/*
	 * Deliver pending events through fn; wait up to @timeout_ms. Events
	 * the BPF side dropped since the last call arrive as one XSW_EV_LOST
	 * event (lost.count = how many). Returns the number of events
	 * delivered, or -errno.
	 */
	int (*poll)(struct xsw_probe *p, int timeout_ms);
	/* Events the BPF side could not deliver so far (ring buffer full). */
	uint64_t (*lost)(struct xsw_probe *p);
	/*
	 * Runs of the tier's programs the kernel skipped so far (its recursion
	 * guard; xsw_bpf_object_skips()), each a possibly lost event. The
	 * caller reports them as XSW_EV_LOST with lost.skipped set.
	 */
	uint64_t (*skipped)(struct xsw_probe *p);
	/* Optional: how the open tier runs, for the start-up line ("direct loads"). */
	const char *(*detail)(struct xsw_probe *p);
	/* Detach and free; events still queued are dropped: poll(p, 0) first. */
	void (*close)(struct xsw_probe *p);
};

extern const struct xsw_probe_tier_ops xsw_tier_tracepoint;
extern const struct xsw_probe_tier_ops xsw_tier_fentry;
extern const struct xsw_probe_tier_ops xsw_tier_syscall;

const char *xsw_tier_name(enum xsw_tier tier);
int xsw_tier_from_name(const char *name, enum xsw_tier *tier);	/* "auto" too */

/*
 * Pick a tier: @want, or with XSW_TIER_AUTO the first available of
 * tracepoint, fentry, syscall. Prints nothing; @why says why tiers before
 * the chosen one were passed over. Returns NULL with @err set when none can
 * run (or @want cannot).
 */
const struct xsw_probe_tier_ops *xsw_tier_choose(enum xsw_tier want, char *why,
						 size_t why_len, struct xsw_err *err);

/*
 * Environment checks shared by every tier (root/CAP_BPF, BTF, tracefs, KVM).
 * Mounts tracefs when it is not mounted. Returns 0 or -errno with the
 * problem in @err; on success @err->msg may still hold a note for the user
 * (err->code 0, e.g. "tracefs was not mounted: mounted it at ...").
 */
int xsw_probe_check_env(struct xsw_err *err);

#endif /* XSW_PROBE_H */
