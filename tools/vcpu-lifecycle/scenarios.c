// SPDX-License-Identifier: GPL-2.0
/*
 * The scenarios. Each one is a VMM doing one thing (right or wrong) with
 * the guest-FPU inputs, and says what it expects KVM to answer: every
 * vl_expect() line is an assertion, and a scenario passes only when all of
 * them hold.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/close_range.h>

#include "cpuid.h"
#include "guest.h"
#include "kvm.h"
#include "vcpu_lifecycle.h"
#include "vm.h"
#include "xstate.h"

/* "0x207 x87|sse|avx|pkru" with a few rotating buffers per thread. */
static const char *xf(uint64_t mask)
{
	static __thread char bufs[6][300];
	static __thread unsigned int slot;
	char *b = bufs[slot++ % 6];
	char names[256];

	snprintf(b, sizeof(bufs[0]), "0x%llx %s", (unsigned long long)mask,
		 xsw_xfeatures_format(mask, names, sizeof(names)));
	return b;
}

static void say_leaf_d(const char *what, struct kvm_cpuid2 *c)
{
	struct kvm_cpuid_entry2 *d0 = vl_cpuid_find(c, 0xd, 0);
	struct kvm_cpuid_entry2 *d1 = vl_cpuid_find(c, 0xd, 1);

	vl_log("%s leaf 0xD: xcr0 %s, xss %s, 0xD.0 EBX %u ECX %u, 0xD.1 EAX 0x%x EBX %u",
	       what, xf(vl_cpuid_xcr0(c)), xf(vl_cpuid_xss(c)),
	       d0 ? d0->ebx : 0, d0 ? d0->ecx : 0, d1 ? d1->eax : 0, d1 ? d1->ebx : 0);
}

static struct kvm_cpuid2 *get_supported(struct vl_ctx *ctx)
{
	struct kvm_cpuid2 *c;

	if (kvm_get_supported_cpuid(ctx->kvm_fd, &c))
		return NULL;
	say_leaf_d("supported", c);
	return c;
}

/* A VM and its vCPU @id; on failure everything made so far is undone. */
static int create_vm_vcpu(struct vl_ctx *ctx, struct vl_vm *vm, struct vl_vcpu *vcpu)
{
	int ret;

	vcpu->fd = -1;
	vcpu->run = NULL;
	ret = vl_vm_create(vm, ctx->kvm_fd);
	if (ret)
		return ret;
	ret = vl_vcpu_create(vcpu, vm, 0, ctx->run_size);
	if (ret)
		vl_vm_destroy(vm);
	return ret;
}

static void destroy_vm_vcpu(struct vl_vm *vm, struct vl_vcpu *vcpu)
{
	vl_vcpu_destroy(vcpu);
	vl_vm_destroy(vm);
}

static uint64_t guest_xcr0(struct vl_vcpu *vcpu)
{
	struct kvm_xcrs xcrs;

	memset(&xcrs, 0, sizeof(xcrs));
	if (kvm_get_xcrs(vcpu->fd, &xcrs))
		return 0;
	for (unsigned int i = 0; i < xcrs.nr_xcrs; i++)
		if (xcrs.xcrs[i].xcr == 0)
			return xcrs.xcrs[i].value;
	return 0;
}

/*
 * The leaf 0xD the vCPU really has (KVM_GET_CPUID2) against the one the VMM
 * installed. Upstream KVM keeps the VMM's table (plus runtime updates of
 * 0xD.0/0xD.1 EBX); some KVM flavours (kvm-pvm here) put the host's leaf
 * 0xD back, so the guest may enable more than the VMM's CPUID allows.
 * Returns the vCPU's xcr0, and says so when it differs.
 */
static uint64_t vcpu_leaf_d_xcr0(struct vl_vcpu *vcpu, uint64_t installed)
{
	struct kvm_cpuid2 *now = NULL;
	uint64_t xcr0;

	if (kvm_get_cpuid2(vcpu->fd, &now))
		return installed;
	xcr0 = vl_cpuid_xcr0(now);
	free(now);
	if (xcr0 != installed)
		vl_log("note: KVM rewrote leaf 0xD: installed xcr0 %s, the vCPU has %s "
		       "(upstream KVM keeps the VMM's leaf 0xD)", xf(installed), xf(xcr0));
	else
		vl_log("the vCPU's leaf 0xD xcr0 is the installed %s", xf(xcr0));
	return xcr0;
}

/* Run the hello guest (OUT AL; HLT) and assert that is what happened. */
static bool run_hello(struct vl_vcpu *vcpu, uint8_t value)
{
	struct vl_run_result r;

	if (vl_vcpu_setup(vcpu, VL_GUEST_HELLO, value, 0, 0))
		return vl_expect(false, "real-mode set-up of vCPU %u", vcpu->id);
	vl_vcpu_run(vcpu, 8, &r, false);
	return vl_expect(r.halted && r.nr_done_outs == 1 && r.last_done_value == value &&
			 r.fault_vector < 0,
			 "guest ran to HLT with one OUT of 0x%02x", value);
}

/*
 * Run the XSETBV guest with XCR0 = @xcr0. Returns the exception vector the
 * guest took, -1 for none, -2 when it did not even get that far.
 */
static int run_xsetbv(struct vl_vcpu *vcpu, uint64_t xcr0)
{
	struct vl_run_result r;

	vl_log("guest: CR4.OSXSAVE=1, XSETBV(XCR0 = %s)", xf(xcr0));
	if (vl_vcpu_setup(vcpu, VL_GUEST_XSETBV, (uint32_t)xcr0, 0, xcr0 >> 32))
		return -2;
	vl_vcpu_run(vcpu, 8, &r, false);
	if (!r.halted)
		return -2;
	return r.fault_vector;
}

/* --- basic ------------------------------------------------------------- */

static int scenario_basic(struct vl_ctx *ctx)
{
	struct kvm_cpuid2 *sup = NULL;
	struct xsw_cpu_model *model = NULL;
	struct kvm_cpuid_entry2 *d0;
	struct vl_vcpu vcpu;
	struct vl_vm vm;
	uint64_t perm, xcr0;
	uint32_t standard, compacted;
	int xsave2;

	xcomp_get_guest_perm(&perm);
	if (!vl_expect(create_vm_vcpu(ctx, &vm, &vcpu) == 0, "VM and vCPU 0 created"))
		return VL_EXIT_FAIL;
	sup = get_supported(ctx);
	if (!vl_expect(sup != NULL, "KVM_GET_SUPPORTED_CPUID succeeds"))
		goto out;

	/* Cross-check the size model against KVM's own xstate_required_size(). */
	model = malloc(sizeof(*model));
	if (!model)
		goto out;
	vl_cpuid_to_model(sup, model, "KVM_GET_SUPPORTED_CPUID");
	xcr0 = vl_cpuid_xcr0(sup);
	standard = xsw_xstate_size(model, xcr0, false);
	compacted = xsw_xstate_size(model, xcr0, true);
	d0 = vl_cpuid_find(sup, 0xd, 0);
	vl_log("size model: xcr0 %s needs %u bytes standard, %u compacted",
	       xf(xcr0), standard, compacted);
	vl_expect((xcr0 & ~perm) == 0,
		  "supported xcr0 %s within the guest permission %s", xf(xcr0), xf(perm));
	vl_expect(d0 && d0->ecx == standard,
		  "0xD.0 ECX (%u) equals the size model's standard size (%u)",
		  d0 ? d0->ecx : 0, standard);

	vl_expect(kvm_set_cpuid2(vcpu.fd, sup) == 0, "KVM_SET_CPUID2 with the supported table succeeds");

	xsave2 = KVM_CHECK_EXTENSION_NAMED(vm.fd, KVM_CAP_XSAVE2);
	vl_expect(xsave2 >= (int)standard,
		  "KVM_CAP_XSAVE2 uABI size %d >= standard size %u (I4)", xsave2, standard);

	run_hello(&vcpu, 0x42);
	xcr0 = guest_xcr0(&vcpu);
	vl_expect(xcr0 == XSW_XF_MASK(XSW_XF_FP),
		  "guest XCR0 is the reset value x87 (got %s)", xf(xcr0));
out:
	free(model);
	free(sup);
	destroy_vm_vcpu(&vm, &vcpu);
	return VL_EXIT_PASS;
}

