// SPDX-License-Identifier: GPL-2.0
/*
 * The pKVM scenario model, core: one VMM process creates one protected VM
 * with one vCPU on a pKVM host, installs a CPUID, and the hypervisor
 * enforces its own. Each step recomputes what the real code derives, from
 * the CPU model's leaf 0xD through the project's size model, and is
 * described as the struct xsw_event a probe would report.
 *
 * References are to Linux 6.12 (Debian linux-source-6.12) for the host
 * kernel and to intel-staging/pKVM-IA (branch pkvm-v6.18) for pKVM. The
 * decisions on which the policies differ are in model_policy.c.
 */
#include <errno.h>
#include <string.h>

#include "model.h"
#include "model_policy.h"

#define XTILE_DATA	XSW_XF_MASK(XSW_XF_XTILE_DATA)

/* XFEATURE_MASK_USER_SUPPORTED (arch/x86/include/asm/fpu/xstate.h). */
#define USER_SUPPORTED	(XSW_XF_MASK_FPSSE | XSW_XF_MASK(XSW_XF_YMM) | XSW_XF_MASK_MPX | \
			 XSW_XF_MASK_AVX512 | XSW_XF_MASK(XSW_XF_PKRU) | XSW_XF_MASK_AMX)
/* XFEATURE_MASK_SUPERVISOR_SUPPORTED (same file, 6.12): PASID and CET user. */
#define SUPERVISOR_SUPPORTED (XSW_XF_MASK(XSW_XF_PASID) | XSW_XF_MASK(XSW_XF_CET_USER))
/* KVM_SUPPORTED_XCR0 (arch/x86/kvm/x86.c). */
#define KVM_SUPPORTED_XCR0 (XSW_XF_MASK_FPSSE | XSW_XF_MASK(XSW_XF_YMM) | XSW_XF_MASK_MPX | \
			    XSW_XF_MASK_AVX512 | XSW_XF_MASK(XSW_XF_PKRU) | XSW_XF_MASK_AMX)
/* CPUID.7.0:EDX AMX-BF16, AMX-TILE, AMX-INT8. */
#define LEAF7_EDX_AMX	((1u << 22) | (1u << 24) | (1u << 25))

/*
 * Not pKVM-IA's KVM_X86_PKVM_PROTECTED_VM number: a marker for "protected
 * VM" in model traces (no check depends on the VM type).
 */
#define XSW_MODEL_VM_TYPE_PROTECTED 0x70766d	/* "pvm" */

static const struct {
	const char *name;
	const char *summary;
} vmms[XSW_VMM_NR] = {
	[XSW_VMM_CROSVM] = { "crosvm",
		"no guest permission request; KVM_GET_SUPPORTED_CPUID installed as-is" },
	[XSW_VMM_QEMU] = { "qemu",
		"requests XTILEDATA guest permission when the CPU has it, then installs supported CPUID" },
	[XSW_VMM_QEMU_NO_AMX] = { "qemu-no-amx",
		"requests the permission but installs CPUID with AMX masked out (-cpu ...,-amx)" },
	[XSW_VMM_RAW_AMX_NO_PERM] = { "raw-amx-no-perm",
		"no permission request; installs the CPU's own leaf 0xD, AMX included" },
};

const char *xsw_model_vmm_name(enum xsw_model_vmm vmm)
{
	return (unsigned int)vmm < XSW_VMM_NR ? vmms[vmm].name : NULL;
}

const char *xsw_model_vmm_summary(enum xsw_model_vmm vmm)
{
	return (unsigned int)vmm < XSW_VMM_NR ? vmms[vmm].summary : NULL;
}

int xsw_model_vmm_from_name(const char *name)
{
	unsigned int i;

	for (i = 0; i < XSW_VMM_NR; i++)
		if (!strcmp(vmms[i].name, name))
			return (int)i;
	return -1;
}

