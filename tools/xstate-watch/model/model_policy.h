/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The policies of the pKVM model: the three decisions on which today's
 * pKVM code and the proposed fixes differ. Everything else in the scenario
 * (the host kernel, host KVM, the hypervisor's kvm_set_cpuid()) is shared
 * and lives in model.c.
 */
#ifndef XSW_MODEL_POLICY_H
#define XSW_MODEL_POLICY_H

#include "model.h"

struct xsw_model_policy_ops {
	const char *name;
	const char *summary;
	/*
	 * Bytes the host donates to the hypervisor in
	 * pkvm_vcpu_realloc_fpstate() before syncing the CPUID, or 0 when it
	 * does not reallocate. @r holds the host side of the scenario.
	 */
	uint32_t (*realloc_size)(const struct xsw_model_result *r);
	/* What xstate_get_group_perm(true) answers inside the hypervisor. */
	uint64_t (*hyp_perm)(const struct xsw_model_result *r);
	/* The xcr0 leaf 0xD holds after pkvm_enforce_cpuid(). */
	uint64_t (*enforce_xcr0)(const struct xsw_model_result *r);
};

const struct xsw_model_policy_ops *xsw_model_policy_ops(enum xsw_model_policy policy);

/* kvm_get_filtered_xcr0() (arch/x86/kvm/x86.h) for a given guest permission. */
uint64_t xsw_model_filter_by_perm(uint64_t xcr0, uint64_t perm);

#endif /* XSW_MODEL_POLICY_H */
