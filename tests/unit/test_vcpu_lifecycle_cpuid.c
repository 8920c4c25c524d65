// SPDX-License-Identifier: GPL-2.0
/*
 * vcpu-lifecycle's CPUID table edits (tools/vcpu-lifecycle/cpuid.c), on
 * tables built from the CPU model fixtures as KVM_GET_SUPPORTED_CPUID
 * would return them. Expected sizes are worked out by hand from the
 * fixtures' sub-leaves (Intel SDM vol. 1, 13.4), not by the size model.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "../../tools/vcpu-lifecycle/cpuid.h"

static struct xsw_cpu_model *load(const char *name)
{
	struct xsw_cpu_model *m = calloc(1, sizeof(*m));

	assert_non_null(m);
	xsw_test_load_cpu(m, name);
	return m;
}

/* A model's registers as a kvm_cpuid2 table. */
static struct kvm_cpuid2 *table_of(const char *name)
{
	struct xsw_cpu_model *m = load(name);
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	for (unsigned int i = 0; i < m->nr_entries; i++)
		assert_int_equal(vl_cpuid_set(&c, m->entries[i].leaf, m->entries[i].subleaf,
					      &m->entries[i].r), 0);
	free(m);
	return c;
}

static uint32_t reg(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx, char which)
{
	struct kvm_cpuid_entry2 *e = vl_cpuid_find(c, fn, idx);

	if (!e)
		return 0;
	switch (which) {
	case 'a': return e->eax;
	case 'b': return e->ebx;
	case 'c': return e->ecx;
	default: return e->edx;
	}
}

static void test_restrict_spr_to_avx(void **state)
{
	struct kvm_cpuid2 *c = table_of("sapphire-rapids-w9-3475x.cpu");
	struct xsw_err err = { 0 };

	assert_int_equal(vl_cpuid_xcr0(c), 0x602e7);
	assert_int_equal(vl_cpuid_restrict_xcr0(&c, 0x7, &err), 0);

	assert_int_equal(reg(c, 0xd, 0, 'a'), 0x7);
	assert_int_equal(reg(c, 0xd, 0, 'd'), 0);
	/* 512 legacy + 64 header + 256 YMM_Hi128 at 576. */
	assert_int_equal(reg(c, 0xd, 0, 'b'), 832);
	assert_int_equal(reg(c, 0xd, 0, 'c'), 832);
	/*
	 * Compacted, with the supervisor states SPR's XSS enumerates (0xdd00):
	 * 832 + PT 128 + PASID 8 + CET_U 16 + CET_S 24 + UINTR 48 + LBR 808.
	 */
	assert_int_equal(reg(c, 0xd, 1, 'b'), 1864);
	/* Removed components' sub-leaves are gone, kept ones stay. */
	assert_non_null(vl_cpuid_find(c, 0xd, 2));
	for (unsigned int nr = 5; nr <= 18; nr++) {
		if (nr == 5 || nr == 6 || nr == 7 || nr == 9 || nr == 17 || nr == 18)
			assert_null(vl_cpuid_find(c, 0xd, nr));
	}
	/* Supervisor sub-leaves (XSS) are not the xcr0 edit's business. */
	assert_non_null(vl_cpuid_find(c, 0xd, 8));
	/* Flags: AVX2 kept; AVX512F, PKU, AMX-TILE cleared; AMX leaves dropped. */
	assert_true(reg(c, 0x7, 0, 'b') & (1u << 5));
	assert_false(reg(c, 0x7, 0, 'b') & (1u << 16));
	assert_false(reg(c, 0x7, 0, 'c') & (1u << 3));
	assert_false(reg(c, 0x7, 0, 'd') & (1u << 24));
	assert_false(reg(c, 0x7, 0, 'd') & (1u << 22));
	assert_null(vl_cpuid_find(c, 0x1d, 0));
	assert_null(vl_cpuid_find(c, 0x1e, 0));
	assert_true(reg(c, 0x1, 0, 'c') & (1u << 28));	/* AVX still there */
	free(c);
}

static void test_restrict_drops_avx_flags(void **state)
{
	struct kvm_cpuid2 *c = table_of("zen4-genoa-epyc9124.cpu");
	struct xsw_err err = { 0 };

	assert_int_equal(vl_cpuid_restrict_xcr0(&c, 0x3, &err), 0);
	assert_int_equal(reg(c, 0xd, 0, 'c'), 576);
	assert_false(reg(c, 0x1, 0, 'c') & (1u << 28));	/* AVX */
	assert_false(reg(c, 0x7, 0, 'b') & (1u << 5));	/* AVX2 */
	assert_null(vl_cpuid_find(c, 0xd, 2));
	free(c);
}

static void test_restrict_rejects_bad_masks(void **state)
{
	struct kvm_cpuid2 *c = table_of("zen4-genoa-epyc9124.cpu");
	struct kvm_cpuid2 *before = vl_cpuid_dup(c);
	struct xsw_err err = { 0 };

	/* AMX is not in Zen 4's table: not a subset. */
	assert_int_equal(vl_cpuid_restrict_xcr0(&c, 0x602e7, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "not all in the table"));
	/* YMM without SSE breaks the kernel's rules. */
	assert_int_equal(vl_cpuid_restrict_xcr0(&c, 0x5, &err), -EINVAL);
	/* A refused edit leaves the table alone. */
	assert_true(vl_cpuid_equal(c, before));
	free(before);
	free(c);
}

