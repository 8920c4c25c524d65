// SPDX-License-Identifier: GPL-2.0
/*
 * The pKVM model: the field report of intel-staging/pKVM-IA issue 87
 * reproduces with figures computed from the size model, each fix holds I5
 * where it should, and the engine's verdict agrees with the model's.
 */
#include <errno.h>
#include <string.h>

#include "unit.h"
#include "model.h"

#define XTILE_DATA XSW_XF_MASK(XSW_XF_XTILE_DATA)

static struct xsw_cpu_model *load(const char *name)
{
	struct xsw_cpu_model *m = calloc(1, sizeof(*m));

	assert_non_null(m);
	xsw_test_load_cpu(m, name);
	return m;
}

static void run(const struct xsw_cpu_model *cpu, enum xsw_model_vmm vmm,
		enum xsw_model_policy policy, struct xsw_model_result *r)
{
	struct xsw_model_scenario s = { .cpu = cpu, .vmm = vmm, .policy = policy, .pid = 7, .vm = 1 };
	struct xsw_err err = { 0 };

	if (xsw_model_run(&s, r, NULL, NULL, &err))
		fail_msg("model run: %s", err.msg);
}

/* 4096 = PAGE_ALIGN(64 + fpu_user_cfg.default_size), the latter from leaf 0xD. */
static void test_initial_buffer(void **state)
{
	struct xsw_cpu_model *spr = load("sapphire-rapids-w9-3475x.cpu");
	struct xsw_model_host h;
	uint64_t user_default;

	xsw_model_host_init(&h, spr);
	user_default = xsw_xcr0_supported(spr) & ~XTILE_DATA;	/* 0x202e7: XTILECFG stays */
	assert_int_equal(h.user_default_features, user_default);
	assert_int_equal(h.user_default_size, xsw_xstate_size(spr, user_default, false));
	assert_int_equal(xsw_model_initial_hyp_size(&h),
			 XSW_MODEL_PAGE_ALIGN(64 + xsw_xstate_size(spr, user_default, false)));
	/* The field report's cur=4096. */
	assert_int_equal(xsw_model_initial_hyp_size(&h), 4096);
	assert_int_equal(h.user_max_size, xsw_xstate_size(spr, xsw_xcr0_supported(spr), false));
	free(spr);
}

struct collect {
	struct xsw_event ev[16];
	unsigned int nr;
};

static void collect(void *arg, const struct xsw_event *ev)
{
	struct collect *c = arg;

	assert_true(c->nr < 16);
	assert_int_equal(ev->source, XSW_SRC_MODEL);
	c->ev[c->nr++] = *ev;
}

/* SPR, crosvm (no permission), today's pKVM: cur=4096 need=10752, -ENOMEM. */
static void test_reported_case(void **state)
{
	struct xsw_cpu_model *spr = load("sapphire-rapids-w9-3475x.cpu");
	struct xsw_model_scenario s = {
		.cpu = spr, .vmm = XSW_VMM_CROSVM, .policy = XSW_POLICY_CURRENT, .pid = 7, .vm = 1,
	};
	struct xsw_model_result r;
	struct collect c = { .nr = 0 };
	uint64_t cpu_xcr0 = xsw_xcr0_supported(spr);
	uint32_t need = xsw_xstate_size(spr, cpu_xcr0, true);
	const struct xsw_event *fail = NULL, *set = NULL;
	unsigned int i;

	assert_int_equal(xsw_model_run(&s, &r, collect, &c, NULL), 0);
	assert_int_equal(r.vmm_xcr0, cpu_xcr0 & ~XSW_XF_MASK_AMX);
	assert_int_equal(r.hyp_xcr0, cpu_xcr0);
	assert_true(r.changed_behind_vmm);
	assert_int_equal(r.hyp_buffer_size, 4096);
	assert_int_equal(r.hyp_need, need);
	assert_int_equal(need, 10752);
	assert_int_equal(r.hyp_ret, -ENOMEM);
	assert_false(r.i5_holds);
	assert_int_equal(r.guest_xcr0, 0);

	for (i = 0; i < c.nr; i++) {
		if (c.ev[i].type == XSW_EV_FPSTATE_REALLOC && c.ev[i].ret)
			fail = &c.ev[i];
		if (c.ev[i].type == XSW_EV_SET_CPUID)
			set = &c.ev[i];
	}
	assert_non_null(fail);
	assert_int_equal(fail->ret, -ENOMEM);
	assert_int_equal(fail->realloc.old_size, 4096);
	assert_int_equal(fail->realloc.new_size, need);
	assert_int_equal(fail->realloc.xfeatures_added, XTILE_DATA);
	assert_non_null(set);
	assert_true(set > fail);
	assert_int_equal(set->ret, 0);		/* the VMM's ioctl does not see it */
	assert_int_equal(set->set_cpuid.hyp_buffer_size, 4096);
	assert_int_equal(set->set_cpuid.hyp_xcr0, cpu_xcr0);
	assert_int_equal(c.ev[0].type, XSW_EV_SUPPORTED_CPUID);	/* crosvm asks no permission */
	free(spr);
}

