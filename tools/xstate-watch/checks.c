// SPDX-License-Identifier: GPL-2.0
/*
 * The invariant checks and lints (see checks.h and docs/invariants.md).
 *
 * Every size here comes from the xstate size model, in the format the
 * buffer really has: the kernel's fpstate (and a hypervisor's copy of it)
 * in the compacted format when the CPU has XSAVES/XSAVEC, the uABI
 * (KVM_GET_XSAVE2, fpstate->user_size) always in the standard format.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <linux/kvm.h>

#include "checks.h"

static const struct xsw_check_info check_info[XSW_CHECK_MAX] = {
	[XSW_CHECK_I1] = { "I1", "fpstate self-consistency", false },
	[XSW_CHECK_I2] = { "I2", "guest coverage", false },
	[XSW_CHECK_I3] = { "I3", "permission", false },
	[XSW_CHECK_I4] = { "I4", "uABI size", false },
	[XSW_CHECK_I5] = { "I5", "hypervisor buffer", false },
	[XSW_LINT_CPUID_BEFORE_PERM] = { "cpuid-pre-perm",
		"KVM_GET_SUPPORTED_CPUID read before the guest permission request", true },
	[XSW_LINT_PERM_AFTER_LOCK] = { "perm-after-lock",
		"guest permission requested after it was locked", true },
	[XSW_LINT_CPUID_AFTER_RUN] = { "cpuid-after-run",
		"KVM_SET_CPUID2 after the first KVM_RUN", true },
	[XSW_LINT_CPUID_SIZE_LOW] = { "cpuid-size-low",
		"KVM_SET_CPUID2 leaf 0xD size understates its xcr0", true },
};

const struct xsw_check_info *xsw_check_info(enum xsw_check c)
{
	if ((unsigned int)c >= XSW_CHECK_MAX)
		return NULL;
	return &check_info[c];
}

int xsw_check_from_id(const char *id)
{
	int i;

	for (i = 0; i < XSW_CHECK_MAX; i++)
		if (!strcmp(check_info[i].id, id))
			return i;
	return -1;
}

void xsw_checker_init(struct xsw_checker *c, const struct xsw_cpu_model *cpu, bool compacted)
{
	memset(c, 0, sizeof(*c));
	c->cpu = cpu;
	c->compacted = compacted;
	c->dynamic = xsw_xfeatures_dynamic(cpu);
	c->supervisor = xsw_xfeatures_supervisor(cpu);
}

static const char *fmt_name(bool compacted)
{
	return compacted ? "compacted" : "standard";
}

__attribute__((format(printf, 7, 8)))
static enum xsw_verdict fail(struct xsw_ev_finding *f, enum xsw_check check,
			     uint64_t have_size, uint64_t need_size,
			     uint64_t have_mask, uint64_t need_mask, const char *fmt, ...)
{
	va_list ap;

	memset(f, 0, sizeof(*f));
	snprintf(f->id, sizeof(f->id), "%s", check_info[check].id);
	f->have_size = have_size;
	f->need_size = need_size;
	f->have_mask = have_mask;
	f->need_mask = need_mask;
	va_start(ap, fmt);
	vsnprintf(f->text, sizeof(f->text), fmt, ap);
	va_end(ap);
	return XSW_VERDICT_FAILS;
}

enum xsw_verdict xsw_check_i1(const struct xsw_checker *c, const struct xsw_fpstate *fps,
			      struct xsw_ev_finding *f)
{
	uint32_t need, need_user;

	if (!fps->valid || !fps->xfeatures)
		return XSW_VERDICT_UNKNOWN;
	need = xsw_xstate_size(c->cpu, fps->xfeatures, c->compacted);
	if (fps->size < need)
		return fail(f, XSW_CHECK_I1, fps->size, need, fps->xfeatures, fps->xfeatures,
			    "fpstate->size %u < %u = size(fpstate->xfeatures 0x%" PRIx64 ", %s)",
			    fps->size, need, (uint64_t)fps->xfeatures, fmt_name(c->compacted));
	if (!fps->user_xfeatures)
		return XSW_VERDICT_HOLDS;
	need_user = xsw_xstate_size(c->cpu, fps->user_xfeatures, false);
	if (fps->user_size < need_user)
		return fail(f, XSW_CHECK_I1, fps->user_size, need_user, fps->user_xfeatures,
			    fps->user_xfeatures,
			    "fpstate->user_size %u < %u = size(fpstate->user_xfeatures 0x%" PRIx64
			    ", standard)", fps->user_size, need_user,
			    (uint64_t)fps->user_xfeatures);
	return XSW_VERDICT_HOLDS;
}

/* What the guest's state needs in the kernel buffer: its XCR0 plus the supervisor part. */
static uint64_t guest_need_mask(const struct xsw_checker *c, uint64_t xcr0,
				uint64_t fps_xfeatures)
{
	return xcr0 | (fps_xfeatures & c->supervisor);
}

