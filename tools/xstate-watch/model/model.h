/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The pKVM scenario model: what happens to a protected vCPU's FPU state
 * when a VMM creates it on a pKVM host (intel-staging/pKVM-IA issue 87,
 * pull requests 77 and 88), for one CPU model, one VMM behaviour and one
 * policy (today's code or one of the proposed fixes).
 *
 * The model does not run pKVM. It recomputes, from CPUID leaf 0xD through
 * the project's size model (xstate.h), the masks and sizes each step of
 * the real code path derives, and describes every step as the same
 * struct xsw_event the probes emit (source XSW_SRC_MODEL), so that the
 * collector's own engine and invariant I5 judge the result. docs/pkvm-model.md
 * explains each step and where in the kernel and in pKVM it comes from.
 */
#ifndef XSW_MODEL_H
#define XSW_MODEL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "xstate.h"
#include "xsw_err.h"
#include "xsw_event.h"

/* ARCH_REQ_XCOMP_GUEST_PERM (arch/x86/include/uapi/asm/prctl.h). */
#define XSW_MODEL_ARCH_REQ_XCOMP_GUEST_PERM	0x1025
/* ALIGN(offsetof(struct fpstate, regs), 64): the 64-byte fpstate header. */
#define XSW_MODEL_FPSTATE_HDR			64u
#define XSW_MODEL_PAGE_SIZE			4096u
#define XSW_MODEL_PAGE_ALIGN(x) \
	(((x) + XSW_MODEL_PAGE_SIZE - 1) & ~(XSW_MODEL_PAGE_SIZE - 1))

/* How the VMM sets up guest FPU permission and the guest CPUID. */
enum xsw_model_vmm {
	/* crosvm: no permission request, KVM_GET_SUPPORTED_CPUID used as-is. */
	XSW_VMM_CROSVM = 0,
	/* QEMU: requests XTILEDATA when the CPU has it, then reads supported CPUID. */
	XSW_VMM_QEMU,
	/* QEMU with "-cpu ...,-amx": requests permission, installs CPUID without AMX. */
	XSW_VMM_QEMU_NO_AMX,
	/* A VMM that copies the CPU's raw leaf 0xD (AMX included) without permission. */
	XSW_VMM_RAW_AMX_NO_PERM,
	XSW_VMM_NR,
};

/* Which pKVM code the scenario runs. */
enum xsw_model_policy {
	XSW_POLICY_CURRENT = 0,		/* pKVM-IA pkvm-v6.18 as of issue 87 */
	XSW_POLICY_PR77_MAX_SIZE,	/* hypervisor buffer from fpu_user_cfg.max_size */
	XSW_POLICY_PR88_ALIGN,		/* AMX only if the VMM's CPUID has it */
	XSW_POLICY_PERM_SYNC,		/* hypervisor honours the process's guest permission */
	XSW_POLICY_NR,
};

const char *xsw_model_vmm_name(enum xsw_model_vmm vmm);
const char *xsw_model_vmm_summary(enum xsw_model_vmm vmm);
int xsw_model_vmm_from_name(const char *name);		/* -1 when unknown */
const char *xsw_model_policy_name(enum xsw_model_policy policy);
const char *xsw_model_policy_summary(enum xsw_model_policy policy);
int xsw_model_policy_from_name(const char *name);	/* -1 when unknown */

/*
 * What the host kernel derives from the CPU at boot (fpu__init_system_xstate()
 * and init_xstate_size() in arch/x86/kernel/fpu/xstate.c, kvm_x86_vendor_init()
 * in arch/x86/kvm/x86.c).
 */
struct xsw_model_host {
	uint64_t max_features;		/* fpu_kernel_cfg.max_features */
	uint64_t default_features;	/* fpu_kernel_cfg.default_features */
	uint64_t user_max_features;	/* fpu_user_cfg.max_features */
	uint64_t user_default_features;	/* fpu_user_cfg.default_features */
	uint32_t kernel_default_size;	/* fpu_kernel_cfg.default_size */
	uint32_t user_default_size;	/* fpu_user_cfg.default_size (standard) */
	uint32_t user_max_size;		/* fpu_user_cfg.max_size (standard) */
	uint64_t kvm_supported_xcr0;	/* kvm_caps.supported_xcr0 */
	bool compacted;			/* X86_FEATURE_XCOMPACTED */
};

void xsw_model_host_init(struct xsw_model_host *h, const struct xsw_cpu_model *cpu);
/* pkvm_guest_initial_fpstate_size() for a protected VM. */
uint32_t xsw_model_initial_hyp_size(const struct xsw_model_host *h);

struct xsw_model_scenario {
	const struct xsw_cpu_model *cpu;
	const char *cpu_label;		/* short name for tables ("sapphire-rapids-w9-3475x") */
	enum xsw_model_vmm vmm;
	enum xsw_model_policy policy;
	uint32_t pid;			/* identity of the modelled VMM process */
	uint64_t vm;			/* opaque VM id */
};

/* Everything the scenario derived, step by step. */
struct xsw_model_result {
	struct xsw_model_host host;

	/* The VMM process. */
	bool perm_requested;
	int perm_ret;			/* ARCH_REQ_XCOMP_GUEST_PERM result */
	uint64_t guest_perm;		/* fpu->guest_perm.__state_perm afterwards */
	uint32_t guest_perm_size;	/* fpu->guest_perm.__state_size */
	uint64_t supported_xcr0;	/* KVM_GET_SUPPORTED_CPUID leaf 0xD */
	uint64_t vmm_xcr0;		/* leaf 0xD the VMM installs */

	/* Host KVM (kvm_set_cpuid() on the host). */
	int host_ret;			/* 0, or -EPERM from fpu_enable_guest_xfd_features() */
	uint64_t host_guest_supported_xcr0;
	uint64_t host_fpu_xfeatures;	/* vcpu->arch.guest_fpu.xfeatures */
	uint32_t host_fps_size;		/* vcpu->arch.guest_fpu.fpstate->size */
	uint32_t host_bytes;		/* host guest fpstate allocation (vzalloc) */

	/* The pKVM hypervisor. */
	uint32_t hyp_initial_size;	/* donated at vcpu_create */
	bool hyp_realloc;		/* host donated a new buffer (vcpu_add_fpstate) */
	uint32_t hyp_buffer_size;	/* fps->size when the CPUID is enforced */
	uint64_t hyp_perm;		/* what xstate_get_group_perm() answers in the hypervisor */
	uint64_t hyp_fps_xfeatures;	/* fps->xfeatures before enforcement */
	bool synced;			/* the CPUID reached the hypervisor */
	uint64_t hyp_xcr0;		/* enforced leaf 0xD xcr0 */
	uint64_t hyp_xfd_event;		/* dynamic features __xfd_enable_feature() enables */
	uint32_t hyp_need;		/* size it requires (0: not called) */
	int hyp_ret;			/* 0, -ENOMEM, -EPERM */
	uint64_t guest_xcr0;		/* guest-visible xcr0, 0 when the VM is dead */
	bool changed_behind_vmm;	/* guest_xcr0 != what the VMM installed */

	/* I5 as the model computes it (the engine's verdict is separate). */
	uint32_t i5_need;		/* size(hyp_xcr0 | supervisor part, compacted) */
	bool i5_holds;
};

typedef void (*xsw_model_emit_fn)(void *arg, const struct xsw_event *ev);

/*
 * Run one scenario: fill @r and, when @emit is set, call it with each event
 * in the order the probes would report them. Returns 0, or -EINVAL with
 * @err naming the bad input.
 */
int xsw_model_run(const struct xsw_model_scenario *s, struct xsw_model_result *r,
		  xsw_model_emit_fn emit, void *arg, struct xsw_err *err);

/* --- engine (model_engine.c; needs the collector's libxswengine.a) ------ */

#define XSW_MODEL_MAX_FINDINGS 16

struct xsw_model_verdict {
	unsigned int nr_events;
	unsigned int nr_violations;
	unsigned int nr_lints;
	unsigned int nr_findings;
	struct xsw_event findings[XSW_MODEL_MAX_FINDINGS];	/* violation/lint events */
};

/*
 * Run the scenario through a fresh collector engine (xsw_engine_new() with
 * the scenario's CPU) and collect what its checks found. @events, when set,
 * receives every fed event and every finding as JSON lines.
 */
int xsw_model_judge(const struct xsw_model_scenario *s, struct xsw_model_result *r,
		    struct xsw_model_verdict *v, FILE *events, struct xsw_err *err);

/* --- the command ------------------------------------------------------- */

/* `xstate-watch model ...`; argv[0] is "model". */
int xsw_model_main(int argc, char **argv);

#endif /* XSW_MODEL_H */
