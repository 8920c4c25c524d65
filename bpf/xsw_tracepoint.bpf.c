// SPDX-License-Identifier: GPL-2.0
/*
 * The tracepoint tier: this project's kernel tracepoints (kernel-patches/
 * v6.12), which report the kernel's own view at the point of decision:
 *
 *   x86_fpu:x86_fpu_xstate_perm      (tp_btf)  perm_request, REQ options
 *   x86_fpu:x86_fpu_guest_perm_sync  (tp_btf)  perm_sync
 *   x86_fpu:x86_fpu_fpstate_realloc  (tp_btf)  fpstate_realloc
 *   kvm:kvm_set_cpuid                (tracepoint, the trace record) set_cpuid
 *
 * kvm_set_cpuid is read from its trace record, not its arguments: the sizes
 * the CPUID requires (xstate_required_size(), standard and compacted) are
 * computed in the tracepoint's TP_fast_assign and exist nowhere else.
 *
 * The other lifecycle events (VM and vCPU creation, KVM_RUN, teardown,
 * permission reads) come from the syscall tier, which the loader
 * (probes/tracepoint.c) runs alongside; the ioctl programs here only
 * remember which vCPU the current thread's ioctl is about, so that
 * kvm_set_cpuid and a guest fpstate_realloc can name their VM.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "xsw_event.h"
#include "xsw_core.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 filter_tgid = 0;		/* 0: every process */
const volatile bool follow_children = false;

__u64 lost_events = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

/* Batched wakeups (xsw_core.h); the loader sets wakeup_bytes. */
static __always_inline __u64 submit_flags(void)
{
	return xsw_submit_flags(&events);
}

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} tracked SEC(".maps");

/* tid -> struct kvm_vcpu * of the vCPU ioctl in progress. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);
} ioctl_vcpu SEC(".maps");

/* struct kvm_vcpu * -> KVM_SET_CPUID2 calls so far. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u32);
} cpuid_generation SEC(".maps");

/*
 * The kvm:kvm_set_cpuid trace record (TP_STRUCT__entry of patch 4, after
 * the 8-byte common header; /sys/kernel/tracing/events/kvm/kvm_set_cpuid/
 * format lists the same offsets). A change to the record must change this
 * struct: make vm-test compares what it yields with the size model.
 */
struct xsw_kvm_set_cpuid_record {
	__u64 common;
	__u64 xcr0;
	__u64 guest_supported_xcr0;
	__u64 perm;
	__u64 xfeatures;
	__u32 vcpu_id;
	__u32 nent;
	__u32 size;
	__u32 max_size;
	__u32 compacted_size;
	__u32 required_size;
	__u32 required_compacted_size;
	__u32 fpstate_size;
	__u32 uabi_size;
	__s32 ret;
};

static __always_inline bool wanted(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (!filter_tgid || tgid == filter_tgid)
		return true;
	return follow_children && bpf_map_lookup_elem(&tracked, &tgid);
}

static __always_inline struct xsw_event *event_start(__u32 type, __u64 vm, __s32 vcpu_id,
						     __s32 ret)
{
	struct xsw_event *ev = xsw_event_reserve(&events, XSW_SRC_TRACEPOINT, type, vm, vcpu_id, ret);

	if (!ev)
		__sync_fetch_and_add(&lost_events, 1);
	return ev;
}

/* --- processes ------------------------------------------------------- */

SEC("tp_btf/sched_process_fork")
int BPF_PROG(xsw_tp_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid), ctgid = BPF_CORE_READ(child, tgid);
	__u8 one = 1;

	if (filter_tgid && follow_children && ptgid != ctgid &&
	    (ptgid == filter_tgid || bpf_map_lookup_elem(&tracked, &ptgid)))
		bpf_map_update_elem(&tracked, &ctgid, &one, BPF_ANY);
	return 0;
}

/* --- which vCPU the current ioctl is about --------------------------- */