enum xsw_verdict xsw_check_i2(const struct xsw_checker *c, const struct xsw_fpstate *fps,
			      uint64_t guest_supported_xcr0, struct xsw_ev_finding *f)
{
	uint64_t mask;
	uint32_t need;

	if (!fps->valid || !guest_supported_xcr0)
		return XSW_VERDICT_UNKNOWN;
	mask = guest_need_mask(c, guest_supported_xcr0, fps->xfeatures);
	need = xsw_xstate_size(c->cpu, mask, c->compacted);
	if (fps->size < need)
		return fail(f, XSW_CHECK_I2, fps->size, need, fps->xfeatures, mask,
			    "fpstate->size %u < %u = size(guest_supported_xcr0 0x%" PRIx64
			    " | supervisor 0x%" PRIx64 ", %s): guest state does not fit",
			    fps->size, need, guest_supported_xcr0, mask & ~guest_supported_xcr0,
			    fmt_name(c->compacted));
	return XSW_VERDICT_HOLDS;
}

enum xsw_verdict xsw_check_i3(const struct xsw_checker *c, uint64_t may_enable,
			      const struct xsw_perm *perm, struct xsw_ev_finding *f)
{
	uint64_t dyn = may_enable & c->dynamic, missing;

	if (!may_enable)
		return XSW_VERDICT_UNKNOWN;
	if (!dyn)
		return XSW_VERDICT_HOLDS;	/* nothing dynamic: no permission needed */
	if (!perm->valid)
		return XSW_VERDICT_UNKNOWN;
	missing = dyn & ~perm->perm;
	if (missing)
		return fail(f, XSW_CHECK_I3, perm->size, xsw_xstate_size(c->cpu,
			    perm->perm | dyn, c->compacted), perm->perm, perm->perm | dyn,
			    "guest may enable dynamic 0x%" PRIx64 " but guest permission 0x%"
			    PRIx64 " lacks 0x%" PRIx64 " (no ARCH_REQ_XCOMP_GUEST_PERM for it)",
			    dyn, (uint64_t)perm->perm, missing);
	return XSW_VERDICT_HOLDS;
}

enum xsw_verdict xsw_check_i4(const struct xsw_checker *c, const struct xsw_fpstate *fps,
			      uint32_t uabi_size, uint64_t guest_supported_xcr0,
			      struct xsw_ev_finding *f)
{
	uint32_t need;

	if (!fps->valid || !guest_supported_xcr0)
		return XSW_VERDICT_UNKNOWN;
	need = xsw_xstate_size(c->cpu, guest_supported_xcr0, false);
	if (fps->user_size < need)
		return fail(f, XSW_CHECK_I4, fps->user_size, need, fps->user_xfeatures,
			    guest_supported_xcr0,
			    "fpstate->user_size %u < %u = size(guest_supported_xcr0 0x%" PRIx64
			    ", standard): KVM_GET_XSAVE2 buffer too small", fps->user_size, need,
			    guest_supported_xcr0);
	if (uabi_size && uabi_size < need)
		return fail(f, XSW_CHECK_I4, uabi_size, need, fps->user_xfeatures,
			    guest_supported_xcr0,
			    "guest_fpu.uabi_size %u < %u = size(guest_supported_xcr0 0x%" PRIx64
			    ", standard)", uabi_size, need, guest_supported_xcr0);
	return XSW_VERDICT_HOLDS;
}

enum xsw_verdict xsw_check_i4_cap(const struct xsw_checker *c, uint32_t uabi_size,
				  uint64_t uabi_xfeatures, uint64_t kvm_xcr0,
				  struct xsw_ev_finding *f)
{
	uint32_t cap;

	if (!uabi_size || !kvm_xcr0)
		return XSW_VERDICT_UNKNOWN;
	/* As KVM computes it: never below the legacy struct kvm_xsave. */
	cap = xsw_xstate_size(c->cpu, kvm_xcr0, false);
	if (cap < sizeof(struct kvm_xsave))
		cap = sizeof(struct kvm_xsave);
	if (uabi_size > cap)
		return fail(f, XSW_CHECK_I4, cap, uabi_size, kvm_xcr0, uabi_xfeatures,
			    "guest_fpu.uabi_size %u > KVM_CAP_XSAVE2 %u (KVM's xcr0 0x%" PRIx64
			    "): KVM_GET_XSAVE2 overruns a buffer sized from the cap",
			    uabi_size, cap, kvm_xcr0);
	return XSW_VERDICT_HOLDS;
}

