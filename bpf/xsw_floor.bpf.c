// SPDX-License-Identifier: GPL-2.0
/*
 * Empty programs on the syscall tier's two sets of hooks, for `make bench`
 * (tools/bench/xsw-floor.c loads one set): what the attach points cost
 * before any program does anything. The events set is the one
 * tools/bench/floor.bt attaches with bpftrace; the raw set is what
 * `--syscall-hooks=raw` uses, which bpftrace 0.17 cannot attach.
 *
 * With emit_create_vcpu set (xsw-floor --emit), the ioctl exit programs do
 * the one thing any ring-buffer tracer of vCPU creation must: a record per
 * successful KVM_CREATE_VCPU, with xstate-watch's header (time, pid, tid,
 * comm) and its vcpu_create size, submitted under the same wakeup policy.
 * Nothing is read from the vCPU. That is the least such a tracer can cost.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "xsw_event.h"
#include "xsw_core.h"

char LICENSE[] SEC("license") = "GPL";

const volatile bool emit_create_vcpu = false;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events SEC(".maps");

/* Records the ring had no room for; the loader prints the count. */
__u64 dropped = 0;

#define FLOOR_NR_IOCTL 16	/* arch/x86/entry/syscalls/syscall_64.tbl */

static __always_inline int emit(__u64 cmd, long ret)
{
	struct xsw_event *ev;

	if (!emit_create_vcpu || cmd != XSW_KVM_CREATE_VCPU || ret < 0)
		return 0;
	ev = xsw_event_reserve(&events, XSW_SRC_SYSCALL, XSW_EV_VCPU_CREATE, 0, -1, 0);
	if (!ev) {
		__sync_fetch_and_add(&dropped, 1);
		return 0;
	}
	bpf_ringbuf_submit(ev, xsw_submit_flags(&events));
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_ioctl")
int floor_ioctl_enter(void *ctx) { return 0; }

SEC("tracepoint/syscalls/sys_exit_ioctl")
int floor_ioctl_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *regs;

	if (!emit_create_vcpu)
		return 0;
	/* The exit event has no arguments: the command is in the saved registers. */
	regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	return emit(BPF_CORE_READ(regs, si) & 0xffffffffu, ctx->ret);
}

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
	return id == FLOOR_NR_IOCTL;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(floor_raw_sys_exit, struct pt_regs *regs, long ret)
{
	if (regs->orig_ax != FLOOR_NR_IOCTL)
		return 0;
	return emit(regs->si & 0xffffffffu, ret);
}
