// SPDX-License-Identifier: GPL-2.0
/*
 * The size model against published CPU figures, against the running CPU's
 * own CPUID answers and the kernel's boot-time report, and against bad input.
 */
#include <cpuid.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "unit.h"
#include "xstate.h"

static struct xsw_cpu_model *load(const char *name)
{
	struct xsw_cpu_model *m = calloc(1, sizeof(*m));

	assert_non_null(m);
	xsw_test_load_cpu(m, name);
	return m;
}

/* Sapphire Rapids (AIDA64 dump of a w9-3475X): the public AMX figures. */
static void test_spr_amx_sizes(void **state)
{
	struct xsw_cpu_model *m = load("sapphire-rapids-w9-3475x.cpu");
	struct xsw_xcomp cfg = xsw_xcomp(m, XSW_XF_XTILE_CFG);
	struct xsw_xcomp data = xsw_xcomp(m, XSW_XF_XTILE_DATA);

	assert_int_equal(xsw_xcr0_supported(m), 0x602e7);
	assert_int_equal(xsw_xstate_size(m, 0x602e7, false), 11008);
	assert_int_equal(xsw_xstate_size(m, 0x602e7, true), 10752);
	assert_int_equal(xsw_xstate_size(m, 0x2e7, false), 2696);
	assert_int_equal(xsw_xstate_size(m, 0x2e7, true), 2440);
	assert_int_equal(data.size, 8192);
	assert_int_equal(data.offset, 2816);
	assert_int_equal(cfg.size, 64);
	assert_int_equal(cfg.offset, 2752);
	assert_true(data.flags & XSW_XCOMP_XFD);
	assert_true(data.flags & XSW_XCOMP_ALIGN64);
	assert_int_equal(xsw_xfeatures_dynamic(m), XSW_XF_MASK(XSW_XF_XTILE_DATA));
	assert_true(xsw_kernel_uses_compacted(m));
	free(m);
}

/*
 * The dump's own CPUID.0xD.1 EBX (0x2a80) is the compacted size of what
 * Windows had in XCR0|IA32_XSS: the AMX XCR0 plus PT (bit 8, 128 bytes).
 * Getting it right needs the 64-byte alignment of both AMX components.
 */
static void test_spr_compacted_matches_dump(void **state)
{
	struct xsw_cpu_model *m = load("sapphire-rapids-w9-3475x.cpu");
	uint64_t mask = 0x602e7 | XSW_XF_MASK(XSW_XF_PT);

	assert_int_equal(xsw_xstate_size(m, mask, true), xsw_cpu_model_get(m, 0xd, 1).ebx);
	/* PKRU ends at 2568; XTILECFG is aligned up to 2624. */
	assert_int_equal(xsw_xstate_compacted_offset(m, mask, XSW_XF_XTILE_CFG), 2624);
	assert_int_equal(xsw_xstate_compacted_offset(m, mask, XSW_XF_XTILE_DATA), 2688);
	free(m);
}

/* Every model: 0xD.0 ECX is the standard size of everything XCR0 supports. */
static void test_every_model_max_size(void **state)
{
	static const char *const models[] = {
		"sapphire-rapids-w9-3475x.cpu", "sapphire-rapids-w7-2475x.cpu",
		"emerald-rapids-gold5520.cpu", "granite-rapids-658x.cpu",
		"zen4-genoa-epyc9654.cpu", "zen4-genoa-epyc9124.cpu",
		"zen4-raphael-7600x.cpu", "spr-linux-leafd-only.cpu", "host.cpu",
	};
	unsigned int i;

	for (i = 0; i < sizeof(models) / sizeof(models[0]); i++) {
		struct xsw_cpu_model *m = load(models[i]);
		uint32_t ecx = xsw_cpu_model_get(m, 0xd, 0).ecx;

		if (xsw_xstate_size(m, xsw_xcr0_supported(m), false) != ecx)
			fail_msg("%s: standard size of 0x%" PRIx64 " is %u, CPUID.0xD.0 ECX says %u",
				 models[i], xsw_xcr0_supported(m),
				 xsw_xstate_size(m, xsw_xcr0_supported(m), false), ecx);
		free(m);
	}
}