static void test_install_spr_model_on_zen4(void **state)
{
	struct kvm_cpuid2 *c = table_of("zen4-genoa-epyc9124.cpu");
	struct xsw_cpu_model *spr = load("sapphire-rapids-w9-3475x.cpu");
	struct xsw_err err = { 0 };
	uint64_t installed = 0;

	assert_int_equal(vl_cpuid_install_model(&c, spr, &installed, &err), 0);
	/* SPR 0x602e7 masked to Zen 4's 0x2e7. */
	assert_int_equal(installed, 0x2e7);
	assert_int_equal(reg(c, 0xd, 0, 'a'), 0x2e7);
	/* The model's sub-leaves: PKRU at SPR's offset 0xa80, not Zen 4's 0x980. */
	assert_int_equal(reg(c, 0xd, 9, 'b'), 0xa80);
	/* Sizes from the model's layout: PKRU 2688 + 8 = 2696 standard. */
	assert_int_equal(reg(c, 0xd, 0, 'c'), 2696);
	/* No AMX on the host: none installed, no AMX sub-leaves added. */
	assert_false(reg(c, 0x7, 0, 'd') & (1u << 24));
	assert_null(vl_cpuid_find(c, 0xd, 18));
	free(spr);
	free(c);
}

static void test_install_zen4_model_on_spr(void **state)
{
	struct kvm_cpuid2 *c = table_of("sapphire-rapids-w9-3475x.cpu");
	struct xsw_cpu_model *zen4 = load("zen4-genoa-epyc9124.cpu");
	struct xsw_err err = { 0 };
	uint64_t installed = 0;

	assert_int_equal(vl_cpuid_install_model(&c, zen4, &installed, &err), 0);
	assert_int_equal(installed, 0x2e7);
	/* Zen 4 layout: PKRU at 0x980, 2432 + 8 = 2440 standard. */
	assert_int_equal(reg(c, 0xd, 9, 'b'), 0x980);
	assert_int_equal(reg(c, 0xd, 0, 'c'), 2440);
	/* The model has no AMX: AMX bits and leaves go although the host has them. */
	assert_false(reg(c, 0x7, 0, 'd') & (1u << 24));
	assert_false(reg(c, 0x7, 0, 'd') & (1u << 25));
	assert_null(vl_cpuid_find(c, 0xd, 17));
	assert_null(vl_cpuid_find(c, 0xd, 18));
	assert_null(vl_cpuid_find(c, 0x1d, 1));
	/* XSS is the intersection: Zen 4 0x1800 & SPR 0xdd00. */
	assert_int_equal(vl_cpuid_xss(c), 0x1800);
	free(zen4);
	free(c);
}

static void test_install_spr_model_on_spr_keeps_amx(void **state)
{
	struct kvm_cpuid2 *c = table_of("sapphire-rapids-w9-3475x.cpu");
	struct xsw_cpu_model *spr = load("sapphire-rapids-w9-3475x.cpu");
	struct xsw_err err = { 0 };
	uint64_t installed = 0;

	assert_int_equal(vl_cpuid_install_model(&c, spr, &installed, &err), 0);
	assert_int_equal(installed, 0x602e7);
	assert_int_equal(reg(c, 0xd, 0, 'c'), 11008);
	assert_true(reg(c, 0x7, 0, 'd') & (1u << 24));
	assert_non_null(vl_cpuid_find(c, 0x1d, 1));
	free(spr);
	free(c);
}

static void test_set_remove_equal(void **state)
{
	struct kvm_cpuid2 *a = table_of("zen4-genoa-epyc9124.cpu");
	struct kvm_cpuid2 *b = vl_cpuid_dup(a);
	struct xsw_cpuid_regs r = { 1, 2, 3, 4 };
	unsigned int n = a->nent;

	assert_true(vl_cpuid_equal(a, b));
	assert_int_equal(vl_cpuid_set(&b, 0xd, 0x13, &r), 0);
	assert_int_equal(b->nent, n + 1);
	assert_true(vl_cpuid_find(b, 0xd, 0x13)->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX);
	assert_false(vl_cpuid_equal(a, b));
	vl_cpuid_remove(b, 0xd, 0x13);
	assert_true(vl_cpuid_equal(a, b));
	vl_cpuid_remove(b, 0xd, -1);
	assert_null(vl_cpuid_find(b, 0xd, 0));
	assert_int_equal(vl_cpuid_xcr0(b), 0);
	free(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_restrict_spr_to_avx),
		cmocka_unit_test(test_restrict_drops_avx_flags),
		cmocka_unit_test(test_restrict_rejects_bad_masks),
		cmocka_unit_test(test_install_spr_model_on_zen4),
		cmocka_unit_test(test_install_zen4_model_on_spr),
		cmocka_unit_test(test_install_spr_model_on_spr_keeps_amx),
		cmocka_unit_test(test_set_remove_equal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