/* --- multi ------------------------------------------------------------- */

struct multi_vcpu {
	struct vl_ctx *ctx;
	struct vl_vm *vm;
	const struct kvm_cpuid2 *cpuid;
	unsigned int vm_idx;
	struct vl_vcpu vcpu;
	bool created;
	bool ran;
	struct vl_run_result res;
};

/* A vCPU thread, as QEMU has them: it creates its vCPU and runs it. */
static void *multi_vcpu_thread(void *arg)
{
	struct multi_vcpu *mv = arg;
	unsigned int id = mv->vcpu.id;

	snprintf(vl_log_prefix, sizeof(vl_log_prefix), "vm%u/vcpu%u: ", mv->vm_idx, id);
	if (vl_vcpu_create(&mv->vcpu, mv->vm, id, mv->ctx->run_size))
		return NULL;
	mv->created = true;
	if (kvm_set_cpuid2(mv->vcpu.fd, mv->cpuid))
		return NULL;
	/* Each vCPU reports its own id: proves each thread ran its vCPU. */
	if (vl_vcpu_setup(&mv->vcpu, VL_GUEST_HELLO, id & 0xff, 0, 0))
		return NULL;
	vl_vcpu_run(&mv->vcpu, 8, &mv->res, false);
	mv->ran = true;
	return NULL;
}

