// SPDX-License-Identifier: GPL-2.0
/*
 * Today's pKVM and the fixes proposed for intel-staging/pKVM-IA issue 87,
 * each reduced to the three decisions that differ between them:
 *
 *  1. how large a buffer the host donates before it syncs the vCPU's
 *     CPUID into the hypervisor (host side, arch/x86/kvm/vmx/pkvm_host.c:
 *     pkvm_vcpu_after_set_cpuid() -> pkvm_vcpu_realloc_fpstate() ->
 *     the vcpu_add_fpstate hypercall);
 *  2. which dynamic features the hypervisor treats as permitted
 *     (arch/x86/kvm/pkvm/fpu.c: pkvm_init_percpu_fpu() sets both the task
 *     and the guest permission to fpu_kernel_cfg.max_features);
 *  3. which xcr0 leaf 0xD holds after the hypervisor enforces its CPUID
 *     (arch/x86/kvm/pkvm/pkvm.c: pkvm_vcpu_after_set_cpuid() ->
 *     pkvm_enforce_cpuid(), which fills what the VMM left out from the
 *     native CPUID for protected vCPUs).
 */
#include <string.h>

#include "model_policy.h"

#define AMX	XSW_XF_MASK_AMX
#define XTILE_DATA XSW_XF_MASK(XSW_XF_XTILE_DATA)
#define XTILE_CFG XSW_XF_MASK(XSW_XF_XTILE_CFG)

uint64_t xsw_model_filter_by_perm(uint64_t xcr0, uint64_t perm)
{
	if (!(xcr0 & XTILE_DATA))
		return xcr0;
	xcr0 &= perm;
	/* XTILECFG without XTILEDATA is architecturally illegal in XCR0. */
	if (!(xcr0 & XTILE_DATA))
		xcr0 &= ~XTILE_CFG;
	return xcr0;
}

/*
 * pkvm_vcpu_realloc_fpstate(): PAGE_ALIGN(guest_fpu.fpstate->size + the
 * fpstate header), called only when the host's own guest FPU already has a
 * dynamic feature enabled, i.e. when host KVM's kvm_check_cpuid() ran
 * fpu_enable_guest_xfd_features() for a CPUID that has XTILEDATA, which in
 * turn needs the VMM's guest permission.
 */
static uint32_t realloc_if_host_enabled(const struct xsw_model_result *r)
{
	if (!(r->host_fpu_xfeatures & XTILE_DATA))
		return 0;
	return XSW_MODEL_PAGE_ALIGN(r->host_fps_size + XSW_MODEL_FPSTATE_HDR);
}

/*
 * PR 77 replaces guest_fpu.fpstate->size with fpu_user_cfg.max_size, "since
 * pKVM enforces the host's cpuids". The diff keeps the guard above, which
 * (as the review on the PR points out) a VMM without permission never
 * passes; the PR's stated intent, and the only reading under which it fixes
 * crosvm, is that every protected vCPU of a host whose CPU has a dynamic
 * feature gets the hardware-maximum buffer. That is what this policy
 * models. The guard is relaxed to "the host CPU has a dynamic feature"
 * rather than dropped: the hypervisor refuses a replacement that is not
 * larger than the current buffer (vcpu_add_fpstate returns -EINVAL when
 * old->size >= size), and on a CPU without AMX the maximum fits the
 * initial page anyway.
 */
static uint32_t realloc_max_size(const struct xsw_model_result *r)
{
	if (!(r->host.max_features & XTILE_DATA))
		return realloc_if_host_enabled(r);
	return XSW_MODEL_PAGE_ALIGN(r->host.user_max_size + XSW_MODEL_FPSTATE_HDR);
}

/* pkvm_init_percpu_fpu(): everything the kernel supports is "permitted". */
static uint64_t perm_everything(const struct xsw_model_result *r)
{
	return r->host.max_features;
}

