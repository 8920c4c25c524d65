// SPDX-License-Identifier: GPL-2.0
/*
 * Empty programs on the syscall tier's two sets of hooks, for `make bench`
 * (tools/bench/xsw-floor.c loads one set): what the attach points cost
 * before any program does anything. The events set is the one
 * tools/bench/floor.bt attaches with bpftrace; the raw set is what
 * `--syscall-hooks=raw` uses, which bpftrace 0.17 cannot attach.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tracepoint/syscalls/sys_enter_ioctl")
int floor_ioctl_enter(void *ctx) { return 0; }

SEC("tracepoint/syscalls/sys_exit_ioctl")
int floor_ioctl_exit(void *ctx) { return 0; }

SEC("tracepoint/syscalls/sys_enter_arch_prctl")
int floor_prctl_enter(void *ctx) { return 0; }

SEC("tracepoint/syscalls/sys_exit_arch_prctl")
int floor_prctl_exit(void *ctx) { return 0; }

SEC("tracepoint/syscalls/sys_enter_close")
int floor_close_enter(void *ctx) { return 0; }

/* xstate-watch attaches its close program to these too. */
SEC("tracepoint/syscalls/sys_enter_close_range")
int floor_close_range_enter(void *ctx) { return 0; }

SEC("tracepoint/syscalls/sys_enter_dup2")
int floor_dup2_enter(void *ctx) { return 0; }

SEC("tracepoint/syscalls/sys_enter_dup3")
int floor_dup3_enter(void *ctx) { return 0; }

/* The raw hooks switch on the number; an empty one keeps that much. */
SEC("tp_btf/sys_enter")
int BPF_PROG(floor_raw_sys_enter, struct pt_regs *regs, long id)
{
	return id == 16;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(floor_raw_sys_exit, struct pt_regs *regs, long ret)
{
	return regs->orig_ax == 16;
}
