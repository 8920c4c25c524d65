// SPDX-License-Identifier: GPL-2.0
/*
 * The invariant checks and lints, each holding and failing, on real CPU
 * models (tests/fixtures/cpu). Expected sizes are the size model's own
 * figures for the same masks, cross-checked once against the published
 * Sapphire Rapids numbers (DESIGN.md: 0x602e7 = 10752 compacted / 11008
 * standard, 0x2e7 = 2440 / 2696).
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "unit.h"

#include "checks.h"

static struct xsw_cpu_model spr, zen4, host;

static int setup(void **state)
{
	xsw_test_load_cpu(&spr, "sapphire-rapids-w9-3475x.cpu");
	xsw_test_load_cpu(&zen4, "zen4-genoa-epyc9654.cpu");
	xsw_test_load_cpu(&host, "host.cpu");
	return 0;
}

static struct xsw_fpstate fps(uint32_t size, uint32_t user_size, uint64_t xf, uint64_t uxf)
{
	struct xsw_fpstate f = { 0 };

	f.size = size;
	f.user_size = user_size;
	f.xfeatures = xf;
	f.user_xfeatures = uxf;
	f.is_guest = 1;
	f.valid = 1;
	return f;
}

static void test_published_sizes(void **state)
{
	/* The figures the checks rest on, against DESIGN.md's checked numbers. */
	assert_int_equal(xsw_xstate_size(&spr, 0x602e7, true), 10752);
	assert_int_equal(xsw_xstate_size(&spr, 0x602e7, false), 11008);
	assert_int_equal(xsw_xstate_size(&spr, 0x2e7, true), 2440);
	assert_int_equal(xsw_xstate_size(&spr, 0x2e7, false), 2696);
	assert_true(xsw_kernel_uses_compacted(&spr));
	assert_int_equal(xsw_xfeatures_dynamic(&spr), XSW_XF_MASK(XSW_XF_XTILE_DATA));
	assert_int_equal(xsw_xfeatures_dynamic(&zen4), 0);
}

static void test_info(void **state)
{
	int i;

	for (i = 0; i < XSW_CHECK_MAX; i++) {
		const struct xsw_check_info *info = xsw_check_info(i);

		assert_non_null(info);
		assert_true(strlen(info->id) < XSW_FINDING_ID_LEN);
		assert_int_equal(xsw_check_from_id(info->id), i);
		assert_int_equal(info->lint, i >= XSW_NR_INVARIANTS);
	}
	assert_null(xsw_check_info(XSW_CHECK_MAX));
	assert_int_equal(xsw_check_from_id("I9"), -1);
}

static void test_i1(void **state)
{
	struct xsw_checker c;
	struct xsw_ev_finding f;
	struct xsw_fpstate s = fps(2440, 2696, 0x2e7, 0x2e7);

	xsw_checker_init(&c, &spr, true);
	assert_int_equal(xsw_check_i1(&c, &s, &f), XSW_VERDICT_HOLDS);
	s.size = 2439;
	assert_int_equal(xsw_check_i1(&c, &s, &f), XSW_VERDICT_FAILS);
	assert_string_equal(f.id, "I1");
	assert_int_equal(f.have_size, 2439);
	assert_int_equal(f.need_size, 2440);
	assert_int_equal(f.need_mask, 0x2e7);
	assert_non_null(strstr(f.text, "compacted"));
	s.size = 2440;
	s.user_size = 2695;
	assert_int_equal(xsw_check_i1(&c, &s, &f), XSW_VERDICT_FAILS);
	assert_int_equal(f.need_size, 2696);
	assert_non_null(strstr(f.text, "user_size"));
	/* Standard-format kernel (no XSAVES/XSAVEC): the buffer needs 2696. */
	xsw_checker_init(&c, &spr, false);
	s = fps(2440, 2696, 0x2e7, 0x2e7);
	assert_int_equal(xsw_check_i1(&c, &s, &f), XSW_VERDICT_FAILS);
	assert_int_equal(f.need_size, 2696);
	s.valid = 0;
	assert_int_equal(xsw_check_i1(&c, &s, &f), XSW_VERDICT_UNKNOWN);
}