enum xsw_verdict xsw_check_i5(const struct xsw_checker *c, uint32_t hyp_buffer_size,
			      uint64_t hyp_xcr0, uint64_t supervisor_xfeatures,
			      struct xsw_ev_finding *f)
{
	uint64_t mask;
	uint32_t need;

	if (!hyp_buffer_size || !hyp_xcr0)
		return XSW_VERDICT_NA;
	mask = guest_need_mask(c, hyp_xcr0, supervisor_xfeatures);
	need = xsw_xstate_size(c->cpu, mask, c->compacted);
	if (hyp_buffer_size < need)
		return fail(f, XSW_CHECK_I5, hyp_buffer_size, need, 0, mask,
			    "hypervisor buffer %u < %u = size(enforced xcr0 0x%" PRIx64
			    " | supervisor, %s): the hypervisor's XSAVE overruns it",
			    hyp_buffer_size, need, hyp_xcr0, fmt_name(c->compacted));
	return XSW_VERDICT_HOLDS;
}

enum xsw_verdict xsw_lint_cpuid_size(const struct xsw_checker *c,
				     const struct xsw_cpuid_xsave *cpuid,
				     struct xsw_ev_finding *f)
{
	uint32_t need;

	/*
	 * 0xD.0 ECX is the static size for every feature EDX:EAX lets the
	 * guest enable: what a guest sizes its XSAVE buffers with. EBX follows
	 * the guest's current XCR0 and KVM rewrites it at run time
	 * (kvm_update_cpuid_runtime()), so it is not checked.
	 */
	if (!cpuid->has_leaf_d || !cpuid->xcr0)
		return XSW_VERDICT_UNKNOWN;
	need = xsw_xstate_size(c->cpu, cpuid->xcr0, false);
	if (cpuid->size_max < need)
		return fail(f, XSW_LINT_CPUID_SIZE_LOW, cpuid->size_max, need, cpuid->xcr0,
			    cpuid->xcr0,
			    "CPUID.0xD.0 ECX %u < %u = size(its xcr0 0x%" PRIx64
			    ", standard): guest XSAVE buffers sized from it overflow",
			    cpuid->size_max, need, (uint64_t)cpuid->xcr0);
	return XSW_VERDICT_HOLDS;
}

/* --- which event exposes which check -------------------------------------- */

struct run_ctx {
	const struct xsw_event *ev;
	enum xsw_verdict *verdicts;
	xsw_finding_fn fn;
	void *arg;
};

static void record(struct run_ctx *r, enum xsw_check check, enum xsw_verdict v,
		   struct xsw_ev_finding *f)
{
	if (check < XSW_NR_INVARIANTS && v != XSW_VERDICT_UNKNOWN)
		r->verdicts[check] = v;
	if (v == XSW_VERDICT_FAILS) {
		f->cause_type = r->ev->type;
		r->fn(r->arg, check, f);
	}
}

/*
 * KVM's supported xcr0 as KVM_CAP_XSAVE2 filters it now, or 0 when unknown:
 * the VMM's KVM_GET_SUPPORTED_CPUID, if the guest permission has not
 * changed since (KVM filters both by it).
 */
static uint64_t kvm_xcr0_now(const struct xsw_proc_state *proc)
{
	if (!proc || !proc->kvm_xcr0_known || !proc->guest_perm.valid ||
	    !proc->perm_at_kvm_xcr0.valid ||
	    proc->perm_at_kvm_xcr0.perm != proc->guest_perm.perm)
		return 0;
	return proc->kvm_xcr0;
}

/* I1, I2, I4: what the vCPU's fpstate must cover at this point. */
static void check_buffer(struct run_ctx *r, const struct xsw_checker *c,
			 const struct xsw_proc_state *proc, const struct xsw_vcpu_state *vcpu,
			 bool coverage)
{
	struct xsw_ev_finding f;
	enum xsw_verdict v;

	record(r, XSW_CHECK_I1, xsw_check_i1(c, &vcpu->fps, &f), &f);
	if (!coverage)
		return;
	record(r, XSW_CHECK_I2, xsw_check_i2(c, &vcpu->fps, vcpu->guest_supported_xcr0, &f), &f);
	v = xsw_check_i4(c, &vcpu->fps, vcpu->uabi_size, vcpu->guest_supported_xcr0, &f);
	/* Not for a protected vCPU (the pKVM model): KVM refuses its KVM_GET_XSAVE2. */
	if (v != XSW_VERDICT_FAILS && !vcpu->hyp_buffer_size && r->ev->source != XSW_SRC_MODEL) {
		enum xsw_verdict cap = xsw_check_i4_cap(c, vcpu->uabi_size, vcpu->fps.user_xfeatures,
							kvm_xcr0_now(proc), &f);

		if (cap == XSW_VERDICT_FAILS || v == XSW_VERDICT_UNKNOWN)
			v = cap;
	}
	record(r, XSW_CHECK_I4, v, &f);
}

