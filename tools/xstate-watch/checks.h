/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The invariant checks I1-I5 and the lints of DESIGN.md ("Invariants").
 *
 * Each check is a pure function of sizes and masks: it returns a verdict
 * and, when it fails, fills a struct xsw_ev_finding with both sides (what
 * the buffer holds, what the state needs) and a one-line explanation.
 * Sizes come from the xstate size model with the CPU model the checker was
 * set up with (the host's, or --cpu-model FILE).
 *
 * xsw_checks_run() decides which checks an event exposes; the engine
 * calls it after applying the event to the process/vCPU state.
 */
#ifndef XSW_CHECKS_H
#define XSW_CHECKS_H

#include <stdbool.h>
#include <stdint.h>

#include "engine.h"
#include "xstate.h"
#include "xsw_event.h"

enum xsw_check {
	XSW_CHECK_I1 = 0,		/* fpstate self-consistency */
	XSW_CHECK_I2,			/* guest coverage */
	XSW_CHECK_I3,			/* permission */
	XSW_CHECK_I4,			/* uABI size */
	XSW_CHECK_I5,			/* hypervisor buffer */
	XSW_LINT_CPUID_BEFORE_PERM,	/* KVM_GET_SUPPORTED_CPUID before the perm request */
	XSW_LINT_PERM_AFTER_LOCK,	/* perm request after the lock (EBUSY) */
	XSW_LINT_CPUID_AFTER_RUN,	/* KVM_SET_CPUID2 after the first KVM_RUN */
	XSW_LINT_CPUID_SIZE_LOW,	/* leaf 0xD sizes understate the features enabled */
	XSW_CHECK_MAX,
};

struct xsw_check_info {
	const char *id;		/* "I2", "cpuid-after-run": the finding's id (< 16 chars) */
	const char *title;	/* "guest coverage" */
	bool lint;
};

const struct xsw_check_info *xsw_check_info(enum xsw_check c);
/* enum xsw_check for a finding id, or -1. */
int xsw_check_from_id(const char *id);

struct xsw_checker {
	const struct xsw_cpu_model *cpu;
	bool compacted;			/* the kernel's buffers use the compacted format */
	uint64_t dynamic;		/* xsw_xfeatures_dynamic(cpu) */
	uint64_t supervisor;		/* xsw_xfeatures_supervisor(cpu) */
};

void xsw_checker_init(struct xsw_checker *c, const struct xsw_cpu_model *cpu, bool compacted);

/*
 * The checks themselves. Each returns XSW_VERDICT_HOLDS, XSW_VERDICT_FAILS
 * (with @f filled: id, sizes, masks, text; not cause_type) or
 * XSW_VERDICT_UNKNOWN when its inputs are not known.
 */
/* I1: fps->size >= size(xfeatures, kernel format), user_size >= size(user_xfeatures, std). */
enum xsw_verdict xsw_check_i1(const struct xsw_checker *c, const struct xsw_fpstate *fps,
			      struct xsw_ev_finding *f);
/* I2: fps->size >= size(guest_supported_xcr0 | supervisor part of fps->xfeatures). */
enum xsw_verdict xsw_check_i2(const struct xsw_checker *c, const struct xsw_fpstate *fps,
			      uint64_t guest_supported_xcr0, struct xsw_ev_finding *f);
/* I3: dynamic features in @may_enable are in @perm. */
enum xsw_verdict xsw_check_i3(const struct xsw_checker *c, uint64_t may_enable,
			      const struct xsw_perm *perm, struct xsw_ev_finding *f);
/* I4: fps->user_size (and @uabi_size when non-zero) >= size(guest_supported_xcr0, std). */
enum xsw_verdict xsw_check_i4(const struct xsw_checker *c, const struct xsw_fpstate *fps,
			      uint32_t uabi_size, uint64_t guest_supported_xcr0,
			      struct xsw_ev_finding *f);
/*
 * I4, the other way: @uabi_size (what KVM_GET_XSAVE2 writes: the state of
 * @uabi_xfeatures) <= what KVM_CAP_XSAVE2 reports, max(sizeof(struct
 * kvm_xsave), size(@kvm_xcr0, std)). @kvm_xcr0 is KVM's supported xcr0
 * filtered by the guest permission: KVM_GET_SUPPORTED_CPUID's leaf 0xD
 * read under that permission.
 */
enum xsw_verdict xsw_check_i4_cap(const struct xsw_checker *c, uint32_t uabi_size,
				  uint64_t uabi_xfeatures, uint64_t kvm_xcr0,
				  struct xsw_ev_finding *f);
/* I5: @hyp_buffer_size >= size(@hyp_xcr0 | @supervisor_xfeatures, kernel format). */
enum xsw_verdict xsw_check_i5(const struct xsw_checker *c, uint32_t hyp_buffer_size,
			      uint64_t hyp_xcr0, uint64_t supervisor_xfeatures,
			      struct xsw_ev_finding *f);
/* Lint: a KVM_SET_CPUID2 whose 0xD.0 ECX is below the standard size of its own xcr0. */
enum xsw_verdict xsw_lint_cpuid_size(const struct xsw_checker *c,
				     const struct xsw_cpuid_xsave *cpuid,
				     struct xsw_ev_finding *f);

/* One finding from xsw_checks_run(). */
typedef void (*xsw_finding_fn)(void *arg, enum xsw_check check,
			       const struct xsw_ev_finding *f);

/*
 * Run every check @ev exposes. @proc and @vcpu (either may be NULL) are the
 * state after the engine applied @ev; @prev_vcpu is the vCPU state before
 * it (NULL when the vCPU is new). Verdicts of the invariants that ran go to
 * @verdicts[XSW_CHECK_I1..I5] (others stay XSW_VERDICT_UNKNOWN); each
 * failure and each lint goes to @fn with cause_type set.
 */
void xsw_checks_run(const struct xsw_checker *c, const struct xsw_event *ev,
		    const struct xsw_proc_state *proc, const struct xsw_vcpu_state *vcpu,
		    const struct xsw_vcpu_state *prev_vcpu,
		    enum xsw_verdict verdicts[XSW_NR_INVARIANTS], xsw_finding_fn fn, void *arg);

#endif /* XSW_CHECKS_H */