static void test_i2(void **state)
{
	struct xsw_checker c;
	struct xsw_ev_finding f;
	struct xsw_fpstate s = fps(10752, 11008, 0x602e7, 0x602e7);
	uint64_t sup = xsw_xss_supported(&host);

	xsw_checker_init(&c, &spr, true);
	assert_int_equal(xsw_check_i2(&c, &s, 0x602e7, &f), XSW_VERDICT_HOLDS);
	/* pKVM-IA issue 87: 4096 held, 10752 needed. */
	s = fps(4096, 2696, 0x2e7, 0x2e7);
	assert_int_equal(xsw_check_i2(&c, &s, 0x602e7, &f), XSW_VERDICT_FAILS);
	assert_string_equal(f.id, "I2");
	assert_int_equal(f.have_size, 4096);
	assert_int_equal(f.need_size, 10752);
	assert_int_equal(f.need_mask, 0x602e7);
	assert_int_equal(xsw_check_i2(&c, &s, 0, &f), XSW_VERDICT_UNKNOWN);

	/* The supervisor part of fpstate->xfeatures counts (host: CET in XSS). */
	assert_true(sup != 0);
	xsw_checker_init(&c, &host, true);
	s = fps(xsw_xstate_size(&host, 0xe7 | sup, true), 2432, 0xe7 | sup, 0xe7);
	assert_int_equal(xsw_check_i2(&c, &s, 0xe7, &f), XSW_VERDICT_HOLDS);
	s.size = xsw_xstate_size(&host, 0xe7, true);
	assert_true(s.size < xsw_xstate_size(&host, 0xe7 | sup, true));
	assert_int_equal(xsw_check_i2(&c, &s, 0xe7, &f), XSW_VERDICT_FAILS);
	assert_int_equal(f.need_mask, 0xe7 | sup);
}

static void test_i3(void **state)
{
	struct xsw_checker c;
	struct xsw_ev_finding f;
	struct xsw_perm perm = { .perm = 0x2e7, .size = 2440, .valid = 1 };

	xsw_checker_init(&c, &spr, true);
	assert_int_equal(xsw_check_i3(&c, 0x602e7, &perm, &f), XSW_VERDICT_FAILS);
	assert_string_equal(f.id, "I3");
	assert_int_equal(f.have_mask, 0x2e7);
	assert_int_equal(f.need_mask, 0x402e7);
	assert_non_null(strstr(f.text, "0x40000"));
	/* Static features need no permission. */
	assert_int_equal(xsw_check_i3(&c, 0x202e7, &perm, &f), XSW_VERDICT_HOLDS);
	perm.perm = 0x602e7;
	assert_int_equal(xsw_check_i3(&c, 0x602e7, &perm, &f), XSW_VERDICT_HOLDS);
	perm.valid = 0;
	assert_int_equal(xsw_check_i3(&c, 0x602e7, &perm, &f), XSW_VERDICT_UNKNOWN);
	/* A CPU without XFD has no dynamic features. */
	xsw_checker_init(&c, &zen4, true);
	perm.valid = 1;
	perm.perm = 0x2e7;
	assert_int_equal(xsw_check_i3(&c, 0x602e7, &perm, &f), XSW_VERDICT_HOLDS);
}