/*
 * fpu__init_system_xstate() and init_xstate_size()
 * (arch/x86/kernel/fpu/xstate.c): what the kernel enables from what the
 * CPU enumerates. The per-feature CPUID cross-checks of
 * xsave_cpuid_features[] are not modelled: the fixtures' leaf 0xD only
 * lists features their CPUs have.
 */
void xsw_model_host_init(struct xsw_model_host *h, const struct xsw_cpu_model *cpu)
{
	uint64_t max = xsw_xcr0_supported(cpu) & USER_SUPPORTED;

	memset(h, 0, sizeof(*h));
	if (xsw_has_xsaves(cpu))
		max |= xsw_xss_supported(cpu) & SUPERVISOR_SUPPORTED;
	if (!xsw_has_xfd(cpu))
		max &= ~XTILE_DATA;
	h->compacted = xsw_kernel_uses_compacted(cpu);
	h->max_features = max;
	h->default_features = max & ~XTILE_DATA;
	h->user_max_features = max & USER_SUPPORTED;
	h->user_default_features = h->user_max_features & ~XTILE_DATA;
	h->kernel_default_size = xsw_xstate_size(cpu, h->default_features, h->compacted);
	h->user_default_size = xsw_xstate_size(cpu, h->user_default_features, false);
	h->user_max_size = xsw_xstate_size(cpu, h->user_max_features, false);
	/* XCR0 is fpu_user_cfg.max_features; KVM masks it (kvm_x86_vendor_init()). */
	h->kvm_supported_xcr0 = h->user_max_features & KVM_SUPPORTED_XCR0;
}

/*
 * pkvm_guest_initial_fpstate_size() (arch/x86/kvm/pkvm/pkvm.h, used by both
 * the host's pkvm_vcpu_create() and the hypervisor's): the fpstate header
 * plus fpu_user_cfg.default_size (standard format, no dynamic feature),
 * page aligned. The hypervisor records the whole donation as fps->size.
 */
uint32_t xsw_model_initial_hyp_size(const struct xsw_model_host *h)
{
	return XSW_MODEL_PAGE_ALIGN(XSW_MODEL_FPSTATE_HDR + h->user_default_size);
}

struct emitter {
	const struct xsw_model_scenario *s;
	xsw_model_emit_fn emit;
	void *arg;
	uint64_t ts;
};

static void ev_init(struct emitter *e, struct xsw_event *ev, enum xsw_event_type type,
		    int32_t vcpu_id)
{
	memset(ev, 0, sizeof(*ev));
	e->ts += 1000;
	ev->ts_ns = e->ts;
	ev->type = type;
	ev->source = XSW_SRC_MODEL;
	ev->pid = e->s->pid;
	ev->tid = e->s->pid;
	snprintf(ev->comm, sizeof(ev->comm), "%s", xsw_model_vmm_name(e->s->vmm));
	ev->vm = type == XSW_EV_PERM_REQUEST || type == XSW_EV_SUPPORTED_CPUID ? 0 : e->s->vm;
	ev->vcpu_id = vcpu_id;
}

static void ev_emit(struct emitter *e, const struct xsw_event *ev)
{
	if (e->emit)
		e->emit(e->arg, ev);
}

static struct xsw_perm perm_of(uint64_t perm, uint32_t size, uint32_t user_size, bool locked)
{
	struct xsw_perm p = {
		.perm = perm,
		.size = size,
		.user_size = user_size,
		.locked = locked,
		.valid = 1,
	};

	return p;
}

/* What a CPUID table's leaf 0xD says for @xcr0 (KVM fills EBX/ECX this way). */
static struct xsw_cpuid_xsave cpuid_of(const struct xsw_cpu_model *cpu, uint64_t xcr0)
{
	struct xsw_cpuid_xsave c = {
		.xcr0 = xcr0,
		.size_std = xsw_xstate_size(cpu, xcr0, false),
		.size_max = xsw_xstate_size(cpu, xcr0, false),
		.size_compacted = xsw_xstate_size(cpu, xcr0, true),
		.leaf7_edx = xsw_cpu_model_get(cpu, 7, 0).edx,
		.has_leaf_d = 1,
	};

