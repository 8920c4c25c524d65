// SPDX-License-Identifier: GPL-2.0
/*
 * xsw_bpf_object_skips(), the probe tiers' count of program runs the kernel
 * skipped (reported by the collector as lost events): against the running
 * kernel, with a program the kernel's recursion guard must skip
 * (tests/unit/bpf/skips_recurse.bpf.c). Asserts that an object whose
 * programs never ran reads 0; that after N triggers the nested runs were
 * really skipped (the nested program ran N times, not more) and the count
 * covers them; and that no object reads 0. Needs root and BPF: skips with
 * the reason otherwise.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>
#include <bpf/libbpf.h>

#include "probe_util.h"
#include "skips_recurse.skel.h"
#include "unit.h"

#define TRIGGERS 5

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return 0;
}

static struct skips_recurse *open_or_skip(void)
{
	struct skips_recurse *skel;
	int err;

	if (geteuid() != 0)
		skip_because("needs root to load BPF programs");
	libbpf_set_print(quiet);
	skel = skips_recurse__open();
	if (!skel)
		skip_because("cannot open the test BPF object: %s", strerror(errno));
	skel->rodata->targ_tgid = (uint32_t)getpid();
	err = skips_recurse__load(skel);
	if (!err)
		err = skips_recurse__attach(skel);
	if (err) {
		skips_recurse__destroy(skel);
		skip_because("this kernel does not load or attach tp_btf on sys_enter and "
			     "bpf_trace_printk: %s", strerror(-err));
	}
	return skel;
}

static void test_no_runs_no_skips(void **state)
{
	struct skips_recurse *skel = open_or_skip();

	assert_int_equal(skel->bss->trigger_runs, 0);
	assert_int_equal(xsw_bpf_object_skips(skel->obj), 0);
	skips_recurse__destroy(skel);
}

static void test_skipped_runs_counted(void **state)
{
	struct skips_recurse *skel = open_or_skip();
	uint64_t skips;
	int i;

	for (i = 0; i < TRIGGERS; i++)
		syscall(SYS_getpid);	/* glibc may cache getpid(): the syscall itself */
	skips = xsw_bpf_object_skips(skel->obj);
	skips_recurse__detach(skel);

	assert_int_equal(skel->bss->trigger_runs, TRIGGERS);
	/* Each trigger ran the nested program once; its own nested run was skipped. */
	assert_int_equal(skel->bss->recurse_runs, TRIGGERS);
	assert_true(skips >= TRIGGERS);
	/* Counters only grow, and nothing runs once detached. */
	assert_int_equal(xsw_bpf_object_skips(skel->obj), skips);
	skips_recurse__destroy(skel);
}

static void test_no_object(void **state)
{
	assert_int_equal(xsw_bpf_object_skips(NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_object),
		cmocka_unit_test(test_no_runs_no_skips),
		cmocka_unit_test(test_skipped_runs_counted),
	};

	return cmocka_run_group_tests_name("prog_skips", tests, NULL, NULL);
}