static void test_i4(void **state)
{
	struct xsw_checker c;
	struct xsw_ev_finding f;
	struct xsw_fpstate s = fps(10752, 11008, 0x602e7, 0x602e7);

	xsw_checker_init(&c, &spr, true);
	assert_int_equal(xsw_check_i4(&c, &s, 11008, 0x602e7, &f), XSW_VERDICT_HOLDS);
	assert_int_equal(xsw_check_i4(&c, &s, 0, 0x602e7, &f), XSW_VERDICT_HOLDS);
	assert_int_equal(xsw_check_i4(&c, &s, 2696, 0x602e7, &f), XSW_VERDICT_FAILS);
	assert_string_equal(f.id, "I4");
	assert_int_equal(f.have_size, 2696);
	assert_int_equal(f.need_size, 11008);
	assert_non_null(strstr(f.text, "uabi_size"));
	s.user_size = 2696;
	assert_int_equal(xsw_check_i4(&c, &s, 0, 0x602e7, &f), XSW_VERDICT_FAILS);
	assert_non_null(strstr(f.text, "user_size"));
	assert_int_equal(xsw_check_i4(&c, &s, 0, 0, &f), XSW_VERDICT_UNKNOWN);
}

/*
 * The uABI size against KVM_CAP_XSAVE2: a KVM that leaves AMX out of its
 * supported xcr0 (0x2e7) reports 4096, while a vCPU whose CPUID enabled
 * XTILEDATA under the permission has uabi_size 11008 (seen on kvm-pvm).
 */
static void test_i4_cap(void **state)
{
	struct xsw_checker c;
	struct xsw_ev_finding f;

	xsw_checker_init(&c, &spr, true);
	assert_int_equal(xsw_check_i4_cap(&c, 11008, 0x602e7, 0x602e7, &f), XSW_VERDICT_HOLDS);
	/* The cap is at least sizeof(struct kvm_xsave). */
	assert_int_equal(xsw_check_i4_cap(&c, 4096, 0x602e7, 0x3, &f), XSW_VERDICT_HOLDS);
	assert_int_equal(xsw_check_i4_cap(&c, 4097, 0x602e7, 0x3, &f), XSW_VERDICT_FAILS);
	assert_int_equal(xsw_check_i4_cap(&c, 11008, 0x602e7, 0x2e7, &f), XSW_VERDICT_FAILS);
	assert_string_equal(f.id, "I4");
	assert_int_equal(f.have_size, 4096);
	assert_int_equal(f.need_size, 11008);
	assert_int_equal(f.need_mask, 0x602e7);
	assert_non_null(strstr(f.text, "KVM_CAP_XSAVE2 4096"));
	/* Unknown: no uABI size, or KVM's xcr0 not seen. */
	assert_int_equal(xsw_check_i4_cap(&c, 0, 0x602e7, 0x2e7, &f), XSW_VERDICT_UNKNOWN);
	assert_int_equal(xsw_check_i4_cap(&c, 11008, 0x602e7, 0, &f), XSW_VERDICT_UNKNOWN);
}

static void test_i5(void **state)
{
	struct xsw_checker c;
	struct xsw_ev_finding f;

	xsw_checker_init(&c, &spr, true);
	assert_int_equal(xsw_check_i5(&c, 4096, 0x602e7, 0x2e7, &f), XSW_VERDICT_FAILS);
	assert_string_equal(f.id, "I5");
	assert_int_equal(f.have_size, 4096);
	assert_int_equal(f.need_size, 10752);
	assert_int_equal(xsw_check_i5(&c, 12288, 0x602e7, 0x2e7, &f), XSW_VERDICT_HOLDS);
	assert_int_equal(xsw_check_i5(&c, 4096, 0x2e7, 0x2e7, &f), XSW_VERDICT_HOLDS);
	assert_int_equal(xsw_check_i5(&c, 0, 0, 0, &f), XSW_VERDICT_NA);
}

static void test_lint_cpuid_size(void **state)
{
	/* EBX follows the guest's XCR0 (576 at reset): only ECX counts. */
	struct xsw_cpuid_xsave cpuid = { .xcr0 = 0x602e7, .size_std = 576, .size_max = 2696,
					 .has_leaf_d = 1 };
	struct xsw_checker c;
	struct xsw_ev_finding f;

	xsw_checker_init(&c, &spr, true);
	assert_int_equal(xsw_lint_cpuid_size(&c, &cpuid, &f), XSW_VERDICT_FAILS);
	assert_string_equal(f.id, "cpuid-size-low");
	assert_int_equal(f.need_size, 11008);
	cpuid.size_max = 11008;
	assert_int_equal(xsw_lint_cpuid_size(&c, &cpuid, &f), XSW_VERDICT_HOLDS);
	cpuid.has_leaf_d = 0;
	assert_int_equal(xsw_lint_cpuid_size(&c, &cpuid, &f), XSW_VERDICT_UNKNOWN);
}

