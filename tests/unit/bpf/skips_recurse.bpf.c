// SPDX-License-Identifier: GPL-2.0
/*
 * A program the kernel must skip, for test_prog_skips: on the test's own
 * getpid(), xsw_test_trigger prints with bpf_printk(); that fires
 * bpf_trace:bpf_trace_printk, where xsw_test_recurse prints again, which
 * fires the same tracepoint inside its own run: the kernel's per-program
 * recursion guard skips that nested run and counts it in the program's
 * recursion_misses.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 targ_tgid = 0;
/* Runs of each program that got past the pid check. */
__u64 trigger_runs = 0;
__u64 recurse_runs = 0;

SEC("tp_btf/sys_enter")
int BPF_PROG(xsw_test_trigger, struct pt_regs *regs, long id)
{
	if ((bpf_get_current_pid_tgid() >> 32) != targ_tgid || id != 39 /* getpid */)
		return 0;
	__sync_fetch_and_add(&trigger_runs, 1);
	bpf_printk("xsw test_prog_skips: trigger");
	return 0;
}

SEC("tp_btf/bpf_trace_printk")
int BPF_PROG(xsw_test_recurse, const char *buf)
{
	if ((bpf_get_current_pid_tgid() >> 32) != targ_tgid)
		return 0;
	__sync_fetch_and_add(&recurse_runs, 1);
	bpf_printk("xsw test_prog_skips: nested");
	return 0;
}