	/* The AMX CPUID bits follow the AMX state components. */
	if (!(xcr0 & XTILE_DATA))
		c.leaf7_edx &= ~LEAF7_EDX_AMX;
	return c;
}

/*
 * The hypervisor's fpstate as the events describe it. @size is fps->size as
 * the hypervisor holds it (the whole donation). The hypervisor keeps no
 * uABI copy of the state; user_size is given as the standard size of the
 * user features so that the fpstate is self-consistent (I1) and only the
 * kernel-format buffer is judged.
 */
static struct xsw_fpstate hyp_fpstate(const struct xsw_cpu_model *cpu, uint32_t size,
				      uint64_t xfeatures)
{
	struct xsw_fpstate f = {
		.size = size,
		.user_size = xsw_xstate_size(cpu, xfeatures & USER_SUPPORTED, false),
		.xfeatures = xfeatures,
		.user_xfeatures = xfeatures & USER_SUPPORTED,
		.is_guest = 1,
		.valid = 1,
	};

	return f;
}

/*
 * xstate_request_perm() / __xstate_request_perm() (arch/x86/kernel/fpu/xstate.c)
 * for ARCH_REQ_XCOMP_GUEST_PERM with XTILEDATA: the request covers both AMX
 * components; the size is computed with the already permitted features
 * (supervisor ones included), the stored permission keeps the user ones.
 */
static int request_amx_perm(const struct xsw_cpu_model *cpu, struct xsw_model_result *r)
{
	uint64_t mask;

	if ((r->host.user_max_features & XSW_XF_MASK_AMX) != XSW_XF_MASK_AMX)
		return -EOPNOTSUPP;
	mask = r->guest_perm | XSW_XF_MASK_AMX;
	r->guest_perm_size = xsw_xstate_size(cpu, mask, r->host.compacted);
	r->guest_perm = mask & USER_SUPPORTED;
	return 0;
}

static bool vmm_requests_perm(enum xsw_model_vmm vmm, const struct xsw_model_host *h)
{
	switch (vmm) {
	case XSW_VMM_QEMU:
	case XSW_VMM_QEMU_NO_AMX:
		return h->user_max_features & XTILE_DATA;
	default:
		return false;
	}
}

static uint64_t vmm_cpuid_xcr0(enum xsw_model_vmm vmm, const struct xsw_model_result *r)
{
	switch (vmm) {
	case XSW_VMM_QEMU_NO_AMX:
		return r->supported_xcr0 & ~XSW_XF_MASK_AMX;
	case XSW_VMM_RAW_AMX_NO_PERM:
		return r->host.kvm_supported_xcr0;
	default:
		return r->supported_xcr0;
	}
}