SEC("tracepoint/syscalls/sys_enter_ioctl")
int xsw_tp_ioctl_enter(struct trace_event_raw_sys_enter *ctx)
{
	struct task_struct *task;
	struct file *file;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 vcpu;

	if (!wanted())
		return 0;
	task = xsw_current();
	file = xsw_fd_file(task, ctx->args[0]);
	if (xsw_kvm_file_kind(file) != XSW_FILE_VCPU)
		return 0;
	vcpu = (__u64)BPF_CORE_READ(file, private_data);
	bpf_map_update_elem(&ioctl_vcpu, &tid, &vcpu, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_ioctl")
int xsw_tp_ioctl_exit(struct trace_event_raw_sys_exit *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	bpf_map_delete_elem(&ioctl_vcpu, &tid);
	return 0;
}

static __always_inline struct kvm_vcpu *current_vcpu(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 *vcpu = bpf_map_lookup_elem(&ioctl_vcpu, &tid);

	return vcpu ? (struct kvm_vcpu *)*vcpu : NULL;
}

/* --- x86_fpu:x86_fpu_xstate_perm --------------------------------------- */

SEC("tp_btf/x86_fpu_xstate_perm")
int BPF_PROG(xsw_tp_xstate_perm, bool guest, unsigned long idx, __u64 requested, __u64 before,
	     struct fpu_state_perm *perm, int ret)
{
	struct xsw_event *ev;

	if (!wanted())
		return 0;
	ev = event_start(XSW_EV_PERM_REQUEST, 0, -1, ret);
	if (!ev)
		return 0;
	ev->perm.option = guest ? XSW_ARCH_REQ_XCOMP_GUEST_PERM : XSW_ARCH_REQ_XCOMP_PERM;
	ev->perm.guest = guest;
	ev->perm.request = 1;
	ev->perm.arg = idx;
	/* The tracepoint has the mask before, not the sizes before. */
	ev->perm.before.perm = before & ~XSW_FPU_GUEST_PERM_LOCKED;
	ev->perm.before.locked = !!(before & XSW_FPU_GUEST_PERM_LOCKED);
	ev->perm.before.valid = 1;
	xsw_read_perm_at(perm, &ev->perm.after);
	bpf_ringbuf_submit(ev, submit_flags());
	return 0;
}

/* --- x86_fpu:x86_fpu_guest_perm_sync ----------------------------------- */

static __always_inline struct kvm_vcpu *vcpu_of_guest_fpu(struct fpu_guest *gfpu)
{
	/* KVM's guest FPU container is embedded in the vCPU. */
	return (void *)gfpu - bpf_core_field_offset(struct kvm_vcpu, arch.guest_fpu);
}

SEC("tp_btf/x86_fpu_guest_perm_sync")
int BPF_PROG(xsw_tp_guest_perm_sync, struct fpu_guest *gfpu, struct fpu_state_perm *perm,
	     bool locked_now)
{
	struct kvm_vcpu *vcpu = vcpu_of_guest_fpu(gfpu);
	__u64 key = (__u64)vcpu;
	struct xsw_event *ev;

	if (!wanted())
		return 0;
	/* A new vCPU (perhaps at a freed one's address): count from 0. */
	bpf_map_delete_elem(&cpuid_generation, &key);
	ev = event_start(XSW_EV_PERM_SYNC, (__u64)BPF_CORE_READ(vcpu, kvm),
			 BPF_CORE_READ(vcpu, vcpu_id), 0);
	if (!ev)
		return 0;
	xsw_read_vcpu_fpu(vcpu, &ev->vcpu);
	xsw_read_perm_at(perm, &ev->vcpu.guest_perm);
	ev->vcpu.locked_now = locked_now;
	bpf_ringbuf_submit(ev, submit_flags());
	return 0;
}

/* --- x86_fpu:x86_fpu_fpstate_realloc ----------------------------------- */

SEC("tp_btf/x86_fpu_fpstate_realloc")
int BPF_PROG(xsw_tp_fpstate_realloc, struct fpstate *oldfps, struct fpstate *newfps,
	     __u64 xfeatures, unsigned int ksize, unsigned int usize, bool guest, bool in_use,
	     int ret)
{
	struct kvm_vcpu *vcpu = guest ? current_vcpu() : NULL;
	struct xsw_event *ev;

	if (!wanted())
		return 0;
	ev = event_start(XSW_EV_FPSTATE_REALLOC, vcpu ? (__u64)BPF_CORE_READ(vcpu, kvm) : 0,
			 vcpu ? BPF_CORE_READ(vcpu, vcpu_id) : -1, ret);
	if (!ev)
		return 0;
	ev->realloc.xfeatures_added = xfeatures;
	ev->realloc.old_size = oldfps ? BPF_CORE_READ(oldfps, size) : 0;
	ev->realloc.new_size = ksize;
	ev->realloc.user_size = usize;
	ev->realloc.guest = guest;
	ev->realloc.in_use = in_use;
	if (newfps) {
		ev->realloc.xfeatures = BPF_CORE_READ(newfps, xfeatures);
		ev->realloc.user_xfeatures = BPF_CORE_READ(newfps, user_xfeatures);
	}
	bpf_ringbuf_submit(ev, submit_flags());
	return 0;
}

/* --- kvm:kvm_set_cpuid ------------------------------------------------- */

struct kvm_vcpu_arch___with_xss {
	__u64 guest_supported_xss;
} __attribute__((preserve_access_index));

SEC("tracepoint/kvm/kvm_set_cpuid")
int xsw_tp_set_cpuid(struct xsw_kvm_set_cpuid_record *rec)
{
	struct kvm_vcpu *vcpu;
	struct xsw_event *ev;
	__u32 one = 1, *gen;
	__u64 key;

	if (!wanted())
		return 0;
	vcpu = current_vcpu();
	ev = event_start(XSW_EV_SET_CPUID, vcpu ? (__u64)BPF_CORE_READ(vcpu, kvm) : 0,
			 rec->vcpu_id, rec->ret);
	if (!ev)
		return 0;
	ev->set_cpuid.nent = rec->nent;
	ev->set_cpuid.cpuid.xcr0 = rec->xcr0;
	ev->set_cpuid.cpuid.size_std = rec->size;
	ev->set_cpuid.cpuid.size_max = rec->max_size;
	ev->set_cpuid.cpuid.size_compacted = rec->compacted_size;
	ev->set_cpuid.cpuid.has_leaf_d = rec->xcr0 || rec->size;
	ev->set_cpuid.guest_supported_xcr0 = rec->guest_supported_xcr0;
	ev->set_cpuid.required_std = rec->required_size;
	ev->set_cpuid.required_compacted = rec->required_compacted_size;
	xsw_read_perm(xsw_current(), true, &ev->set_cpuid.guest_perm);
	if (vcpu) {
		struct kvm_vcpu_arch___with_xss *arch_xss = (void *)&vcpu->arch;

		xsw_read_fpstate(BPF_CORE_READ(vcpu, arch.guest_fpu.fpstate), &ev->set_cpuid.fps);
		if (bpf_core_field_exists(arch_xss->guest_supported_xss))
			ev->set_cpuid.guest_supported_xss =
				BPF_CORE_READ(arch_xss, guest_supported_xss);
		key = (__u64)vcpu;
		bpf_map_update_elem(&cpuid_generation, &key, &(__u32){ 0 }, BPF_NOEXIST);
		gen = bpf_map_lookup_elem(&cpuid_generation, &key);
		if (gen) {
			__sync_fetch_and_add(gen, one);
			ev->set_cpuid.generation = *gen;
		}
	} else {
		/* Not from a vCPU ioctl we saw: the record's size is all there is. */
		ev->set_cpuid.fps.size = rec->fpstate_size;
		ev->set_cpuid.fps.valid = 1;
	}
	bpf_ringbuf_submit(ev, submit_flags());
	return 0;
}