/* Each fix on SPR: I5 holds where the fix addresses the case, at a cost. */
static void test_fixes_spr(void **state)
{
	struct xsw_cpu_model *spr = load("sapphire-rapids-w9-3475x.cpu");
	uint64_t cpu_xcr0 = xsw_xcr0_supported(spr);
	uint32_t pr77_bytes = XSW_MODEL_PAGE_ALIGN(64 + xsw_xstate_size(spr, cpu_xcr0, false));
	struct xsw_model_result r;

	/* PR 77: holds, guest still gets AMX, the buffer costs max_size per vCPU. */
	run(spr, XSW_VMM_CROSVM, XSW_POLICY_PR77_MAX_SIZE, &r);
	assert_true(r.i5_holds);
	assert_int_equal(r.hyp_buffer_size, pr77_bytes);
	assert_int_equal(pr77_bytes, 12288);
	assert_int_equal(r.guest_xcr0, cpu_xcr0);
	assert_true(r.changed_behind_vmm);

	/* PR 88: holds, the guest sees what the VMM installed, no extra memory. */
	run(spr, XSW_VMM_CROSVM, XSW_POLICY_PR88_ALIGN, &r);
	assert_true(r.i5_holds);
	assert_int_equal(r.guest_xcr0, r.vmm_xcr0);
	assert_false(r.changed_behind_vmm);
	assert_int_equal(r.hyp_buffer_size, 4096);
	run(spr, XSW_VMM_QEMU_NO_AMX, XSW_POLICY_PR88_ALIGN, &r);
	assert_true(r.i5_holds);
	assert_false(r.changed_behind_vmm);

	/* Permission sync fixes crosvm, but not a VMM that is permitted AMX and hides it. */
	run(spr, XSW_VMM_CROSVM, XSW_POLICY_PERM_SYNC, &r);
	assert_true(r.i5_holds);
	assert_false(r.changed_behind_vmm);
	run(spr, XSW_VMM_QEMU_NO_AMX, XSW_POLICY_PERM_SYNC, &r);
	assert_false(r.i5_holds);
	assert_int_equal(r.hyp_ret, -ENOMEM);

	/* QEMU with permission works today: the host grows the buffer first. */
	run(spr, XSW_VMM_QEMU, XSW_POLICY_CURRENT, &r);
	assert_true(r.perm_requested);
	assert_true(r.hyp_realloc);
	assert_int_equal(r.hyp_buffer_size,
			 XSW_MODEL_PAGE_ALIGN(64 + xsw_xstate_size(spr, r.guest_perm | r.host.default_features,
								  true)));
	assert_true(r.i5_holds);

	/* AMX in CPUID without permission: host KVM refuses, nothing reaches pKVM. */
	run(spr, XSW_VMM_RAW_AMX_NO_PERM, XSW_POLICY_CURRENT, &r);
	assert_int_equal(r.host_ret, -EPERM);
	assert_false(r.synced);
	free(spr);
}