static void check_perm_request(struct run_ctx *r, const struct xsw_event *ev,
			       const struct xsw_proc_state *proc)
{
	const struct xsw_ev_perm_request *p = &ev->perm;
	struct xsw_ev_finding f;

	if (!p->guest || !p->request)
		return;
	if (ev->ret == -EBUSY || (p->before.valid && p->before.locked && ev->ret != 0)) {
		fail(&f, XSW_LINT_PERM_AFTER_LOCK, 0, 0, p->before.perm,
		     p->before.perm | (p->arg < 64 ? XSW_XF_MASK(p->arg) : 0),
		     "ARCH_REQ_XCOMP_GUEST_PERM(%llu) returned %s: the permission is "
		     "locked once the first vCPU exists", (unsigned long long)p->arg,
		     ev->ret ? xsw_errno_name(ev->ret) : "0");
		record(r, XSW_LINT_PERM_AFTER_LOCK, XSW_VERDICT_FAILS, &f);
	}
	if (proc && proc->supported_cpuid_read) {
		const struct xsw_perm *then = &proc->perm_at_supported_read;
		uint64_t now = p->after.valid ? p->after.perm : 0;
		uint64_t gained = then->valid ? now & ~then->perm : 0;

		if (gained)
			fail(&f, XSW_LINT_CPUID_BEFORE_PERM, then->size, p->after.size, then->perm,
			     now, "KVM_GET_SUPPORTED_CPUID was read before permission for 0x%"
			     PRIx64 " was granted: the CPUID built from it lacks it", gained);
		else
			fail(&f, XSW_LINT_CPUID_BEFORE_PERM, then->valid ? then->size : 0,
			     p->after.valid ? p->after.size : 0, then->valid ? then->perm : 0, now,
			     "KVM_GET_SUPPORTED_CPUID was read before ARCH_REQ_XCOMP_GUEST_PERM: "
			     "request permission first, then read the CPUID");
		record(r, XSW_LINT_CPUID_BEFORE_PERM, XSW_VERDICT_FAILS, &f);
	}
}

static void check_set_cpuid(struct run_ctx *r, const struct xsw_checker *c,
			    const struct xsw_event *ev, const struct xsw_proc_state *proc,
			    const struct xsw_vcpu_state *vcpu,
			    const struct xsw_vcpu_state *prev)
{
	const struct xsw_ev_set_cpuid *s = &ev->set_cpuid;
	struct xsw_ev_finding f;
	struct xsw_perm perm = { 0 };

	if (ev->ret != 0 || !vcpu)
		return;
	check_buffer(r, c, proc, vcpu, true);
	if (s->guest_perm.valid)
		perm = s->guest_perm;
	else if (proc)
		perm = proc->guest_perm;
	record(r, XSW_CHECK_I3, xsw_check_i3(c, s->cpuid.xcr0 | vcpu->guest_supported_xcr0,
					     &perm, &f), &f);
	record(r, XSW_CHECK_I5, xsw_check_i5(c, s->hyp_buffer_size, s->hyp_xcr0,
					     vcpu->fps.valid ? vcpu->fps.xfeatures : 0, &f), &f);
	record(r, XSW_LINT_CPUID_SIZE_LOW, xsw_lint_cpuid_size(c, &s->cpuid, &f), &f);
	/*
	 * KVM accepts an identical table after KVM_RUN (QEMU re-sets it on
	 * hotplug; kvm_cpuid_check_equal()) and refuses a different one since
	 * 5.16. What matters for the FPU is what KVM derived from the table:
	 * a successful KVM_SET_CPUID2 after KVM_RUN that changes the guest's
	 * supported XCR0/XSS changes the XSAVE layout under a running guest.
	 * Sources that cannot read guest_supported_xcr0 compare leaf 0xD.
	 */
	if (prev && prev->ran && prev->cpuid_generation) {
		bool changed;

		if (s->guest_supported_xcr0 && prev->guest_supported_xcr0)
			changed = s->guest_supported_xcr0 != prev->guest_supported_xcr0 ||
				  s->guest_supported_xss != prev->guest_supported_xss;
		else
			changed = s->cpuid.xcr0 != prev->cpuid.xcr0 || s->cpuid.xss != prev->cpuid.xss;
		if (changed) {
			uint64_t before = s->guest_supported_xcr0 ? prev->guest_supported_xcr0
								  : prev->cpuid.xcr0;
			uint64_t after = s->guest_supported_xcr0 ?: s->cpuid.xcr0;

			fail(&f, XSW_LINT_CPUID_AFTER_RUN, 0, 0, before, after,
			     "KVM_SET_CPUID2 (generation %u) after the vCPU ran changed the guest's "
			     "xcr0 0x%" PRIx64 " -> 0x%" PRIx64 " under a running guest",
			     vcpu->cpuid_generation, before, after);
			record(r, XSW_LINT_CPUID_AFTER_RUN, XSW_VERDICT_FAILS, &f);
		}
	}
}