static void test_zen4(void **state)
{
	struct xsw_cpu_model *m = load("zen4-genoa-epyc9654.cpu");

	assert_int_equal(xsw_xcr0_supported(m), 0x2e7);
	assert_int_equal(xsw_xstate_size(m, 0x2e7, false), 2440);
	assert_int_equal(xsw_xcomp(m, XSW_XF_PKRU).offset, 2432);
	assert_false(xsw_has_xfd(m));
	assert_int_equal(xsw_xfeatures_dynamic(m), 0);
	/* x87|sse alone is the legacy area plus the header. */
	assert_int_equal(xsw_xstate_size(m, 0x3, false), 576);
	assert_int_equal(xsw_xstate_size(m, 0x3, true), 576);
	assert_int_equal(xsw_xstate_size(m, 0x7, true), 832);
	free(m);
}

static uint64_t xgetbv0(void)
{
	uint32_t lo, hi;

	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return ((uint64_t)hi << 32) | lo;
}

/* The running CPU: CPUID.0xD.0 EBX is the standard size of the live XCR0. */
static void test_host_standard_matches_cpuid(void **state)
{
	struct xsw_cpu_model *m = calloc(1, sizeof(*m));
	struct xsw_err err = { 0 };
	uint32_t a, b, c, d;
	uint64_t xcr0;

	assert_non_null(m);
	if (xsw_cpu_model_from_host(m, &err)) {
		free(m);
		skip_because("host CPU has no usable leaf 0xD: %s", err.msg);
	}
	__cpuid_count(1, 0, a, b, c, d);
	if (!(c & (1u << 27))) {	/* OSXSAVE */
		free(m);
		skip_because("OSXSAVE clear: XGETBV not usable");
	}
	xcr0 = xgetbv0();
	__cpuid_count(0xd, 0, a, b, c, d);
	assert_int_equal(xsw_xstate_size(m, xcr0, false), b);
	free(m);
}

/*
 * CPUID.0xD.1 EBX is the compacted size of XCR0|IA32_XSS. IA32_XSS is an
 * MSR; the kernel's boot line "x86/fpu: Enabled xstate features 0x..,
 * context size is N bytes, using 'compacted' format" tells which
 * supervisor features it set there, and its own size for the whole set.
 */
static void test_host_compacted_matches_kernel(void **state)
{
	struct xsw_cpu_model *m = calloc(1, sizeof(*m));
	struct xsw_err err = { 0 };
	unsigned long long features = 0;
	unsigned int ctx = 0;
	char line[512], fmt[32] = "";
	uint32_t a, b, c, d;
	FILE *p;

	assert_non_null(m);
	if (xsw_cpu_model_from_host(m, &err)) {
		free(m);
		skip_because("host CPU has no usable leaf 0xD: %s", err.msg);
	}
	p = popen("dmesg 2>/dev/null", "r");
	while (p && fgets(line, sizeof(line), p)) {
		const char *s = strstr(line, "x86/fpu: Enabled xstate features");

		if (s && sscanf(s, "x86/fpu: Enabled xstate features 0x%llx, context size is %u bytes, using '%31[a-z]'",
				&features, &ctx, fmt) == 3)
			break;
	}
	if (p)
		pclose(p);
	if (!ctx) {
		free(m);
		skip_because("kernel boot line 'x86/fpu: Enabled xstate features' not readable (dmesg restricted or rotated)");
	}
	assert_int_equal(strcmp(fmt, "compacted") == 0, xsw_kernel_uses_compacted(m));
	assert_int_equal(xsw_xstate_size(m, features, xsw_kernel_uses_compacted(m)), ctx);
	if (xsw_has_xsaves(m)) {
		__cpuid_count(0xd, 1, a, b, c, d);
		assert_int_equal(xsw_xstate_size(m, xgetbv0() | (features & xsw_xss_supported(m)), true), b);
	}
	free(m);
}