/* The alternative raised on PR 88: sync the VMM process's guest permission. */
static uint64_t perm_of_process(const struct xsw_model_result *r)
{
	return r->guest_perm;
}

/*
 * Today's enforcement: the native leaf 0xD wins, so the enforced xcr0 is
 * everything the hypervisor's KVM supports (cpuid_get_supported_xcr0()
 * masks it with kvm_caps.supported_xcr0), whatever the VMM installed.
 */
static uint64_t enforce_native(const struct xsw_model_result *r)
{
	return (r->vmm_xcr0 | r->host.kvm_supported_xcr0) & r->host.kvm_supported_xcr0;
}

/*
 * PR 88: keep the AMX components only when the VMM's CPUID has them;
 * otherwise clear them from the enforced result (and refresh the leaf 0xD
 * sizes, which the model recomputes from the mask).
 */
static uint64_t enforce_amx_as_vmm(const struct xsw_model_result *r)
{
	uint64_t xcr0 = enforce_native(r);

	if (!(r->vmm_xcr0 & XTILE_DATA))
		xcr0 &= ~AMX;
	return xcr0;
}

/*
 * Permission sync: the hypervisor filters the native xcr0 with the
 * process's guest permission exactly as host KVM's kvm_get_filtered_xcr0()
 * does for KVM_GET_SUPPORTED_CPUID.
 */
static uint64_t enforce_filtered_by_perm(const struct xsw_model_result *r)
{
	return xsw_model_filter_by_perm(enforce_native(r), r->guest_perm);
}

static const struct xsw_model_policy_ops policies[XSW_POLICY_NR] = {
	[XSW_POLICY_CURRENT] = {
		.name = "current",
		.summary = "pKVM-IA today: native CPUID enforced, hypervisor permits everything, "
			   "buffer grown only if host KVM enabled a dynamic feature",
		.realloc_size = realloc_if_host_enabled,
		.hyp_perm = perm_everything,
		.enforce_xcr0 = enforce_native,
	},
	[XSW_POLICY_PR77_MAX_SIZE] = {
		.name = "pr77-max-size",
		.summary = "PR 77: buffer sized from fpu_user_cfg.max_size for every protected vCPU "
			   "on a CPU with dynamic features",
		.realloc_size = realloc_max_size,
		.hyp_perm = perm_everything,
		.enforce_xcr0 = enforce_native,
	},
	[XSW_POLICY_PR88_ALIGN] = {
		.name = "pr88-align",
		.summary = "PR 88: AMX kept only if the VMM's CPUID has it, cleared otherwise",
		.realloc_size = realloc_if_host_enabled,
		.hyp_perm = perm_everything,
		.enforce_xcr0 = enforce_amx_as_vmm,
	},
	[XSW_POLICY_PERM_SYNC] = {
		.name = "perm-sync",
		.summary = "the VMM process's guest permission synced into the hypervisor",
		.realloc_size = realloc_if_host_enabled,
		.hyp_perm = perm_of_process,
		.enforce_xcr0 = enforce_filtered_by_perm,
	},
};

const struct xsw_model_policy_ops *xsw_model_policy_ops(enum xsw_model_policy policy)
{
	if ((unsigned int)policy >= XSW_POLICY_NR)
		return NULL;
	return &policies[policy];
}

const char *xsw_model_policy_name(enum xsw_model_policy policy)
{
	const struct xsw_model_policy_ops *ops = xsw_model_policy_ops(policy);

	return ops ? ops->name : NULL;
}

const char *xsw_model_policy_summary(enum xsw_model_policy policy)
{
	const struct xsw_model_policy_ops *ops = xsw_model_policy_ops(policy);

	return ops ? ops->summary : NULL;
}

int xsw_model_policy_from_name(const char *name)
{
	unsigned int i;

	for (i = 0; i < XSW_POLICY_NR; i++)
		if (!strcmp(policies[i].name, name))
			return (int)i;
	return -1;
}
