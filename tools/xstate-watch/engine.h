/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The lifecycle engine: folds a stream of struct xsw_event (from any
 * source: BPF probes, a replayed file, the pKVM model) into
 * process -> VM -> vCPU state, runs the invariant checks on it, and hands
 * every event and every finding to the registered sinks.
 *
 * Plain C, no BPF: unit-tested with synthetic event streams. Not
 * thread-safe: one thread feeds it; sinks that are read from other threads
 * (the /metrics server) keep their own locked copy.
 */
#ifndef XSW_ENGINE_H
#define XSW_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "xstate.h"
#include "xsw_event.h"

/*
 * The invariants, in the order of DESIGN.md; each vCPU keeps one verdict
 * per invariant over its whole lifetime (KTAP prints one test point each).
 */
#define XSW_NR_INVARIANTS 5

enum xsw_verdict {
	XSW_VERDICT_UNKNOWN = 0,	/* never checked: not enough seen */
	XSW_VERDICT_HOLDS,		/* checked, always held */
	XSW_VERDICT_FAILS,		/* failed at least once */
	XSW_VERDICT_NA,			/* does not apply (I5 without a hypervisor) */
};

enum xsw_vcpu_status {
	XSW_VCPU_OK = 0,
	XSW_VCPU_UNKNOWN,	/* not enough seen yet to check (started mid-lifecycle) */
	XSW_VCPU_LINT,		/* a lint fired, no invariant failed */
	XSW_VCPU_VIOLATION,	/* an invariant failed */
};

struct xsw_proc_state {
	uint32_t pid;
	char comm[16];
	struct xsw_perm guest_perm;	/* last known guest permission */
	bool perm_requested;		/* ARCH_REQ_XCOMP_GUEST_PERM seen */
	bool perm_locked;		/* first vCPU created (or kernel says so) */
	bool supported_cpuid_read;	/* KVM_GET_SUPPORTED_CPUID seen */
	uint64_t supported_cpuid_ts;
	unsigned int nr_vms;
	unsigned int nr_vcpus;
	/* Additions (engine-owned): */
	struct xsw_perm perm_at_supported_read;	/* guest perm when the CPUID was read */
	/*
	 * The last successful KVM_GET_SUPPORTED_CPUID's leaf 0xD xcr0 and the
	 * guest permission then: what KVM_CAP_XSAVE2 is computed from.
	 */
	bool kvm_xcr0_known;
	uint64_t kvm_xcr0;
	struct xsw_perm perm_at_kvm_xcr0;
	unsigned int nr_findings;	/* process-level lints (not about one vCPU) */
};

struct xsw_vcpu_state {
	uint32_t pid;
	char comm[16];
	uint64_t vm;			/* opaque id from the events */
	unsigned int vm_index;		/* 0, 1, ... in creation order within the process */
	int32_t vcpu_id;

	struct xsw_fpstate fps;		/* last known guest fpstate (fps.valid) */
	struct xsw_cpuid_xsave cpuid;	/* last successful KVM_SET_CPUID2 */
	unsigned int cpuid_generation;	/* successful KVM_SET_CPUID2 count */
	uint64_t guest_supported_xcr0;
	uint64_t guest_supported_xss;
	uint64_t guest_xcr0;		/* last seen at entry, 0 before the first run */
	bool ran;

	uint32_t required_size;		/* I2: compacted/kernel-format need, 0 unknown */
	int64_t headroom;		/* fps.size - required_size */
	enum xsw_vcpu_status status;
	unsigned int nr_violations;
	unsigned int nr_lints;

	uint64_t create_ts;		/* ns, CLOCK_MONOTONIC */
	uint64_t create_latency_ns;	/* KVM_CREATE_VCPU duration, 0 unknown */
	uint64_t set_cpuid_latency_ns;	/* last KVM_SET_CPUID2 duration, 0 unknown */
	uint64_t first_run_ts;
	/* Additions (engine-owned): */
	enum xsw_verdict verdict[XSW_NR_INVARIANTS];	/* I1..I5 over the lifetime */
	uint32_t uabi_size;		/* fpu_guest.uabi_size, 0 unknown */
	uint32_t hyp_buffer_size;	/* I5: last hypervisor buffer size, 0 none */
	uint64_t hyp_xcr0;
	unsigned int nr_reallocs;
	unsigned int nr_xcr0_changes;
	bool created_seen;		/* vcpu_create seen (else adopted mid-lifecycle) */
	bool destroyed;			/* vcpu_destroy / vm_destroy / process exit seen */
	uint64_t nr_events;		/* input events applied to this vCPU */
};

struct xsw_engine;

/*
 * A sink sees every input event (after the engine applied it, so @vcpu is
 * the updated state, or NULL when the event is not about one vCPU) and
 * every finding the checks make (type XSW_EV_VIOLATION / XSW_EV_LINT).
 */
struct xsw_sink {
	const char *name;
	void *ctx;
	void (*on_event)(void *ctx, struct xsw_engine *eng, const struct xsw_event *ev,
			 const struct xsw_vcpu_state *vcpu);
	/* Called just before the engine frees a vCPU's state. */
	void (*on_vcpu_gone)(void *ctx, struct xsw_engine *eng,
			     const struct xsw_vcpu_state *vcpu);
	void (*close)(void *ctx, struct xsw_engine *eng);
};

struct xsw_engine_opts {
	const struct xsw_cpu_model *cpu;	/* the host's CPU: sizes for the checks */
	bool compacted;				/* kernel buffer format (xsw_kernel_uses_compacted) */
	bool lints_are_failures;		/* --strict */
	uint32_t pid_filter;			/* 0: all processes */
};

struct xsw_engine *xsw_engine_new(const struct xsw_engine_opts *opts);
void xsw_engine_free(struct xsw_engine *eng);	/* calls each sink's close() */
int xsw_engine_add_sink(struct xsw_engine *eng, const struct xsw_sink *sink);

/* Apply one event, run the checks, fan out to the sinks. */
void xsw_engine_feed(struct xsw_engine *eng, const struct xsw_event *ev);

struct xsw_engine_totals {
	uint64_t events[XSW_EV_MAX];	/* by type, findings included */
	uint64_t violations;
	uint64_t lints;
	uint64_t lost;			/* sum of XSW_EV_LOST counts */
	uint64_t lost_skipped;		/* of which program runs the kernel skipped */
	uint64_t vcpus_seen;
	uint64_t vcpus_live;
	/* Additions (engine-owned): */
	uint64_t untracked;		/* events past the state bounds (not checked) */
	uint64_t ignored;		/* violation/lint events in the input (re-derived) */
};

/* State bounds: past them, new processes/vCPUs are not tracked (counted). */
#define XSW_ENGINE_MAX_PROCS	4096
#define XSW_ENGINE_MAX_VCPUS	16384

/* The exit status `run` and `replay` use when an invariant failed. */
#define XSW_EXIT_VIOLATION 3

/* True when the totals so far mean failure (violations; lints too with --strict). */
bool xsw_engine_failed(const struct xsw_engine *eng);
const struct xsw_engine_opts *xsw_engine_opts(const struct xsw_engine *eng);
const struct xsw_engine_totals *xsw_engine_totals(const struct xsw_engine *eng);

typedef void (*xsw_vcpu_cb)(const struct xsw_vcpu_state *vcpu, void *arg);
void xsw_engine_foreach_vcpu(const struct xsw_engine *eng, xsw_vcpu_cb cb, void *arg);
const struct xsw_proc_state *xsw_engine_proc(const struct xsw_engine *eng, uint32_t pid);

#endif /* XSW_ENGINE_H */