static int scenario_multi(struct vl_ctx *ctx)
{
	unsigned int nr_vms = ctx->opts->vms, nr_vcpus = ctx->opts->vcpus;
	unsigned int total = nr_vms * nr_vcpus, started = 0, ok = 0;
	struct multi_vcpu *mv = calloc(total, sizeof(*mv));
	pthread_t *threads = calloc(total, sizeof(*threads));
	struct vl_vm *vms = calloc(nr_vms, sizeof(*vms));
	struct kvm_cpuid2 *sup = NULL;

	vl_log("%u VM(s) x %u vCPU(s), one thread per vCPU", nr_vms, nr_vcpus);
	if (!vl_expect(mv && threads && vms, "memory for %u vCPUs", total))
		goto out;
	for (unsigned int i = 0; i < nr_vms; i++)
		vms[i].fd = -1;
	sup = get_supported(ctx);
	if (!vl_expect(sup != NULL, "KVM_GET_SUPPORTED_CPUID succeeds"))
		goto out;

	for (unsigned int i = 0; i < nr_vms; i++) {
		snprintf(vl_log_prefix, sizeof(vl_log_prefix), "vm%u: ", i);
		if (!vl_expect(vl_vm_create(&vms[i], ctx->kvm_fd) == 0, "VM %u created", i))
			goto join;
	}
	vl_log_prefix[0] = '\0';

	for (unsigned int i = 0; i < total; i++) {
		int err;

		mv[i].ctx = ctx;
		mv[i].vm_idx = i / nr_vcpus;
		mv[i].vm = &vms[mv[i].vm_idx];
		mv[i].vcpu.id = i % nr_vcpus;
		mv[i].vcpu.fd = -1;
		mv[i].cpuid = sup;
		err = pthread_create(&threads[i], NULL, multi_vcpu_thread, &mv[i]);
		if (!vl_expect(err == 0, "vCPU thread %u started (%s)", i, xsw_errno_name(err)))
			break;
		started++;
	}
join:
	vl_log_prefix[0] = '\0';
	for (unsigned int i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	for (unsigned int i = 0; i < started; i++) {
		struct vl_run_result *r = &mv[i].res;

		if (mv[i].ran && r->halted && r->nr_done_outs == 1 &&
		    r->last_done_value == (mv[i].vcpu.id & 0xff))
			ok++;
	}
	if (started == total)
		vl_expect(ok == total,
			  "%u of %u vCPUs ran to HLT, each reporting its own id", ok, total);
	for (unsigned int i = 0; i < started; i++)
		if (mv[i].created)
			vl_vcpu_destroy(&mv[i].vcpu);
	for (unsigned int i = 0; vms && i < nr_vms; i++)
		vl_vm_destroy(&vms[i]);
out:
	free(sup);
	free(vms);
	free(threads);
	free(mv);
	return VL_EXIT_PASS;
}

/* --- guest FPU permission --------------------------------------------- */

#define XTILEDATA_MASK XSW_XF_MASK(XSW_XF_XTILE_DATA)

static int scenario_perm_late(struct vl_ctx *ctx)
{
	struct kvm_cpuid2 *early = NULL, *fresh = NULL;
	uint64_t supp = 0, perm0 = 0, perm1 = 0, early_xcr0, fresh_xcr0, missing;
	struct vl_vcpu vcpu;
	struct vl_vm vm;
	int ret, want;

	xcomp_get_supp(&supp);
	xcomp_get_guest_perm(&perm0);

	vl_log("step 1: KVM_GET_SUPPORTED_CPUID before asking for guest permission (the mistake)");
	early = get_supported(ctx);
	if (!vl_expect(early != NULL, "KVM_GET_SUPPORTED_CPUID succeeds"))
		goto out;
	early_xcr0 = vl_cpuid_xcr0(early);
	vl_expect((early_xcr0 & ~perm0) == 0,
		  "KVM filters leaf 0xD by the guest permission: %s within %s",
		  xf(early_xcr0), xf(perm0));

	vl_log("step 2: ARCH_REQ_XCOMP_GUEST_PERM(xtiledata), too late for that table");
	ret = xcomp_req_guest_perm(XSW_XF_XTILE_DATA);
	want = (supp & XTILEDATA_MASK) ? 0 : -EOPNOTSUPP;
	vl_expect(ret == want, "request -> %s, as ARCH_GET_XCOMP_SUPP %s implies (got %s)",
		  xsw_errno_name(want), xf(supp), xsw_errno_name(ret));
	xcomp_get_guest_perm(&perm1);
	if (ret == 0)
		vl_expect((perm1 & XSW_XF_MASK_AMX) == XSW_XF_MASK_AMX,
			  "guest permission now includes AMX: %s", xf(perm1));
	else
		vl_expect(perm1 == perm0, "guest permission unchanged: %s", xf(perm1));

	vl_log("step 3: KVM_GET_SUPPORTED_CPUID again, as the VMM should have done");
	fresh = get_supported(ctx);
	if (!vl_expect(fresh != NULL, "KVM_GET_SUPPORTED_CPUID succeeds"))
		goto out;
	fresh_xcr0 = vl_cpuid_xcr0(fresh);
	missing = fresh_xcr0 & ~early_xcr0;
	vl_log("lint: leaf 0xD read before the permission request lacks %s", xf(missing));
	vl_expect(missing == (fresh_xcr0 & perm1 & ~perm0),
		  "the early table lacks exactly the newly permitted features KVM supports (%s)",
		  xf(fresh_xcr0 & perm1 & ~perm0));

	vl_log("step 4: install the stale table; KVM accepts it, the guest never sees the new features");
	if (!vl_expect(create_vm_vcpu(ctx, &vm, &vcpu) == 0, "VM and vCPU 0 created"))
		goto out;
	vl_expect(kvm_set_cpuid2(vcpu.fd, early) == 0, "KVM_SET_CPUID2 with the early table succeeds");
	run_hello(&vcpu, 0x42);
	destroy_vm_vcpu(&vm, &vcpu);
out:
	free(early);
	free(fresh);
	return VL_EXIT_PASS;
}

static int scenario_perm_after_lock(struct vl_ctx *ctx)
{
	struct kvm_cpuid2 *sup = NULL;
	uint64_t supp = 0, perm0 = 0, perm1 = 0;
	struct vl_vcpu vcpu;
	struct vl_vm vm;
	const char *why;
	int ret, want;

	xcomp_get_supp(&supp);
	xcomp_get_guest_perm(&perm0);
	vl_log("step 1: the first vCPU locks the guest permission");
	if (!vl_expect(create_vm_vcpu(ctx, &vm, &vcpu) == 0, "VM and vCPU 0 created"))
		return VL_EXIT_FAIL;

	vl_log("step 2: ARCH_REQ_XCOMP_GUEST_PERM(xtiledata) after the lock");
	ret = xcomp_req_guest_perm(XSW_XF_XTILE_DATA);
	if (!(supp & XTILEDATA_MASK)) {
		want = -EOPNOTSUPP;
		why = "xtiledata is not in ARCH_GET_XCOMP_SUPP";
	} else if ((perm0 & XSW_XF_MASK_AMX) == XSW_XF_MASK_AMX) {
		want = 0;
		why = "AMX was already permitted before the lock";
	} else {
		want = -EBUSY;
		why = "the permission is locked once a vCPU exists";
	}
	vl_log("outcome: %s (ARCH_GET_XCOMP_SUPP %s)", xsw_errno_name(ret), xf(supp));
	vl_expect(ret == want, "%s because %s (got %s)", xsw_errno_name(want), why,
		  xsw_errno_name(ret));
	xcomp_get_guest_perm(&perm1);
	vl_expect(perm1 == perm0, "guest permission unchanged: %s", xf(perm1));

	vl_log("step 3: the VM still works with what was permitted before");
	sup = get_supported(ctx);
	if (vl_expect(sup != NULL, "KVM_GET_SUPPORTED_CPUID succeeds")) {
		vl_expect(kvm_set_cpuid2(vcpu.fd, sup) == 0, "KVM_SET_CPUID2 succeeds");
		run_hello(&vcpu, 0x42);
	}
	free(sup);
	destroy_vm_vcpu(&vm, &vcpu);
	return VL_EXIT_PASS;
}

/* Leaf 7.0 EDX: AMX-BF16 (22), AMX-TILE (24), AMX-INT8 (25). */
#define CPUID_7_EDX_AMX_TILE (1u << 24)

static int scenario_amx(struct vl_ctx *ctx)
{
	struct kvm_cpuid2 *sup = NULL;
	struct xsw_cpu_model *model = NULL;
	struct kvm_cpuid_entry2 *l7;
	uint64_t supp = 0, perm = 0, xcr0, got;
	struct vl_vcpu vcpu;
	struct vl_vm vm;
	int xsave2, vector, status = VL_EXIT_PASS;

	if (xcomp_get_supp(&supp) || !(supp & XTILEDATA_MASK)) {
		printf("SKIP amx: AMX (xtilecfg|xtiledata) unsupported here: "
		       "ARCH_GET_XCOMP_SUPP %s\n", xf(supp));
		return VL_EXIT_SKIP;
	}
	vl_expect(xcomp_req_guest_perm(XSW_XF_XTILE_DATA) == 0,
		  "ARCH_REQ_XCOMP_GUEST_PERM(xtiledata) succeeds before any vCPU");
	xcomp_get_guest_perm(&perm);
	vl_expect((perm & XSW_XF_MASK_AMX) == XSW_XF_MASK_AMX,
		  "guest permission includes AMX: %s", xf(perm));

	sup = get_supported(ctx);
	if (!vl_expect(sup != NULL, "KVM_GET_SUPPORTED_CPUID succeeds"))
		goto out_free;
	xcr0 = vl_cpuid_xcr0(sup);
	l7 = vl_cpuid_find(sup, 0x7, 0);
	if ((xcr0 & XSW_XF_MASK_AMX) != XSW_XF_MASK_AMX || !l7 ||
	    !(l7->edx & CPUID_7_EDX_AMX_TILE)) {
		printf("SKIP amx: the CPU has AMX but this KVM does not expose it "
		       "(leaf 0xD xcr0 %s)\n", xf(xcr0));
		status = VL_EXIT_SKIP;
		goto out_free;
	}
	model = malloc(sizeof(*model));
	if (!model)
		goto out_free;
	vl_cpuid_to_model(sup, model, "KVM_GET_SUPPORTED_CPUID");
	vl_log("size model: xcr0 %s needs %u bytes standard, %u compacted", xf(xcr0),
	       xsw_xstate_size(model, xcr0, false), xsw_xstate_size(model, xcr0, true));

	if (!vl_expect(create_vm_vcpu(ctx, &vm, &vcpu) == 0, "VM and vCPU 0 created"))
		goto out_free;
	xsave2 = KVM_CHECK_EXTENSION_NAMED(vm.fd, KVM_CAP_XSAVE2);
	vl_expect(xsave2 >= (int)xsw_xstate_size(model, xcr0, false),
		  "KVM_CAP_XSAVE2 %d covers the standard size with AMX (I4)", xsave2);
	vl_expect(kvm_set_cpuid2(vcpu.fd, sup) == 0,
		  "KVM_SET_CPUID2 with AMX in leaf 0xD and leaf 7 succeeds");
	vector = run_xsetbv(&vcpu, xcr0);
	vl_expect(vector == -1, "XSETBV with AMX enabled takes no exception (%s)",
		  vector >= 0 ? vl_vector_name(vector) : vector == -1 ? "none" : "did not run");
	got = guest_xcr0(&vcpu);
	vl_expect(got == xcr0, "guest XCR0 is %s (got %s)", xf(xcr0), xf(got));
	destroy_vm_vcpu(&vm, &vcpu);
out_free:
	free(model);
	free(sup);
	return status;
}

/*
 * xfd-cpuid: XTILEDATA in a KVM_SET_CPUID2 table, with 0xD.17/0xD.18 from
 * this CPU, whether or not KVM_GET_SUPPORTED_CPUID offers it (kvm-pvm here
 * does not). kvm_check_cpuid() hands every dynamic feature the table names
 * to fpu_enable_guest_xfd_features(), unfiltered by what KVM supports:
 * without the guest permission the call fails (EPERM); with it the vCPU's
 * fpstate is reallocated for the tiles, and KVM_GET_XSAVE2 writes the
 * larger uABI size (the permission's, standard format). What KVM_CAP_XSAVE2
 * told the VMM to allocate is filtered by KVM's supported xcr0: a
 * "KVM_CAP_XSAVE2 short" line says when the kernel writes past it.
 */
static struct kvm_cpuid2 *cpuid_with_amx(const struct kvm_cpuid2 *sup,
					 const struct xsw_cpu_model *host, uint64_t *xcr0)
{
	struct kvm_cpuid2 *c = vl_cpuid_dup(sup);
	struct kvm_cpuid_entry2 *d0, *l7;
	struct xsw_cpuid_regs r;
	struct xsw_cpu_model *sizes;
	unsigned int nr;

	if (!c)
		return NULL;
	*xcr0 = vl_cpuid_xcr0(sup) | XSW_XF_MASK_AMX;
	for (nr = XSW_XF_XTILE_CFG; nr <= XSW_XF_XTILE_DATA; nr++) {
		r = xsw_cpu_model_get(host, 0xd, nr);
		if (vl_cpuid_set(&c, 0xd, nr, &r))
			goto fail;
	}
	/* 0xD.0 sizes for the new xcr0, from the table's own sub-leaves. */
	sizes = malloc(sizeof(*sizes));
	if (!sizes)
		goto fail;
	vl_cpuid_to_model(c, sizes, "KVM_GET_SUPPORTED_CPUID + AMX");
	d0 = vl_cpuid_find(c, 0xd, 0);
	if (d0) {
		d0->eax = (uint32_t)*xcr0;
		d0->edx = (uint32_t)(*xcr0 >> 32);
		d0->ebx = d0->ecx = xsw_xstate_size(sizes, *xcr0, false);
	}
	free(sizes);
	/* The AMX flags a VMM announces with it (leaf 7.0 EDX 22, 24, 25). */
	l7 = vl_cpuid_find(c, 0x7, 0);
	if (l7)
		l7->edx |= xsw_cpu_model_get(host, 0x7, 0).edx & ((1u << 22) | (1u << 24) | (1u << 25));
	return c;
fail:
	free(c);
	return NULL;
}

/*
 * The child's half: no guest permission, so the CPUID must be refused. A
 * process of its own, because the permission cannot be taken back and
 * the parent needs it.
 */
static int xfd_cpuid_unpermitted(struct vl_ctx *ctx, const struct xsw_cpu_model *host)
{
	struct kvm_cpuid2 *sup, *amx = NULL;
	struct vl_vcpu vcpu;
	struct vl_vm vm;
	uint64_t xcr0;
	int ret;

	sup = get_supported(ctx);
	if (sup)
		amx = cpuid_with_amx(sup, host, &xcr0);
	if (!vl_expect(amx != NULL, "a CPUID table with XTILEDATA") ||
	    !vl_expect(create_vm_vcpu(ctx, &vm, &vcpu) == 0, "VM and vCPU 0 created"))
		goto out;
	ret = kvm_set_cpuid2(vcpu.fd, amx);
	vl_expect(ret == -EPERM, "KVM_SET_CPUID2 with XTILEDATA but no guest permission: "
		  "EPERM (got %s)", xsw_errno_name(ret));
	destroy_vm_vcpu(&vm, &vcpu);
out:
	free(amx);
	free(sup);
	return vl_failures() ? 1 : 0;
}

static int scenario_xfd_cpuid(struct vl_ctx *ctx)
{
	struct xsw_cpu_model *host = NULL;
	struct kvm_cpuid2 *sup = NULL, *amx = NULL;
	uint64_t supp = 0, perm = 0, xcr0, offered;
	uint32_t uabi, compacted;
	unsigned char *buf = NULL;
	int status = VL_EXIT_PASS, cap, ret, vector, written, wst;
	struct xsw_err err;
	struct vl_vcpu vcpu;
	struct vl_vm vm;
	pid_t child;

	if (xcomp_get_supp(&supp) || !(supp & XTILEDATA_MASK)) {
		printf("SKIP xfd-cpuid: this kernel has no XTILEDATA for guests: "
		       "ARCH_GET_XCOMP_SUPP %s\n", xf(supp));
		return VL_EXIT_SKIP;
	}
	host = malloc(sizeof(*host));
	if (!host || xsw_cpu_model_from_host(host, &err)) {
		fprintf(stderr, "vcpu-lifecycle: this CPU's leaf 0xD: %s\n",
			host ? err.msg : "out of memory");
		status = VL_EXIT_FAIL;
		goto out;
	}

	vl_log("step 1: a child process, without the guest permission");
	fflush(stdout);
	child = fork();
	if (child == 0)
		_exit(xfd_cpuid_unpermitted(ctx, host));
	if (!vl_expect(child > 0 && waitpid(child, &wst, 0) == child && WIFEXITED(wst) &&
		       WEXITSTATUS(wst) == 0, "the child's expectations held"))
		goto out;

	vl_log("step 2: the guest permission, then the supported CPUID with AMX added");
	vl_expect(xcomp_req_guest_perm(XSW_XF_XTILE_DATA) == 0,
		  "ARCH_REQ_XCOMP_GUEST_PERM(xtiledata) succeeds before any vCPU");
	xcomp_get_guest_perm(&perm);
	sup = get_supported(ctx);
	if (!vl_expect(sup != NULL, "KVM_GET_SUPPORTED_CPUID succeeds"))
		goto out;
	offered = vl_cpuid_xcr0(sup);
	amx = cpuid_with_amx(sup, host, &xcr0);
	if (!amx) {
		status = VL_EXIT_FAIL;
		goto out;
	}
	vl_log("KVM offers AMX: %s; the table adds it: leaf 0xD xcr0 %s",
	       (offered & XSW_XF_MASK_AMX) == XSW_XF_MASK_AMX ? "yes" : "no", xf(xcr0));
	uabi = xsw_xstate_size(host, perm, false);
	compacted = xsw_xstate_size(host, perm, xsw_kernel_uses_compacted(host));
	vl_log("guest permission %s: uABI %u bytes (standard), fpstate %u", xf(perm), uabi,
	       compacted);
	if (!vl_expect(create_vm_vcpu(ctx, &vm, &vcpu) == 0, "VM and vCPU 0 created"))
		goto out;
	ret = kvm_set_cpuid2(vcpu.fd, amx);
	vl_expect(ret == 0, "KVM_SET_CPUID2 with XTILEDATA succeeds (got %s)",
		  xsw_errno_name(ret));

	/* How much KVM_GET_XSAVE2 writes: a canary past anything it may. */
	buf = malloc(4 * uabi);
	if (buf) {
		memset(buf, 0xa5, 4 * uabi);
		vl_expect(kvm_get_xsave(vcpu.fd, buf, 4 * uabi) == 0, "KVM_GET_XSAVE2 succeeds");
		for (written = 4 * (int)uabi; written > 0 && buf[written - 1] == 0xa5; written--)
			;
		vl_expect((uint32_t)written <= uabi && (uint32_t)written > uabi - 64,
			  "KVM_GET_XSAVE2 wrote the permission's uABI size: %d of %u bytes",
			  written, uabi);
		cap = KVM_CHECK_EXTENSION_NAMED(vm.fd, KVM_CAP_XSAVE2);
		if (cap > 0 && (uint32_t)cap < uabi)
			printf("KVM_CAP_XSAVE2 short: %d bytes, KVM_GET_XSAVE2 writes %u\n", cap,
			       uabi);
	}

	/* What the guest may enable is still filtered by KVM's supported xcr0. */
	vector = run_xsetbv(&vcpu, xcr0);
	if ((offered & XSW_XF_MASK_AMX) == XSW_XF_MASK_AMX)
		vl_expect(vector == -1, "XSETBV with AMX takes no exception (%s)",
			  vector >= 0 ? vl_vector_name(vector) : "none");
	else
		vl_expect(vector == 13, "XSETBV with AMX, which KVM does not offer: #GP (%s)",
			  vector >= 0 ? vl_vector_name(vector) : vector == -1 ? "none" : "did not run");
	destroy_vm_vcpu(&vm, &vcpu);
out:
	free(buf);
	free(amx);
	free(sup);
	free(host);
	return status;
}

/* --- CPUID ordering ---------------------------------------------------- */

/* The default "fewer xfeatures": drop AVX (and AVX-512 with it) and PKRU. */
static int shrunk_xcr0(struct vl_ctx *ctx, uint64_t host, uint64_t *xcr0)
{
	struct xsw_err err;

	if (ctx->opts->xfeatures) {
		if (xsw_xfeatures_parse(ctx->opts->xfeatures, xcr0, &err)) {
			fprintf(stderr, "vcpu-lifecycle: --xfeatures %s: %s\n",
				ctx->opts->xfeatures, err.msg);
			return -EINVAL;
		}
		return 0;
	}
	*xcr0 = host & ~(XSW_XF_MASK(XSW_XF_YMM) | XSW_XF_MASK_AVX512 |
			 XSW_XF_MASK(XSW_XF_PKRU) | XSW_XF_MASK_AMX);
	return 0;
}

static int scenario_cpuid_twice(struct vl_ctx *ctx)
{
	struct kvm_cpuid2 *a = NULL, *b = NULL, *now = NULL;
	struct vl_vcpu vcpu;
	struct vl_vm vm;
	struct xsw_err err;
	uint64_t xcr0_b;
	bool rewritten;
	int ret;

	xsw_err_clear(&err);
	a = get_supported(ctx);
	if (!vl_expect(a != NULL, "KVM_GET_SUPPORTED_CPUID succeeds"))
		return VL_EXIT_FAIL;
	b = vl_cpuid_dup(a);
	if (!b || shrunk_xcr0(ctx, vl_cpuid_xcr0(a), &xcr0_b) ||
	    vl_cpuid_restrict_xcr0(&b, xcr0_b, &err)) {
		if (b && err.code)
			fprintf(stderr, "vcpu-lifecycle: cannot build the second table: %s\n",
				err.msg);
		free(a);
		free(b);
		return VL_EXIT_USAGE;
	}
	vl_log("table A: the supported one; table B: leaf 0xD shrunk to %s", xf(xcr0_b));
	if (!vl_expect(create_vm_vcpu(ctx, &vm, &vcpu) == 0, "VM and vCPU 0 created"))
		goto out;

	vl_log("before the first KVM_RUN, CPUID may change freely");
	vl_expect(kvm_set_cpuid2(vcpu.fd, a) == 0, "first KVM_SET_CPUID2 (A) succeeds");
	vl_expect(kvm_set_cpuid2(vcpu.fd, b) == 0, "second KVM_SET_CPUID2 (B, different) succeeds");
	rewritten = vcpu_leaf_d_xcr0(&vcpu, xcr0_b) != xcr0_b;
	run_hello(&vcpu, 0x42);

	vl_log("after the first KVM_RUN, only the identical table is accepted");
	if (kvm_get_cpuid2(vcpu.fd, &now) == 0) {
		vl_expect(kvm_set_cpuid2(vcpu.fd, now) == 0,
			  "KVM_SET_CPUID2 with the vCPU's own table (KVM_GET_CPUID2) after KVM_RUN -> ok");
		free(now);
	}
	ret = kvm_set_cpuid2(vcpu.fd, b);
	if (!rewritten)
		vl_expect(ret == 0,
			  "KVM_SET_CPUID2 with the identical table (B) after KVM_RUN -> ok (got %s)",
			  xsw_errno_name(ret));
	else
		vl_expect(ret == -EINVAL,
			  "KVM_SET_CPUID2 with B after KVM_RUN -> EINVAL: KVM holds a rewritten "
			  "leaf 0xD, so B no longer matches (got %s)", xsw_errno_name(ret));
	ret = kvm_set_cpuid2(vcpu.fd, a);
	vl_expect(ret == -EINVAL,
		  "KVM_SET_CPUID2 with a changed table (A) after KVM_RUN -> EINVAL (got %s)",
		  xsw_errno_name(ret));
	destroy_vm_vcpu(&vm, &vcpu);
out:
	free(a);
	free(b);
	return VL_EXIT_PASS;
}

/* Offset of XSTATE_BV in the uABI (standard format) XSAVE buffer. */
#define XSAVE_HDR_XSTATE_BV 512

static uint64_t xstate_bv(const uint8_t *buf)
{
	uint64_t v;

	memcpy(&v, buf + XSAVE_HDR_XSTATE_BV, sizeof(v));
	return v;
}

static void set_xstate_bv(uint8_t *buf, uint64_t v)
{
	memcpy(buf + XSAVE_HDR_XSTATE_BV, &v, sizeof(v));
}

static int scenario_xsave_then_cpuid(struct vl_ctx *ctx)
{
	struct kvm_cpuid2 *sup = NULL;
	uint8_t *buf = NULL, *bad = NULL, pattern[256];
	unsigned int nr, off, len, bad_nr = 0;
	struct kvm_cpuid_entry2 *sub;
	struct vl_vcpu vcpu;
	struct vl_vm vm;
	uint64_t xcr0;
	int size, ret;

	sup = get_supported(ctx);
	if (!vl_expect(sup != NULL, "KVM_GET_SUPPORTED_CPUID succeeds"))
		return VL_EXIT_FAIL;
	xcr0 = vl_cpuid_xcr0(sup);
	if (!vl_expect(create_vm_vcpu(ctx, &vm, &vcpu) == 0, "VM and vCPU 0 created"))
		goto out;

	size = KVM_CHECK_EXTENSION_NAMED(vm.fd, KVM_CAP_XSAVE2);
	if (size < (int)sizeof(struct kvm_xsave))
		size = sizeof(struct kvm_xsave);
	buf = calloc(1, size);
	bad = calloc(1, size);
	if (!buf || !bad)
		goto out_vm;
	if (!vl_expect(kvm_get_xsave(vcpu.fd, buf, size) == 0, "KVM_GET_XSAVE before KVM_SET_CPUID2"))
		goto out_vm;

	/* A register image to recognise: YMM_Hi128 when AVX exists, else XMM. */
	if (xcr0 & XSW_XF_MASK(XSW_XF_YMM)) {
		nr = XSW_XF_YMM;
		sub = vl_cpuid_find(sup, 0xd, nr);
		off = sub ? sub->ebx : 576;
		len = sub ? sub->eax : 256;
	} else {
		nr = XSW_XF_SSE;
		off = 160;
		len = 256;
	}
	if (len > sizeof(pattern))
		len = sizeof(pattern);
	for (unsigned int i = 0; i < len; i++)
		pattern[i] = (uint8_t)(0xa5 ^ i);
	memcpy(buf + off, pattern, len);
	set_xstate_bv(buf, xstate_bv(buf) | XSW_XF_MASK(nr));
	vl_log("state image: component %u (%s), %u bytes at offset %u", nr,
	       xsw_xfeature_name(nr), len, off);

	vl_log("step 1: KVM_SET_XSAVE before KVM_SET_CPUID2");
	ret = kvm_set_xsave(vcpu.fd, buf);
	vl_expect(ret == 0, "KVM_SET_XSAVE with %s set, before any CPUID -> ok (got %s)",
		  xsw_xfeature_name(nr), xsw_errno_name(ret));

	/* A user feature KVM does not support: KVM checks XSTATE_BV against it. */
	for (unsigned int i = 2; i <= XSW_XF_APX && !bad_nr; i++)
		if (!(xcr0 & XSW_XF_MASK(i)) && !(XSW_XF_MASK(i) & vl_cpuid_xss(sup)) &&
		    i != XSW_XF_PT)
			bad_nr = i;
	if (bad_nr) {
		memcpy(bad, buf, size);
		set_xstate_bv(bad, xstate_bv(bad) | XSW_XF_MASK(bad_nr));
		ret = kvm_set_xsave(vcpu.fd, bad);
		vl_expect(ret == -EINVAL,
			  "KVM_SET_XSAVE with unsupported %s in XSTATE_BV -> EINVAL (got %s)",
			  xsw_xfeature_name(bad_nr), xsw_errno_name(ret));
	}

	vl_log("step 2: KVM_SET_CPUID2 after the state was set");
	vl_expect(kvm_set_cpuid2(vcpu.fd, sup) == 0, "KVM_SET_CPUID2 succeeds");
	memset(buf, 0, size);
	if (kvm_get_xsave(vcpu.fd, buf, size) == 0)
		vl_expect(!memcmp(buf + off, pattern, len) && (xstate_bv(buf) & XSW_XF_MASK(nr)),
			  "the %s image survived KVM_SET_CPUID2", xsw_xfeature_name(nr));

	vl_log("step 3: run the guest, read the state back");
	run_hello(&vcpu, 0x42);
	memset(buf, 0, size);
	if (kvm_get_xsave(vcpu.fd, buf, size) == 0)
		vl_expect(!memcmp(buf + off, pattern, len),
			  "the %s image survived KVM_RUN (the guest never touches it)",
			  xsw_xfeature_name(nr));
out_vm:
	destroy_vm_vcpu(&vm, &vcpu);
out:
	free(buf);
	free(bad);
	free(sup);
	return VL_EXIT_PASS;
}

/* --- CPUID models ------------------------------------------------------ */

/*
 * The guest sets XCR0 = @allowed (no fault) on one vCPU, and on a second
 * vCPU tries @beyond, which the installed CPUID does not allow: KVM must
 * inject #GP. Then KVM's refreshed 0xD.0 EBX is checked against the model.
 */
static void check_guest_xcr0(struct vl_ctx *ctx, struct vl_vm *vm, struct vl_vcpu *vcpu,
			     const struct kvm_cpuid2 *cpuid, uint64_t allowed,
			     uint64_t beyond, const struct xsw_cpu_model *sizes)
{
	struct kvm_cpuid2 *now = NULL;
	struct vl_vcpu second = { .fd = -1 };
	uint64_t got, effective;
	int vector;

	effective = vcpu_leaf_d_xcr0(vcpu, vl_cpuid_xcr0(cpuid));
	vector = run_xsetbv(vcpu, allowed);
	vl_expect(vector == -1, "XSETBV(%s) takes no exception (%s)", xf(allowed),
		  vector >= 0 ? vl_vector_name(vector) : vector == -1 ? "none" : "did not run");
	got = guest_xcr0(vcpu);
	vl_expect(got == allowed, "guest XCR0 is %s (got %s)", xf(allowed), xf(got));
	if (kvm_get_cpuid2(vcpu->fd, &now) == 0) {
		struct kvm_cpuid_entry2 *d0 = vl_cpuid_find(now, 0xd, 0);
		uint32_t want = xsw_xstate_size(sizes, allowed, false);

		vl_expect(d0 && d0->ebx == want,
			  "KVM's refreshed 0xD.0 EBX (%u) equals the size model's standard size for XCR0 (%u)",
			  d0 ? d0->ebx : 0, want);
		free(now);
	}
	if (beyond == allowed)
		return;
	vl_log("a second vCPU tries XCR0 %s, beyond the installed CPUID", xf(beyond));
	if (!vl_expect(vl_vcpu_create(&second, vm, 1, ctx->run_size) == 0, "vCPU 1 created"))
		return;
	vl_expect(kvm_set_cpuid2(second.fd, cpuid) == 0, "KVM_SET_CPUID2 on vCPU 1 succeeds");
	vector = run_xsetbv(&second, beyond);
	got = guest_xcr0(&second);
	if (beyond & ~effective) {
		vl_expect(vector == 13, "XSETBV(%s) raises #GP in the guest (%s)", xf(beyond),
			  vector >= 0 ? vl_vector_name(vector) : vector == -1 ? "none" : "did not run");
		vl_expect(got == XSW_XF_MASK(XSW_XF_FP), "vCPU 1 XCR0 stays x87 (got %s)", xf(got));
	} else {
		vl_log("note: the vCPU's leaf 0xD allows %s although the VMM's CPUID does not",
		       xf(beyond & ~vl_cpuid_xcr0(cpuid)));
		vl_expect(vector == -1, "XSETBV(%s) succeeds, as the vCPU's rewritten leaf 0xD "
			  "allows (%s)", xf(beyond),
			  vector >= 0 ? vl_vector_name(vector) : vector == -1 ? "no exception" :
			  "did not run");
		vl_expect(got == beyond, "vCPU 1 XCR0 is %s (got %s)", xf(beyond), xf(got));
	}
	vl_vcpu_destroy(&second);
}

static int scenario_cpuid_shrink(struct vl_ctx *ctx)
{
	struct kvm_cpuid2 *sup = NULL, *shr = NULL;
	struct xsw_cpu_model *sizes = NULL;
	struct vl_vcpu vcpu;
	struct vl_vm vm;
	struct xsw_err err;
	uint64_t host, xcr0;
	int status = VL_EXIT_PASS;

	sup = get_supported(ctx);
	if (!vl_expect(sup != NULL, "KVM_GET_SUPPORTED_CPUID succeeds"))
		return VL_EXIT_FAIL;
	host = vl_cpuid_xcr0(sup);
	if (shrunk_xcr0(ctx, host, &xcr0)) {
		status = VL_EXIT_USAGE;
		goto out;
	}
	if (xcr0 == host) {
		fprintf(stderr, "vcpu-lifecycle: cpuid-shrink: --xfeatures %s drops nothing "
			"from the supported %s\n", xf(xcr0), xf(host));
		status = VL_EXIT_USAGE;
		goto out;
	}
	shr = vl_cpuid_dup(sup);
	if (!shr || vl_cpuid_restrict_xcr0(&shr, xcr0, &err)) {
		fprintf(stderr, "vcpu-lifecycle: cpuid-shrink: %s\n", shr ? err.msg : "out of memory");
		status = VL_EXIT_USAGE;
		goto out;
	}
	sizes = malloc(sizeof(*sizes));
	if (!sizes)
		goto out;
	vl_cpuid_to_model(sup, sizes, "KVM_GET_SUPPORTED_CPUID");
	vl_log("shrink: xcr0 %s -> %s, dropping %s", xf(host), xf(xcr0), xf(host & ~xcr0));
	say_leaf_d("shrunk", shr);
	vl_expect(vl_cpuid_find(shr, 0xd, 0)->ecx == xsw_xstate_size(sizes, xcr0, false),
		  "shrunk 0xD.0 ECX is the size model's standard size (%u)",
		  xsw_xstate_size(sizes, xcr0, false));

	if (!vl_expect(create_vm_vcpu(ctx, &vm, &vcpu) == 0, "VM and vCPU 0 created"))
		goto out;
	vl_expect(kvm_set_cpuid2(vcpu.fd, shr) == 0, "KVM_SET_CPUID2 with the shrunk table succeeds");
	check_guest_xcr0(ctx, &vm, &vcpu, shr, xcr0, host, sizes);
	destroy_vm_vcpu(&vm, &vcpu);
out:
	free(sizes);
	free(shr);
	free(sup);
	return status;
}

static int scenario_cpuid_model(struct vl_ctx *ctx)
{
	struct xsw_cpu_model *model = NULL, *host_sizes = NULL;
	struct kvm_cpuid2 *sup = NULL, *inst = NULL;
	uint64_t host, model_xcr0, installed = 0;
	struct vl_vcpu vcpu;
	struct vl_vm vm;
	struct xsw_err err;
	int status = VL_EXIT_PASS;

	xsw_err_clear(&err);
	model = malloc(sizeof(*model));
	host_sizes = malloc(sizeof(*host_sizes));
	if (!model || !host_sizes)
		goto out;
	if (xsw_cpu_model_load(model, ctx->opts->model_path, &err)) {
		fprintf(stderr, "vcpu-lifecycle: cpuid-model: %s\n", err.msg);
		status = VL_EXIT_USAGE;
		goto out;
	}
	model_xcr0 = xsw_xcr0_supported(model);
	vl_log("model %s: \"%s\", xcr0 %s, %u bytes standard, %u compacted",
	       ctx->opts->model_path, model->name, xf(model_xcr0),
	       xsw_xstate_size(model, model_xcr0, false),
	       xsw_xstate_size(model, model_xcr0, true));

	sup = get_supported(ctx);
	if (!vl_expect(sup != NULL, "KVM_GET_SUPPORTED_CPUID succeeds"))
		goto out;
	host = vl_cpuid_xcr0(sup);
	vl_cpuid_to_model(sup, host_sizes, "KVM_GET_SUPPORTED_CPUID");
	inst = vl_cpuid_dup(sup);
	if (!inst)
		goto out;
	if (!vl_expect(vl_cpuid_install_model(&inst, model, &installed, &err) == 0,
		       "the model's leaf 0xD fits this host (%s)",
		       err.code ? err.msg : "ok"))
		goto out;
	vl_log("installed xcr0 %s = model %s & host %s; not installed: %s",
	       xf(installed), xf(model_xcr0), xf(host), xf(model_xcr0 & ~installed));
	for (unsigned int nr = 2; nr < 63; nr++) {
		struct xsw_xcomp m, h;

		if (!(installed & XSW_XF_MASK(nr)))
			continue;
		m = xsw_xcomp(model, nr);
		h = xsw_xcomp(host_sizes, nr);
		vl_log("component %u %s: model size %u offset %u, host size %u offset %u%s",
		       nr, xsw_xfeature_name(nr) ? xsw_xfeature_name(nr) : "?",
		       m.size, m.offset, h.size, h.offset,
		       (m.size != h.size || m.offset != h.offset) ?
		       " (differs: KVM sizes the buffer from the host, not from this table)" : "");
	}
	say_leaf_d("installed", inst);

	if (!vl_expect(create_vm_vcpu(ctx, &vm, &vcpu) == 0, "VM and vCPU 0 created"))
		goto out;
	vl_expect(kvm_set_cpuid2(vcpu.fd, inst) == 0, "KVM_SET_CPUID2 with the model's leaf 0xD succeeds");
	check_guest_xcr0(ctx, &vm, &vcpu, inst, installed, installed, host_sizes);
	destroy_vm_vcpu(&vm, &vcpu);
out:
	free(inst);
	free(sup);
	free(host_sizes);
	free(model);
	return status;
}

/* --- guests ------------------------------------------------------------ */

static uint64_t elapsed_ns(const struct timespec *a, const struct timespec *b)
{
	return (uint64_t)(b->tv_sec - a->tv_sec) * 1000000000ull + b->tv_nsec - a->tv_nsec;
}

static int scenario_exit_loop(struct vl_ctx *ctx)
{
	unsigned int exits = ctx->opts->exits;
	struct kvm_cpuid2 *sup = NULL;
	struct vl_run_result r;
	struct timespec t0, t1;
	struct vl_vcpu vcpu;
	struct vl_vm vm;
	uint64_t ns;

	sup = get_supported(ctx);
	if (!vl_expect(sup != NULL, "KVM_GET_SUPPORTED_CPUID succeeds"))
		return VL_EXIT_FAIL;
	if (!vl_expect(create_vm_vcpu(ctx, &vm, &vcpu) == 0, "VM and vCPU 0 created"))
		goto out;
	vl_expect(kvm_set_cpuid2(vcpu.fd, sup) == 0, "KVM_SET_CPUID2 succeeds");
	if (vl_vcpu_setup(&vcpu, VL_GUEST_EXIT_LOOP, 0x5a, exits, 0) == 0) {
		vl_log("guest: %u x OUT 0x%x, then HLT", exits, VL_PORT_DONE);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		vl_vcpu_run(&vcpu, exits + 8, &r, false);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ns = elapsed_ns(&t0, &t1);
		vl_expect(r.halted && r.nr_done_outs == exits && r.nr_runs == exits + 1,
			  "%u PIO exits then HLT in %u KVM_RUN calls", exits, exits + 1);
		vl_log("timing: %llu ns for %u KVM_RUN calls, %llu ns per exit round trip",
		       (unsigned long long)ns, r.nr_runs,
		       (unsigned long long)(ns / (r.nr_runs ? r.nr_runs : 1)));
	}
	destroy_vm_vcpu(&vm, &vcpu);
out:
	free(sup);
	return VL_EXIT_PASS;
}

static int scenario_xsetbv(struct vl_ctx *ctx)
{
	struct xsw_cpu_model *sizes = NULL;
	struct kvm_cpuid2 *sup = NULL;
	struct vl_vcpu vcpu;
	struct vl_vm vm;
	uint64_t host, xcr0, beyond = 0;
	int status = VL_EXIT_PASS;
	struct xsw_err err;

	sup = get_supported(ctx);
	if (!vl_expect(sup != NULL, "KVM_GET_SUPPORTED_CPUID succeeds"))
		return VL_EXIT_FAIL;
	host = vl_cpuid_xcr0(sup);
	xcr0 = host;
	if (ctx->opts->xfeatures &&
	    xsw_xfeatures_parse(ctx->opts->xfeatures, &xcr0, &err)) {
		fprintf(stderr, "vcpu-lifecycle: --xfeatures %s: %s\n", ctx->opts->xfeatures, err.msg);
		status = VL_EXIT_USAGE;
		goto out;
	}
	if (xcr0 & ~host) {
		fprintf(stderr, "vcpu-lifecycle: xsetbv: --xfeatures %s is not within the "
			"supported %s\n", xf(xcr0), xf(host));
		status = VL_EXIT_USAGE;
		goto out;
	}
	/* The lowest user feature this CPUID does not offer: XSETBV must #GP. */
	for (unsigned int nr = 2; nr <= XSW_XF_APX && !beyond; nr++)
		if (!(host & XSW_XF_MASK(nr)) && nr != XSW_XF_PT &&
		    !(vl_cpuid_xss(sup) & XSW_XF_MASK(nr)))
			beyond = xcr0 | XSW_XF_MASK(nr);
	if (!beyond)
		beyond = xcr0;
	sizes = malloc(sizeof(*sizes));
	if (!sizes)
		goto out;
	vl_cpuid_to_model(sup, sizes, "KVM_GET_SUPPORTED_CPUID");
	if (!vl_expect(create_vm_vcpu(ctx, &vm, &vcpu) == 0, "VM and vCPU 0 created"))
		goto out;
	vl_expect(kvm_set_cpuid2(vcpu.fd, sup) == 0, "KVM_SET_CPUID2 succeeds");
	check_guest_xcr0(ctx, &vm, &vcpu, sup, xcr0, beyond, sizes);
	destroy_vm_vcpu(&vm, &vcpu);
out:
	free(sizes);
	free(sup);
	return status;
}

/*
 * Two VMs of one vCPU each, CPUID installed (the supported table) and run
 * to HLT: where the exec and close-paths scenarios start. 0, or -1 with
 * nothing left open.
 */
static int two_running_vms(struct vl_ctx *ctx, struct vl_vm vm[2], struct vl_vcpu vcpu[2])
{
	struct kvm_cpuid2 *sup = get_supported(ctx);
	int i;

	if (!vl_expect(sup != NULL, "KVM_GET_SUPPORTED_CPUID succeeds"))
		return -1;
	for (i = 0; i < 2; i++) {
		if (!vl_expect(create_vm_vcpu(ctx, &vm[i], &vcpu[i]) == 0,
			       "VM %d and its vCPU 0 created", i + 1)) {
			if (i)
				destroy_vm_vcpu(&vm[0], &vcpu[0]);
			free(sup);
			return -1;
		}
	}
	for (i = 0; i < 2; i++)
		vl_expect(kvm_set_cpuid2(vcpu[i].fd, sup) == 0, "KVM_SET_CPUID2 on VM %d's vCPU",
			  i + 1);
	free(sup);
	run_hello(&vcpu[0], 0x11);
	run_hello(&vcpu[1], 0x22);
	return 0;
}

/* --- exec --------------------------------------------------------------- */

/*
 * A VMM that execs itself (a re-exec into a new binary, a live update):
 * KVM makes VM and vCPU fds close-on-exec, so exec closes them without a
 * close() call; a VMM that means to keep a VM (QEMU's cpr-exec) clears the
 * flag. Phase 1 configures and runs two VMs of one vCPU each, keeps the
 * second (FD_CLOEXEC cleared) and execs this binary again; phase 2 (the
 * kept fds in the environment) finds the kept vCPU refusing ioctls (KVM
 * ties a VM to the mm that created it: EIO), then creates, configures and
 * runs a third VM. The kept VM, still held, goes with the process's exit.
 */
#define VL_EXEC_KEPT_ENV "VCPU_LIFECYCLE_EXEC_KEPT"

static int exec_phase2(struct vl_ctx *ctx, const char *kept)
{
	struct kvm_cpuid2 *sup;
	struct vl_vcpu vcpu;
	struct vl_vm vm;
	int vm_fd, vcpu_fd;

	vl_log("phase 2, after exec: kept VM fd and vCPU fd %s", kept);
	if (!vl_expect(sscanf(kept, "%d,%d", &vm_fd, &vcpu_fd) == 2, "%s holds two fds",
		       VL_EXEC_KEPT_ENV))
		return VL_EXIT_FAIL;
	vl_expect(fcntl(vm_fd, F_GETFD) == 0 && fcntl(vcpu_fd, F_GETFD) == 0,
		  "the kept VM and vCPU fds survived exec, close-on-exec still clear");
	sup = get_supported(ctx);
	if (!vl_expect(sup != NULL, "KVM_GET_SUPPORTED_CPUID succeeds"))
		return VL_EXIT_FAIL;
	/* kvm_vcpu_ioctl(): a VM belongs to the mm that created it, and exec replaced it. */
	vl_expect(kvm_set_cpuid2(vcpu_fd, sup) == -EIO,
		  "KVM_SET_CPUID2 on the kept vCPU: EIO (the VM is the old mm's)");
	if (vl_expect(create_vm_vcpu(ctx, &vm, &vcpu) == 0, "a new VM and vCPU 0 created")) {
		vl_expect(kvm_set_cpuid2(vcpu.fd, sup) == 0, "KVM_SET_CPUID2 on the new vCPU");
		run_hello(&vcpu, 0x33);
		destroy_vm_vcpu(&vm, &vcpu);
	}
	free(sup);
	/* The kept VM stays open: the process's exit takes it. */
	return VL_EXIT_PASS;
}

static int scenario_exec(struct vl_ctx *ctx)
{
	const char *kept = getenv(VL_EXEC_KEPT_ENV);
	char self[4096], fds[32];
	struct vl_vcpu vcpu[2];
	struct vl_vm vm[2];
	ssize_t n;

	if (kept)
		return exec_phase2(ctx, kept);
	if (two_running_vms(ctx, vm, vcpu))
		return VL_EXIT_FAIL;
	vl_expect(fcntl(vm[0].fd, F_GETFD) == FD_CLOEXEC &&
		  fcntl(vcpu[0].fd, F_GETFD) == FD_CLOEXEC,
		  "KVM made VM 1's fds close-on-exec");
	vl_expect(fcntl(vm[1].fd, F_SETFD, 0) == 0 && fcntl(vcpu[1].fd, F_SETFD, 0) == 0,
		  "VM 2's fds kept across exec (FD_CLOEXEC cleared)");
	/* By its own name: a VMM's comm does not change when it re-execs itself. */
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (!vl_expect(n > 0, "/proc/self/exe names this binary") || vl_failures())
		return VL_EXIT_FAIL;
	self[n] = '\0';
	snprintf(fds, sizeof(fds), "%d,%d", vm[1].fd, vcpu[1].fd);
	if (setenv(VL_EXEC_KEPT_ENV, fds, 1))
		return vl_expect(false, "setenv %s", VL_EXEC_KEPT_ENV), VL_EXIT_FAIL;
	vl_log("exec %s exec (VM 1's fds close with it; VM 2's, %s, stay)", self, fds);
	fflush(NULL);
	execl(self, "vcpu-lifecycle", "exec", (char *)NULL);
	vl_expect(false, "execl %s: %s", self, strerror(errno));
	return VL_EXIT_FAIL;
}

/* --- close-paths ---------------------------------------------------------- */

/*
 * fds that close without close(), and fds made without dup2(): VM 1 and
 * its vCPU go with close_range(); VM 2 loses its vCPU fd to dup2(VM fd,
 * vCPU fd), that duplicate to dup3(), and outlives close() of its own fd
 * through dup() and fcntl(F_DUPFD_CLOEXEC) copies: it goes with the last
 * copy's close(). CLOSE_RANGE_CLOEXEC on VM 2 first closes nothing.
 * KVM_GET_SUPPORTED_CPUID calls mark the steps for a tracer: VM 1 is gone
 * before the first, VM 2 still there after the third.
 */
static int close_range_fds(int first, int last, unsigned int flags, const char *what)
{
	int ret = close_range(first, last, flags);

	vl_log("close_range(%d, %d, %s) -> %s", first, last,
	       flags ? "CLOSE_RANGE_CLOEXEC" : "0", ret ? strerror(errno) : "ok");
	return vl_expect(ret == 0, "close_range() on %s", what) ? 0 : -1;
}

static int scenario_close_paths(struct vl_ctx *ctx)
{
	struct vl_vcpu vcpu[2], *vcpu1 = &vcpu[0], *vcpu2 = &vcpu[1];
	struct vl_vm vm[2], *vm1 = &vm[0], *vm2 = &vm[1];
	int null_fd, dup_fd, dupfd_fd, ret;
	struct kvm_cpuid2 *mark;

	if (two_running_vms(ctx, vm, vcpu))
		return VL_EXIT_FAIL;

	close_range_fds(vm2->fd, vm2->fd, CLOSE_RANGE_CLOEXEC, "VM 2's fd, CLOSE_RANGE_CLOEXEC");
	vl_expect(fcntl(vm2->fd, F_GETFD) == FD_CLOEXEC, "VM 2's fd marked close-on-exec, open");

	/* kvm_run mappings hold their vCPU's file: unmap before the fd goes. */
	munmap(vcpu1->run, vcpu1->run_size);
	vcpu1->run = NULL;
	/* One range over both (created one after the other, nothing between). */
	if (vl_expect(vcpu1->fd == vm1->fd + 1, "VM 1's fds %d, %d are adjacent", vm1->fd, vcpu1->fd))
		close_range_fds(vm1->fd, vcpu1->fd, 0, "VM 1's fd and its vCPU's");
	vcpu1->fd = vm1->fd = -1;
	vl_vm_destroy(vm1);	/* its guest memory */
	mark = get_supported(ctx);	/* step mark 1 */
	free(mark);

	munmap(vcpu2->run, vcpu2->run_size);
	vcpu2->run = NULL;
	ret = dup2(vm2->fd, vcpu2->fd);
	vl_log("dup2(VM fd %d, vCPU fd %d) -> %d", vm2->fd, vcpu2->fd, ret);
	vl_expect(ret == vcpu2->fd, "dup2() puts a VM 2 fd over its vCPU's");
	null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ret = null_fd < 0 ? -1 : dup3(null_fd, vcpu2->fd, O_CLOEXEC);
	vl_log("dup3(/dev/null fd %d, fd %d, O_CLOEXEC) -> %d", null_fd, vcpu2->fd, ret);
	vl_expect(ret == vcpu2->fd, "dup3() puts /dev/null over that VM 2 duplicate");
	mark = get_supported(ctx);	/* step mark 2 */
	free(mark);

	close(vcpu2->fd);	/* /dev/null now */
	vcpu2->fd = -1;
	if (null_fd >= 0)
		close(null_fd);

	/* Copies of VM 2's fd that no dup2() made: the VM outlives its own fd. */
	dup_fd = dup(vm2->fd);
	dupfd_fd = fcntl(vm2->fd, F_DUPFD_CLOEXEC, 64);
	vl_log("dup(VM fd %d) -> %d, fcntl(F_DUPFD_CLOEXEC, 64) -> %d", vm2->fd, dup_fd,
	       dupfd_fd);
	vl_expect(dup_fd >= 0 && dupfd_fd >= 64, "dup() and fcntl(F_DUPFD_CLOEXEC) copy VM 2's fd");
	close(vm2->fd);		/* the copies hold it */
	if (dup_fd >= 0)
		close(dup_fd);
	vl_log("close VM fd %d, then its dup() copy %d", vm2->fd, dup_fd);
	vl_expect(dupfd_fd >= 0 && KVM_CHECK_EXTENSION_NAMED(dupfd_fd, KVM_CAP_USER_MEMORY) > 0,
		  "VM 2 answers through its F_DUPFD copy after its own fd and the dup() copy closed");
	mark = get_supported(ctx);	/* step mark 3 */
	free(mark);

	vm2->fd = dupfd_fd;
	vl_vm_destroy(vm2);	/* close(): its last fd */
	return VL_EXIT_PASS;
}

const struct vl_scenario vl_scenarios[] = {
	{ "basic", "", "supported CPUID -> KVM_SET_CPUID2, run to HLT, destroy", scenario_basic },
	{ "multi", "", "--vms N x --vcpus M, one thread per vCPU, guests to HLT", scenario_multi },
	{ "perm-late", "", "KVM_GET_SUPPORTED_CPUID before the permission request", scenario_perm_late },
	{ "perm-after-lock", "", "permission request after the first vCPU: which errno", scenario_perm_after_lock },
	{ "amx", "", "XTILEDATA permission, AMX CPUID, XSETBV; 77 without AMX", scenario_amx },
	{ "xfd-cpuid", "", "XTILEDATA in KVM_SET_CPUID2, offered by KVM or not", scenario_xfd_cpuid },
	{ "cpuid-twice", "", "KVM_SET_CPUID2 x2, run, same (ok) / changed (EINVAL)", scenario_cpuid_twice },
	{ "xsave-then-cpuid", "", "KVM_SET_XSAVE before KVM_SET_CPUID2, state kept", scenario_xsave_then_cpuid },
	{ "cpuid-shrink", "", "fewer xfeatures (--xfeatures), 0xD sizes from the model", scenario_cpuid_shrink },
	{ "cpuid-model", "FILE", "a CPU model file's leaf 0xD + AMX bits, masked to host", scenario_cpuid_model },
	{ "exit-loop", "", "--exits K port I/O exits; ns per KVM_RUN round trip", scenario_exit_loop },
	{ "xsetbv", "", "guest sets CR4.OSXSAVE, XCR0 (XSETBV); #GP past CPUID", scenario_xsetbv },
	{ "exec", "", "2 VMs run, one kept across exec, a new VM after it", scenario_exec },
	{ "close-paths", "", "VM fds closed by close_range(), dup2(), dup3(); dup()", scenario_close_paths },
	{ NULL, NULL, NULL, NULL },
};

const struct vl_scenario *vl_scenario_find(const char *name)
{
	for (const struct vl_scenario *s = vl_scenarios; s->name; s++)
		if (!strcmp(s->name, name))
			return s;
	return NULL;
}