/* xsw_checks_run: which event runs which check. */
static unsigned int nr_found;
static struct xsw_ev_finding found[8];

static void collect(void *arg, enum xsw_check check, const struct xsw_ev_finding *f)
{
	if (nr_found < 8)
		found[nr_found++] = *f;
}

static void test_run_set_cpuid(void **state)
{
	enum xsw_verdict v[XSW_NR_INVARIANTS];
	struct xsw_proc_state proc = { .pid = 1 };
	struct xsw_vcpu_state vcpu = { .pid = 1 };
	struct xsw_event ev = { .type = XSW_EV_SET_CPUID, .vcpu_id = 0 };
	struct xsw_checker c;

	xsw_checker_init(&c, &spr, true);
	proc.guest_perm = (struct xsw_perm){ .perm = 0x2e7, .valid = 1 };
	vcpu.fps = fps(4096, 11008, 0x2e7, 0x2e7);
	vcpu.guest_supported_xcr0 = 0x602e7;
	vcpu.cpuid_generation = 1;
	ev.set_cpuid.cpuid.xcr0 = 0x602e7;

	/* A failed KVM_SET_CPUID2 changed nothing: nothing to check. */
	ev.ret = -EINVAL;
	nr_found = 0;
	xsw_checks_run(&c, &ev, &proc, &vcpu, NULL, v, collect, NULL);
	assert_int_equal(nr_found, 0);
	assert_int_equal(v[XSW_CHECK_I2], XSW_VERDICT_UNKNOWN);

	ev.ret = 0;
	xsw_checks_run(&c, &ev, &proc, &vcpu, NULL, v, collect, NULL);
	assert_int_equal(v[XSW_CHECK_I1], XSW_VERDICT_HOLDS);
	assert_int_equal(v[XSW_CHECK_I2], XSW_VERDICT_FAILS);
	assert_int_equal(v[XSW_CHECK_I3], XSW_VERDICT_FAILS);
	assert_int_equal(v[XSW_CHECK_I4], XSW_VERDICT_HOLDS);
	assert_int_equal(v[XSW_CHECK_I5], XSW_VERDICT_NA);
	assert_int_equal(nr_found, 2);
	assert_string_equal(found[0].id, "I2");
	assert_int_equal(found[0].cause_type, XSW_EV_SET_CPUID);
	assert_string_equal(found[1].id, "I3");
}

static void test_run_perm_lints(void **state)
{
	enum xsw_verdict v[XSW_NR_INVARIANTS];
	struct xsw_proc_state proc = { .pid = 1 };
	struct xsw_event ev = { .type = XSW_EV_PERM_REQUEST, .vcpu_id = -1 };
	struct xsw_checker c;

	xsw_checker_init(&c, &spr, true);
	ev.perm.guest = 1;
	ev.perm.request = 1;
	ev.perm.arg = XSW_XF_XTILE_DATA;
	ev.perm.after = (struct xsw_perm){ .perm = 0x602e7, .valid = 1 };

	/* Permission first, no CPUID read yet: clean. */
	nr_found = 0;
	xsw_checks_run(&c, &ev, &proc, NULL, NULL, v, collect, NULL);
	assert_int_equal(nr_found, 0);

	/* The CPUID was read before, when the permission lacked AMX. */
	proc.supported_cpuid_read = true;
	proc.perm_at_supported_read = (struct xsw_perm){ .perm = 0x2e7, .valid = 1 };
	xsw_checks_run(&c, &ev, &proc, NULL, NULL, v, collect, NULL);
	assert_int_equal(nr_found, 1);
	assert_string_equal(found[0].id, "cpuid-pre-perm");
	assert_non_null(strstr(found[0].text, "0x60000"));

	/* Locked: EBUSY. */
	nr_found = 0;
	proc.supported_cpuid_read = false;
	ev.ret = -EBUSY;
	xsw_checks_run(&c, &ev, &proc, NULL, NULL, v, collect, NULL);
	assert_int_equal(nr_found, 1);
	assert_string_equal(found[0].id, "perm-after-lock");
	assert_non_null(strstr(found[0].text, "EBUSY"));

	/* A host (not guest) permission request is not the guest's business. */
	nr_found = 0;
	ev.perm.guest = 0;
	xsw_checks_run(&c, &ev, &proc, NULL, NULL, v, collect, NULL);
	assert_int_equal(nr_found, 0);
}