/* A host model written and read back is the same model. */
static void test_dump_round_trip(void **state)
{
	struct xsw_cpu_model *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	struct xsw_err err = { 0 };
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	unsigned int i;

	assert_non_null(a);
	assert_non_null(b);
	if (xsw_cpu_model_from_host(a, &err)) {
		free(a);
		free(b);
		skip_because("host CPU has no usable leaf 0xD: %s", err.msg);
	}
	f = open_memstream(&buf, &len);
	assert_int_equal(xsw_cpu_model_write(a, f), 0);
	fclose(f);
	f = fmemopen(buf, len, "r");
	if (xsw_cpu_model_parse(b, f, "dump", &err))
		fail_msg("re-reading the dump: %s", err.msg);
	fclose(f);
	assert_int_equal(a->nr_entries, b->nr_entries);
	for (i = 0; i < a->nr_entries; i++) {
		struct xsw_cpuid_regs r = xsw_cpu_model_get(b, a->entries[i].leaf, a->entries[i].subleaf);

		assert_memory_equal(&r, &a->entries[i].r, sizeof(r));
	}
	assert_string_equal(a->name, b->name);
	free(buf);
	free(a);
	free(b);
}

static void test_deps(void **state)
{
	struct xsw_err err = { 0 };

	assert_int_equal(xsw_xfeatures_check_deps(0x602e7, &err), 0);
	assert_int_equal(xsw_xfeatures_check_deps(0x2, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "x87"));
	assert_int_equal(xsw_xfeatures_check_deps(0x5, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "needs sse"));
	assert_int_equal(xsw_xfeatures_check_deps(0x27, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "all or none"));
	assert_int_equal(xsw_xfeatures_check_deps(0xe3, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "needs avx"));
	assert_int_equal(xsw_xfeatures_check_deps(0x2000f, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "bndregs and bndcsr"));
	assert_int_equal(xsw_xfeatures_check_deps(0x402e7, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "xtilecfg and xtiledata"));
}

static void test_names(void **state)
{
	struct xsw_err err = { 0 };
	char buf[256];
	uint64_t m = 0;

	assert_string_equal(xsw_xfeatures_format(0x207, buf, sizeof(buf)), "x87|sse|avx|pkru");
	assert_string_equal(xsw_xfeatures_format(0, buf, sizeof(buf)), "none");
	assert_string_equal(xsw_xfeatures_format(1ULL << 40, buf, sizeof(buf)), "bit40");
	assert_string_equal(xsw_xfeatures_format(0x602e7, buf, 12), "x87|sse|avx");
	assert_int_equal(xsw_xfeatures_parse("x87|sse|avx|pkru", &m, &err), 0);
	assert_int_equal(m, 0x207);
	assert_int_equal(xsw_xfeatures_parse("X87,SSE,avx512,amx", &m, &err), 0);
	assert_int_equal(m, 0x600e3);
	assert_int_equal(xsw_xfeatures_parse("0x602e7", &m, &err), 0);
	assert_int_equal(m, 0x602e7);
	assert_int_equal(xsw_xfeatures_parse("519", &m, &err), 0);
	assert_int_equal(m, 0x207);
	assert_int_equal(xsw_xfeatures_parse("bit19", &m, &err), 0);
	assert_int_equal(m, 1ULL << 19);
	m = 42;
	assert_int_equal(xsw_xfeatures_parse("x87|tiles", &m, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "unknown xfeature name 'tiles'"));
	assert_int_equal(m, 42);
	assert_int_equal(xsw_xfeatures_parse("0x20g", &m, &err), -EINVAL);
	assert_int_equal(xsw_xfeatures_parse("", &m, &err), -EINVAL);
	assert_int_equal(xsw_xfeatures_parse("bit64", &m, &err), -EINVAL);
}

/* Parse @text as a model file and expect an error containing each of @want. */
static void expect_parse_error(const char *text, const char *const *want)
{
	struct xsw_cpu_model *m = calloc(1, sizeof(*m));
	struct xsw_err err = { 0 };
	FILE *f = fmemopen((void *)text, strlen(text), "r");

	assert_non_null(m);
	assert_non_null(f);
	if (!xsw_cpu_model_parse(m, f, "bad.cpu", &err))
		fail_msg("accepted bad model:\n%s", text);
	for (; *want; want++)
		if (!strstr(err.msg, *want))
			fail_msg("error '%s' lacks '%s'", err.msg, *want);
	fclose(f);
	free(m);
}