/* No AMX: no VMM behaviour and no policy violates I5. */
static void check_no_violation(const char *file)
{
	struct xsw_cpu_model *cpu = load(file);
	struct xsw_model_result r;
	unsigned int v, p;

	for (v = 0; v < XSW_VMM_NR; v++)
		for (p = 0; p < XSW_POLICY_NR; p++) {
			run(cpu, v, p, &r);
			if (!r.i5_holds)
				fail_msg("%s vmm %s policy %s violates I5", file, xsw_model_vmm_name(v),
					 xsw_model_policy_name(p));
			assert_int_equal(r.hyp_buffer_size, 4096);
		}
	free(cpu);
}

static void test_zen4_and_host_hold(void **state)
{
	check_no_violation("zen4-genoa-epyc9654.cpu");
	check_no_violation("host.cpu");
}

static void test_names(void **state)
{
	unsigned int i;

	for (i = 0; i < XSW_VMM_NR; i++)
		assert_int_equal(xsw_model_vmm_from_name(xsw_model_vmm_name(i)), (int)i);
	for (i = 0; i < XSW_POLICY_NR; i++)
		assert_int_equal(xsw_model_policy_from_name(xsw_model_policy_name(i)), (int)i);
	assert_int_equal(xsw_model_policy_from_name("pr99"), -1);
	assert_int_equal(xsw_model_vmm_from_name(""), -1);
}

#ifdef XSW_MODEL_HAVE_ENGINE
/* The collector's engine reaches the same verdict, with the field figures. */
static void test_engine_verdicts(void **state)
{
	struct xsw_cpu_model *spr = load("sapphire-rapids-w9-3475x.cpu");
	struct xsw_model_scenario s = { .cpu = spr, .pid = 7, .vm = 1 };
	struct xsw_model_verdict v;
	struct xsw_model_result r;
	struct xsw_err err = { 0 };
	bool seen_need = false;
	unsigned int i, vmm, pol;

	s.vmm = XSW_VMM_CROSVM;
	s.policy = XSW_POLICY_CURRENT;
	assert_int_equal(xsw_model_judge(&s, &r, &v, NULL, &err), 0);
	assert_true(v.nr_violations > 0);
	for (i = 0; i < v.nr_findings; i++) {
		assert_string_equal(v.findings[i].finding.id, "I5");
		assert_int_equal(v.findings[i].finding.have_size, 4096);
		if (v.findings[i].finding.need_size == xsw_xstate_size(spr, xsw_xcr0_supported(spr), true))
			seen_need = true;
		assert_int_equal(v.findings[i].pid, 7);
		assert_int_equal(v.findings[i].vcpu_id, 0);
	}
	assert_true(seen_need);

	for (vmm = 0; vmm < XSW_VMM_NR; vmm++)
		for (pol = 0; pol < XSW_POLICY_NR; pol++) {
			s.vmm = vmm;
			s.policy = pol;
			assert_int_equal(xsw_model_judge(&s, &r, &v, NULL, &err), 0);
			if (r.i5_holds != (v.nr_violations == 0))
				fail_msg("vmm %s policy %s: model says I5 %s, engine found %u violations",
					 xsw_model_vmm_name(vmm), xsw_model_policy_name(pol),
					 r.i5_holds ? "holds" : "fails", v.nr_violations);
		}
	free(spr);
}
#else
static void test_engine_verdicts(void **state)
{
	skip_because("built without the collector's engine library");
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_initial_buffer),
		cmocka_unit_test(test_reported_case),
		cmocka_unit_test(test_fixes_spr),
		cmocka_unit_test(test_zen4_and_host_hold),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_engine_verdicts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