static void test_run_cpuid_after_run(void **state)
{
	enum xsw_verdict v[XSW_NR_INVARIANTS];
	struct xsw_proc_state proc = { .pid = 1 };
	struct xsw_vcpu_state prev = { .pid = 1 }, vcpu;
	struct xsw_event ev = { .type = XSW_EV_SET_CPUID, .vcpu_id = 0 };
	struct xsw_checker c;

	xsw_checker_init(&c, &spr, true);
	prev.fps = fps(2440, 2696, 0x2e7, 0x2e7);
	prev.guest_supported_xcr0 = 0x2e7;
	prev.cpuid.xcr0 = 0x2e7;
	prev.cpuid_generation = 1;
	vcpu = prev;
	vcpu.cpuid_generation = 2;
	ev.set_cpuid.cpuid.xcr0 = 0x2e7;

	ev.set_cpuid.cpuid.xcr0 = 0x202e7;
	nr_found = 0;
	xsw_checks_run(&c, &ev, &proc, &vcpu, &prev, v, collect, NULL);
	assert_int_equal(nr_found, 0);	/* not run yet */
	prev.ran = vcpu.ran = true;
	xsw_checks_run(&c, &ev, &proc, &vcpu, &prev, v, collect, NULL);
	assert_int_equal(nr_found, 1);
	assert_string_equal(found[0].id, "cpuid-after-run");
	assert_int_equal(found[0].have_mask, 0x2e7);
	assert_int_equal(found[0].need_mask, 0x202e7);

	/* The same table again after KVM_RUN is allowed (kvm_cpuid_check_equal). */
	nr_found = 0;
	ev.set_cpuid.cpuid = prev.cpuid;
	xsw_checks_run(&c, &ev, &proc, &vcpu, &prev, v, collect, NULL);
	assert_int_equal(nr_found, 0);

	/*
	 * KVM's own table (KVM_GET_CPUID2) may differ from what the VMM set
	 * in leaf 0xD and still be accepted: what counts is what KVM derived.
	 */
	ev.set_cpuid.cpuid.xcr0 = 0x202e7;
	ev.set_cpuid.guest_supported_xcr0 = 0x2e7;
	xsw_checks_run(&c, &ev, &proc, &vcpu, &prev, v, collect, NULL);
	assert_int_equal(nr_found, 0);
	ev.set_cpuid.guest_supported_xcr0 = 0x202e7;
	xsw_checks_run(&c, &ev, &proc, &vcpu, &prev, v, collect, NULL);
	assert_int_equal(nr_found, 1);
	assert_int_equal(found[0].need_mask, 0x202e7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_published_sizes),
		cmocka_unit_test(test_info),
		cmocka_unit_test(test_i1),
		cmocka_unit_test(test_i2),
		cmocka_unit_test(test_i3),
		cmocka_unit_test(test_i4),
		cmocka_unit_test(test_i4_cap),
		cmocka_unit_test(test_i5),
		cmocka_unit_test(test_lint_cpuid_size),
		cmocka_unit_test(test_run_set_cpuid),
		cmocka_unit_test(test_run_perm_lints),
		cmocka_unit_test(test_run_cpuid_after_run),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