#define HDR "format=xstate-watch-cpu-model/1\n"
#define D0 "leaf=0x0000000d subleaf=0x00 eax=0x00000007 ebx=0x00000340 ecx=0x00000340 edx=0x00000000\n"
#define D2 "leaf=0x0000000d subleaf=0x02 eax=0x00000100 ebx=0x00000240 ecx=0x00000000 edx=0x00000000\n"

static void test_bad_models(void **state)
{
	expect_parse_error(HDR "leaf=0x0000000d subleaf=0x00 eax=0x00000007 ebx=0x00000340\n",
			   (const char *const[]){ "bad.cpu:2", "field 'ecx'", "truncated", NULL });
	expect_parse_error(HDR "leaf=0x0000000d subleaf=0x00 eax=0x0000zz07 ebx=0x0 ecx=0x0 edx=0x0\n",
			   (const char *const[]){ "bad.cpu:2", "field 'eax'", "0x0000zz07", NULL });
	expect_parse_error(HDR D0 "leaf=0x0000000d subleaf=0x00 eax=0x1 ebx=0x0 ecx=0x0 edx=0x0\n",
			   (const char *const[]){ "bad.cpu:3", "listed twice", NULL });
	expect_parse_error(HDR D0 "colour=blue\n",
			   (const char *const[]){ "bad.cpu:3", "field 'colour'", "unknown", NULL });
	expect_parse_error(HDR D0 "leaf=0xd subleaf=0x2 eax=0x100 ebx=0x240 ecx=0x0 edx=0x0 fax=0x1\n",
			   (const char *const[]){ "bad.cpu:3", "field 'fax'", NULL });
	expect_parse_error(D0, (const char *const[]){ "bad.cpu:1", "before 'format=", NULL });
	expect_parse_error("format=xstate-watch-cpu-model/9\n" D0,
			   (const char *const[]){ "bad.cpu:1", "version", NULL });
	expect_parse_error("format=cpuid-dump\n" D0,
			   (const char *const[]){ "bad.cpu:1", "not an xstate-watch CPU model", NULL });
	expect_parse_error("", (const char *const[]){ "bad.cpu", "no 'format=", NULL });
	expect_parse_error("# only a comment\n", (const char *const[]){ "no 'format=", NULL });
	/* Truncated file: leaf 0xD.0 says AVX but its sub-leaf is gone. */
	expect_parse_error(HDR D0, (const char *const[]){ "component 2 (avx)", "size 0", NULL });
	expect_parse_error(HDR D2, (const char *const[]){ "leaf 0xD sub-leaf 0", NULL });
	expect_parse_error(HDR "leaf=0x0000000d subleaf=0x00 eax=0x00000007 ebx=0x0 ecx=0x0 edx=0x0\n"
			   "leaf=0x0000000d subleaf=0x02 eax=0x00000100 ebx=0x00000010 ecx=0x00000000 edx=0x00000000\n",
			   (const char *const[]){ "standard offset 16", NULL });
}

static void test_missing_file(void **state)
{
	struct xsw_cpu_model m;
	struct xsw_err err = { 0 };

	assert_int_equal(xsw_cpu_model_load(&m, "/nonexistent/x.cpu", &err), -ENOENT);
	assert_non_null(strstr(err.msg, "/nonexistent/x.cpu"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spr_amx_sizes),
		cmocka_unit_test(test_spr_compacted_matches_dump),
		cmocka_unit_test(test_every_model_max_size),
		cmocka_unit_test(test_zen4),
		cmocka_unit_test(test_host_standard_matches_cpuid),
		cmocka_unit_test(test_host_compacted_matches_kernel),
		cmocka_unit_test(test_dump_round_trip),
		cmocka_unit_test(test_deps),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_bad_models),
		cmocka_unit_test(test_missing_file),
	};

	return cmocka_run_group_tests_name("xstate size model", tests, NULL, NULL);
}