static void check_realloc(struct run_ctx *r, const struct xsw_checker *c,
			  const struct xsw_event *ev, const struct xsw_proc_state *proc,
			  const struct xsw_vcpu_state *vcpu)
{
	const struct xsw_ev_realloc *a = &ev->realloc;
	bool hyp = ev->source == XSW_SRC_MODEL || (vcpu && vcpu->hyp_buffer_size);
	struct xsw_ev_finding f;

	if (ev->ret < 0) {
		/*
		 * The host kernel fails the ioctl and the guest never sees the
		 * feature; a hypervisor that already enforced the CPUID has
		 * no way back: its guest runs with a buffer too small.
		 */
		if (!hyp)
			return;
		fail(&f, XSW_CHECK_I5, a->old_size, a->new_size, a->xfeatures & ~a->xfeatures_added,
		     a->xfeatures, "hypervisor fpstate realloc %u -> %u for 0x%" PRIx64
		     " failed with %s: the enforced xcr0 has no buffer", a->old_size, a->new_size,
		     (uint64_t)a->xfeatures_added, xsw_errno_name(ev->ret));
		record(r, XSW_CHECK_I5, XSW_VERDICT_FAILS, &f);
		return;
	}
	if (!vcpu || !a->guest)
		return;
	if (a->old_size && a->new_size < a->old_size) {
		fail(&f, XSW_CHECK_I2, a->new_size, a->old_size, a->xfeatures, a->xfeatures,
		     "fpstate_realloc shrank the guest buffer %u -> %u (adding 0x%" PRIx64
		     "): state saved in the old buffer no longer fits", a->old_size, a->new_size,
		     (uint64_t)a->xfeatures_added);
		record(r, XSW_CHECK_I2, XSW_VERDICT_FAILS, &f);
		record(r, XSW_CHECK_I1, xsw_check_i1(c, &vcpu->fps, &f), &f);
		return;
	}
	check_buffer(r, c, proc, vcpu, true);
}

void xsw_checks_run(const struct xsw_checker *c, const struct xsw_event *ev,
		    const struct xsw_proc_state *proc, const struct xsw_vcpu_state *vcpu,
		    const struct xsw_vcpu_state *prev_vcpu,
		    enum xsw_verdict verdicts[XSW_NR_INVARIANTS], xsw_finding_fn fn, void *arg)
{
	struct run_ctx r = { .ev = ev, .verdicts = verdicts, .fn = fn, .arg = arg };
	struct xsw_ev_finding f;
	struct xsw_perm perm;
	int i;

	for (i = 0; i < XSW_NR_INVARIANTS; i++)
		verdicts[i] = XSW_VERDICT_UNKNOWN;

	switch (ev->type) {
	case XSW_EV_PERM_REQUEST:
		check_perm_request(&r, ev, proc);
		break;
	case XSW_EV_VCPU_CREATE:
	case XSW_EV_PERM_SYNC:
		if (ev->ret == 0 && vcpu)
			check_buffer(&r, c, proc, vcpu, vcpu->cpuid_generation > 0);
		break;
	case XSW_EV_SET_CPUID:
		check_set_cpuid(&r, c, ev, proc, vcpu, prev_vcpu);
		break;
	case XSW_EV_FPSTATE_REALLOC:
		check_realloc(&r, c, ev, proc, vcpu);
		break;
	case XSW_EV_FIRST_RUN:
	case XSW_EV_XCR0_CHANGE:
		if (!vcpu)
			break;
		check_buffer(&r, c, proc, vcpu, true);
		perm = proc ? proc->guest_perm : (struct xsw_perm){ 0 };
		record(&r, XSW_CHECK_I3, xsw_check_i3(c, vcpu->guest_xcr0 |
						      vcpu->guest_supported_xcr0, &perm, &f), &f);
		break;
	default:
		break;
	}
}