int xsw_model_run(const struct xsw_model_scenario *s, struct xsw_model_result *r,
		  xsw_model_emit_fn emit, void *arg, struct xsw_err *err)
{
	const struct xsw_model_policy_ops *ops = xsw_model_policy_ops(s->policy);
	struct emitter e = { .s = s, .emit = emit, .arg = arg, .ts = 1000000 };
	const struct xsw_cpu_model *cpu = s->cpu;
	struct xsw_perm perm_before;
	struct xsw_event ev;
	uint64_t sup, hyp_fpu_xfeatures, xfd;
	uint32_t realloc;

	if (!cpu)
		return xsw_err_set(err, EINVAL, "model: no CPU model given");
	if (!ops)
		return xsw_err_set(err, EINVAL, "model: policy %d out of range", (int)s->policy);
	if ((unsigned int)s->vmm >= XSW_VMM_NR)
		return xsw_err_set(err, EINVAL, "model: VMM behaviour %d out of range", (int)s->vmm);

	memset(r, 0, sizeof(*r));
	xsw_model_host_init(&r->host, cpu);
	sup = xsw_xfeatures_supervisor(cpu);

	/*
	 * The process's guest permission starts as the kernel's default
	 * features (fpu_clone() / fpstate_reset() copy fpu->perm to guest_perm).
	 */
	r->guest_perm = r->host.default_features;
	r->guest_perm_size = r->host.kernel_default_size;
	perm_before = perm_of(r->guest_perm, r->guest_perm_size, r->host.user_default_size, false);

	/* 1. arch_prctl(ARCH_REQ_XCOMP_GUEST_PERM, XFEATURE_XTILE_DATA). */
	if (vmm_requests_perm(s->vmm, &r->host)) {
		r->perm_requested = true;
		r->perm_ret = request_amx_perm(cpu, r);
		ev_init(&e, &ev, XSW_EV_PERM_REQUEST, -1);
		ev.ret = r->perm_ret;
		ev.perm.option = XSW_MODEL_ARCH_REQ_XCOMP_GUEST_PERM;
		ev.perm.guest = 1;
		ev.perm.request = 1;
		ev.perm.arg = XSW_XF_XTILE_DATA;
		ev.perm.before = perm_before;
		ev.perm.after = perm_of(r->guest_perm, r->guest_perm_size,
					xsw_xstate_size(cpu, r->guest_perm & USER_SUPPORTED, false),
					false);
		ev_emit(&e, &ev);
	}

	/*
	 * 2. KVM_GET_SUPPORTED_CPUID: leaf 0xD is kvm_caps.supported_xcr0
	 * filtered by the guest permission (kvm_get_filtered_xcr0() in
	 * arch/x86/kvm/x86.h, used by __do_cpuid_func() in cpuid.c).
	 */
	r->supported_xcr0 = xsw_model_filter_by_perm(r->host.kvm_supported_xcr0, r->guest_perm);
	ev_init(&e, &ev, XSW_EV_SUPPORTED_CPUID, -1);
	ev.supported.system = 1;
	ev.supported.cpuid = cpuid_of(cpu, r->supported_xcr0);
	ev.supported.guest_perm = perm_of(r->guest_perm, r->guest_perm_size,
					  xsw_xstate_size(cpu, r->guest_perm & USER_SUPPORTED, false),
					  false);
	ev_emit(&e, &ev);

	/* 3. KVM_CREATE_VM with the protected VM type (pkvm_vm_init()). */
	ev_init(&e, &ev, XSW_EV_VM_CREATE, -1);
	ev.vm_create.type = XSW_MODEL_VM_TYPE_PROTECTED;
	ev_emit(&e, &ev);

	/*
	 * 4. KVM_CREATE_VCPU. The host allocates its own guest fpstate
	 * (fpu_alloc_guest_fpstate(): fpu_kernel_cfg.default_size plus the
	 * header, vzalloc'ed) and locks the guest permission, then
	 * pkvm_vcpu_create() (arch/x86/kvm/vmx/pkvm_host.c) donates
	 * pkvm_guest_initial_fpstate_size() bytes, which the hypervisor's
	 * pkvm_vcpu_create() (arch/x86/kvm/pkvm/pkvm.c) records as fps->size.
	 * pkvm_init_guest_fpu() (arch/x86/kvm/pkvm/fpu.c) gives it the
	 * default features the hypervisor's permission allows.
	 */
	r->host_fps_size = r->host.kernel_default_size;
	r->host_bytes = XSW_MODEL_PAGE_ALIGN(r->host_fps_size + XSW_MODEL_FPSTATE_HDR);
	r->host_fpu_xfeatures = r->host.user_default_features;
	r->hyp_initial_size = xsw_model_initial_hyp_size(&r->host);
	r->hyp_buffer_size = r->hyp_initial_size;
	r->hyp_perm = ops->hyp_perm(r);
	r->hyp_fps_xfeatures = r->host.default_features & (r->hyp_perm | sup);
	hyp_fpu_xfeatures = r->hyp_fps_xfeatures & USER_SUPPORTED;

	ev_init(&e, &ev, XSW_EV_VCPU_CREATE, 0);
	ev.vcpu.fps = hyp_fpstate(cpu, r->hyp_initial_size, r->hyp_fps_xfeatures);
	ev.vcpu.guest_perm = perm_of(r->guest_perm, r->guest_perm_size,
				     xsw_xstate_size(cpu, r->guest_perm & USER_SUPPORTED, false),
				     true);
	ev.vcpu.fpu_guest_perm = r->hyp_perm;
	ev.vcpu.fpu_guest_xfeatures = hyp_fpu_xfeatures;
	ev.vcpu.uabi_size = 0;	/* the host's fpu_guest, not the hypervisor's: unknown here */
	ev.vcpu.locked_now = 1;
	ev_emit(&e, &ev);

	/*
	 * 5. KVM_SET_CPUID2 on the host: kvm_set_cpuid() -> kvm_check_cpuid()
	 * (arch/x86/kvm/cpuid.c) enables dynamic features the CPUID lists via
	 * fpu_enable_guest_xfd_features() -> __xfd_enable_feature(), which
	 * fails with -EPERM without the guest permission, and otherwise grows
	 * the host's guest fpstate to the permission's size (fpstate_realloc()).
	 */
	r->vmm_xcr0 = vmm_cpuid_xcr0(s->vmm, r);
	r->host_guest_supported_xcr0 = r->vmm_xcr0 & r->host.kvm_supported_xcr0;
	xfd = r->vmm_xcr0 & XTILE_DATA & ~r->host_fpu_xfeatures;
	if (xfd && (r->guest_perm & xfd) != xfd) {
		r->host_ret = -EPERM;
	} else if (xfd) {
		r->host_fps_size = r->guest_perm_size;
		r->host_bytes = XSW_MODEL_PAGE_ALIGN(r->host_fps_size + XSW_MODEL_FPSTATE_HDR);
		r->host_fpu_xfeatures |= xfd;
	}

	if (!r->host_ret) {
		/*
		 * 6. kvm_vcpu_after_set_cpuid() -> pkvm_vcpu_after_set_cpuid()
		 * (host side): for a protected vCPU, maybe donate a larger
		 * buffer first (vcpu_add_fpstate), then pass the CPUID to the
		 * hypervisor (vcpu_after_set_cpuid hypercall).
		 */
		realloc = ops->realloc_size(r);
		if (realloc) {
			int ret = realloc > r->hyp_buffer_size ? 0 : -EINVAL;

			ev_init(&e, &ev, XSW_EV_FPSTATE_REALLOC, 0);
			ev.ret = ret;
			ev.realloc.old_size = r->hyp_buffer_size;
			ev.realloc.new_size = realloc;
			ev.realloc.user_size = xsw_xstate_size(cpu, hyp_fpu_xfeatures, false);
			ev.realloc.guest = 1;
			ev.realloc.xfeatures = r->hyp_fps_xfeatures;
			ev.realloc.user_xfeatures = hyp_fpu_xfeatures;
			ev_emit(&e, &ev);
			if (ret)
				r->hyp_ret = ret;	/* KVM_BUG_ON(): the VM is dead */
			else
				r->hyp_buffer_size = realloc;
			r->hyp_realloc = !ret;
		}
	}

	if (!r->host_ret && !r->hyp_ret) {
		/*
		 * 7. In the hypervisor: pkvm_vcpu_after_set_cpuid()
		 * (arch/x86/kvm/pkvm/pkvm.c) enforces the CPUID
		 * (pkvm_enforce_cpuid()), then its kvm_set_cpuid() ->
		 * kvm_check_cpuid() -> fpu_enable_guest_xfd_features() ->
		 * __xfd_enable_feature() (arch/x86/kvm/pkvm/fpu/xstate.c), which
		 * cannot allocate: it checks the permission (-EPERM), then
		 * fps->size against xstate_calculate_size(fps->xfeatures |
		 * xfd_event) (-ENOMEM).
		 */
		r->synced = true;
		r->hyp_xcr0 = ops->enforce_xcr0(r);
		r->hyp_xfd_event = r->hyp_xcr0 & XTILE_DATA & ~hyp_fpu_xfeatures;
		if (r->hyp_xfd_event) {
			uint64_t want = r->hyp_fps_xfeatures | r->hyp_xfd_event;

			r->hyp_need = xsw_xstate_size(cpu, want, r->host.compacted);
			if ((r->hyp_perm & r->hyp_xfd_event) != r->hyp_xfd_event)
				r->hyp_ret = -EPERM;
			else if (r->hyp_buffer_size < r->hyp_need)
				r->hyp_ret = -ENOMEM;
			else
				r->hyp_fps_xfeatures = want;

			ev_init(&e, &ev, XSW_EV_FPSTATE_REALLOC, 0);
			ev.ret = r->hyp_ret;
			ev.realloc.xfeatures_added = r->hyp_xfd_event;
			ev.realloc.old_size = r->hyp_buffer_size;
			/* On failure: the size it needed ("need=" in the field report). */
			ev.realloc.new_size = r->hyp_ret == -ENOMEM ? r->hyp_need : r->hyp_buffer_size;
			ev.realloc.user_size = xsw_xstate_size(cpu, want & USER_SUPPORTED, false);
			ev.realloc.guest = 1;
			/* Of the fpstate it would be: what is held plus what is added. */
			ev.realloc.xfeatures = want;
			ev.realloc.user_xfeatures = want & USER_SUPPORTED;
			ev_emit(&e, &ev);
		}
		r->i5_need = xsw_xstate_size(cpu, r->hyp_xcr0 | (r->hyp_fps_xfeatures & sup),
					     r->host.compacted);
		r->i5_holds = !r->hyp_ret && r->hyp_buffer_size >= r->i5_need;
	} else {
		/* No hypervisor buffer was ever asked to hold an enforced CPUID. */
		r->i5_holds = !r->hyp_ret;
	}
	if (r->synced && !r->hyp_ret)
		r->guest_xcr0 = r->hyp_xcr0;
	r->changed_behind_vmm = r->synced && r->hyp_xcr0 != r->vmm_xcr0;

	/*
	 * The KVM_SET_CPUID2 the VMM sees. A hypervisor failure does not
	 * reach it: pkvm_vcpu_after_set_cpuid() is void and marks the VM
	 * bugged (KVM_BUG_ON), so the ioctl returns 0 and the next ones fail.
	 */
	ev_init(&e, &ev, XSW_EV_SET_CPUID, 0);
	ev.ret = r->host_ret;
	ev.set_cpuid.generation = 1;
	ev.set_cpuid.cpuid = cpuid_of(cpu, r->vmm_xcr0);
	ev.set_cpuid.guest_supported_xcr0 = r->host_ret ? 0 : r->host_guest_supported_xcr0;
	ev.set_cpuid.guest_perm = perm_of(r->guest_perm, r->guest_perm_size,
					  xsw_xstate_size(cpu, r->guest_perm & USER_SUPPORTED, false),
					  true);
	ev.set_cpuid.fps = hyp_fpstate(cpu, r->hyp_buffer_size, r->hyp_fps_xfeatures);
	if (r->synced) {
		ev.set_cpuid.required_compacted = r->i5_need;
		ev.set_cpuid.required_std = xsw_xstate_size(cpu, r->hyp_xcr0, false);
		ev.set_cpuid.hyp_buffer_size = r->hyp_buffer_size;
		ev.set_cpuid.hyp_xcr0 = r->hyp_xcr0;
	}
	ev_emit(&e, &ev);
	return 0;
}
