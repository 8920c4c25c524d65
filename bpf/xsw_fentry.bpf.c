// SPDX-License-Identifier: GPL-2.0
/*
 * The fentry tier: fentry/fexit on the global KVM and x86 FPU functions
 * that size a guest's FPU state, for kernels that let BPF trampolines
 * attach (CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS, no lockdown refusing
 * them) but lack this project's tracepoints.
 *
 * Unlike the syscall tier, which infers the kernel's work from ioctl
 * arguments, every event here is taken inside the function that does the
 * work, with that function's own arguments and return value:
 *
 *   fpu_xstate_prctl()            perm_request (arch_prctl XCOMP_*PERM)
 *   kvm_dev_ioctl_get_cpuid()     supported_cpuid (KVM_GET_SUPPORTED_CPUID)
 *   kvm_arch_init_vm()            vm_create
 *   kvm_arch_vcpu_create()        vcpu_create, and around it
 *   fpu_alloc_guest_fpstate()     perm_sync (the fpstate takes the
 *                                 process's guest permission and locks it)
 *   kvm_vcpu_ioctl_set_cpuid2()   set_cpuid (kvm_set_cpuid() and
 *                                 kvm_vcpu_after_set_cpuid() are static in
 *                                 6.12: no BTF function to attach to)
 *   fpu_enable_guest_xfd_features()  fpstate_realloc (guest, via XFD/XCR0)
 *   kvm_arch_vcpu_ioctl_run()     first_run, xcr0_change
 *   kvm_arch_vcpu_destroy()       vcpu_destroy
 *   kvm_arch_destroy_vm()         vm_destroy
 *   sched_process_fork/exit       (tp_btf) following children, process_exit
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "xsw_event.h"
#include "xsw_core.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by the loader before load. */
const volatile __u32 filter_tgid = 0;		/* 0: every process */
const volatile bool follow_children = false;
const volatile bool kvm_entry_guard = true;	/* xcr0_change only on change */

/* Events the ring buffer had no room for; read by the loader. */
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

/* Processes followed when filter_tgid is set (the loader adds it). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} tracked SEC(".maps");

/* What an fentry saw, for its fexit on the same thread. */
struct xsw_call {
	struct kvm_vcpu *vcpu;		/* kvm_arch_vcpu_create() in progress */
	struct xsw_perm perm_before;	/* fpu_xstate_prctl(), fpu_alloc_guest_fpstate() */
	__u64 ts_ns;
	__u32 old_size;			/* fpu_enable_guest_xfd_features() */
	__u32 pad;
	__u64 old_xfeatures;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);		/* tid */
	__type(value, struct xsw_call);
} calls SEC(".maps");

/* Per vCPU: KVM_SET_CPUID2 count, and the state at its last KVM_RUN. */
struct xsw_vcpu_track {
	__u32 set_cpuid_generation;
	__u32 ran;
	__u64 xcr0;
	__u32 fps_size;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);		/* struct kvm_vcpu * */
	__type(value, struct xsw_vcpu_track);
} vcpus SEC(".maps");

static __always_inline bool wanted(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (!filter_tgid || tgid == filter_tgid)
		return true;
	return follow_children && bpf_map_lookup_elem(&tracked, &tgid);
}

static __always_inline __u32 current_tid(void)
{
	return (__u32)bpf_get_current_pid_tgid();
}

/* Reserve and fill the common header; NULL (and counted) when full. */
static __always_inline struct xsw_event *event_start(__u32 type, __u64 vm, __s32 vcpu_id,
						     __s32 ret)
{
	struct xsw_event *ev = xsw_event_reserve(&events, XSW_SRC_FENTRY, type, vm, vcpu_id, ret);

	if (!ev)
		__sync_fetch_and_add(&lost_events, 1);
	return ev;
}

static __always_inline struct xsw_call *call_begin(void)
{
	struct xsw_call zero = {};
	__u32 tid = current_tid();

	bpf_map_update_elem(&calls, &tid, &zero, BPF_ANY);
	return bpf_map_lookup_elem(&calls, &tid);
}

static __always_inline struct xsw_call *call_find(void)
{
	__u32 tid = current_tid();

	return bpf_map_lookup_elem(&calls, &tid);
}

static __always_inline void call_end(void)
{
	__u32 tid = current_tid();

	bpf_map_delete_elem(&calls, &tid);
}

/* --- processes ------------------------------------------------------- */

SEC("tp_btf/sched_process_fork")
int BPF_PROG(xsw_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid), ctgid = BPF_CORE_READ(child, tgid);
	__u8 one = 1;

	if (filter_tgid && follow_children && ptgid != ctgid &&
	    (ptgid == filter_tgid || bpf_map_lookup_elem(&tracked, &ptgid)))
		bpf_map_update_elem(&tracked, &ctgid, &one, BPF_ANY);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(xsw_exit, struct task_struct *task)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	struct xsw_event *ev;

	/* Only the whole process: the thread-group leader's exit. */
	if (tgid != (__u32)pid_tgid || !wanted())
		return 0;
	ev = event_start(XSW_EV_PROCESS_EXIT, 0, -1, 0);
	if (ev) {
		ev->exit.exit_code = BPF_CORE_READ(task, exit_code);
		bpf_ringbuf_submit(ev, submit_flags());
	}
	bpf_map_delete_elem(&tracked, &tgid);
	return 0;
}

/* --- permission ------------------------------------------------------ */

static __always_inline bool guest_option(int option)
{
	return option == XSW_ARCH_GET_XCOMP_GUEST_PERM ||
	       option == XSW_ARCH_REQ_XCOMP_GUEST_PERM;
}

SEC("fentry/fpu_xstate_prctl")
int BPF_PROG(xsw_prctl_enter, int option, unsigned long arg2)
{
	struct xsw_call *cs;

	if (option < XSW_ARCH_GET_XCOMP_PERM || option > XSW_ARCH_REQ_XCOMP_GUEST_PERM ||
	    !wanted())
		return 0;
	cs = call_begin();
	if (!cs)
		return 0;
	cs->ts_ns = bpf_ktime_get_ns();
	xsw_read_perm(xsw_current(), guest_option(option), &cs->perm_before);
	return 0;
}

SEC("fexit/fpu_xstate_prctl")
int BPF_PROG(xsw_prctl_exit, int option, unsigned long arg2, long ret)
{
	struct xsw_call *cs = call_find();
	struct xsw_event *ev;

	if (!cs)
		return 0;
	ev = event_start(XSW_EV_PERM_REQUEST, 0, -1, ret);
	if (ev) {
		ev->duration_ns = ev->ts_ns - cs->ts_ns;
		ev->perm.option = option;
		ev->perm.guest = guest_option(option);
		ev->perm.request = option == XSW_ARCH_REQ_XCOMP_PERM ||
				   option == XSW_ARCH_REQ_XCOMP_GUEST_PERM;
		/* REQ: the feature number; GET: a user pointer, not recorded. */
		ev->perm.arg = ev->perm.request ? arg2 : 0;
		ev->perm.before = cs->perm_before;
		xsw_read_perm(xsw_current(), ev->perm.guest, &ev->perm.after);
		bpf_ringbuf_submit(ev, submit_flags());
	}
	call_end();
	return 0;
}

/* --- CPUID tables ---------------------------------------------------- */

/*
 * The table's address is kept as a plain number: the verifier refuses
 * arithmetic with the loop index on a BTF pointer (even one cast to an
 * integer: it follows the spilled register), and the entries are only
 * ever copied out with bpf_probe_read_{user,kernel}().
 */
struct cpuid_walk {
	__u64 entries;
	bool user;
	struct xsw_cpuid_xsave *out;
};

static long cpuid_walk_one(__u64 i, void *data)
{
	struct cpuid_walk *w = data;
	struct kvm_cpuid_entry2 e;
	void *src;
	long err;

	if (i >= XSW_KVM_MAX_CPUID_ENTRIES)
		return 1;
	src = (void *)(w->entries + i * sizeof(e));
	if (w->user)
		err = bpf_probe_read_user(&e, sizeof(e), src);
	else
		err = bpf_probe_read_kernel(&e, sizeof(e), src);
	if (err)
		return 1;	/* stop */
	xsw_cpuid_note(w->out, e.function, e.index, e.eax, e.ebx, e.ecx, e.edx);
	return 0;
}

static __always_inline void read_cpuid_table(struct kvm_cpuid_entry2 *entries, __u32 nent,
					     bool user, struct xsw_cpuid_xsave *out)
{
	struct cpuid_walk w = { .user = user, .out = out };

	if (!entries)
		return;
	/* A copy through the helper leaves the verifier a scalar. */
	bpf_probe_read_kernel(&w.entries, sizeof(w.entries), &entries);
	if (nent > XSW_KVM_MAX_CPUID_ENTRIES)
		nent = XSW_KVM_MAX_CPUID_ENTRIES;
	bpf_loop(nent, cpuid_walk_one, &w, 0);
}

SEC("fexit/kvm_dev_ioctl_get_cpuid")
int BPF_PROG(xsw_get_cpuid_exit, struct kvm_cpuid2 *cpuid, struct kvm_cpuid_entry2 *entries,
	     unsigned int type, int ret)
{
	struct xsw_event *ev;

	/* KVM_GET_EMULATED_CPUID goes through here too: not a sizing input. */
	if (type != XSW_KVM_GET_SUPPORTED_CPUID || !wanted())
		return 0;
	ev = event_start(XSW_EV_SUPPORTED_CPUID, 0, -1, ret);
	if (!ev)
		return 0;
	ev->supported.nent = BPF_CORE_READ(cpuid, nent);
	ev->supported.system = 1;
	if (!ret)
		read_cpuid_table(entries, ev->supported.nent, true, &ev->supported.cpuid);
	xsw_read_perm(xsw_current(), true, &ev->supported.guest_perm);
	bpf_ringbuf_submit(ev, submit_flags());
	return 0;
}

/* --- VMs ------------------------------------------------------------- */

SEC("fexit/kvm_arch_init_vm")
int BPF_PROG(xsw_init_vm_exit, struct kvm *kvm, unsigned long type, int ret)
{
	struct xsw_event *ev;

	if (!wanted())
		return 0;
	ev = event_start(XSW_EV_VM_CREATE, (__u64)kvm, -1, ret);
	if (ev) {
		ev->vm_create.type = type;
		bpf_ringbuf_submit(ev, submit_flags());
	}
	return 0;
}

SEC("fentry/kvm_arch_destroy_vm")
int BPF_PROG(xsw_destroy_vm, struct kvm *kvm)
{
	struct xsw_event *ev;

	if (!wanted())
		return 0;
	ev = event_start(XSW_EV_VM_DESTROY, (__u64)kvm, -1, 0);
	if (ev)
		bpf_ringbuf_submit(ev, submit_flags());
	return 0;
}

/* --- vCPUs ----------------------------------------------------------- */

SEC("fentry/kvm_arch_vcpu_create")
int BPF_PROG(xsw_vcpu_create_enter, struct kvm_vcpu *vcpu)
{
	struct xsw_call *cs;

	if (!wanted())
		return 0;
	cs = call_begin();
	if (!cs)
		return 0;
	cs->vcpu = vcpu;
	cs->ts_ns = bpf_ktime_get_ns();
	return 0;
}

SEC("fentry/fpu_alloc_guest_fpstate")
int BPF_PROG(xsw_alloc_guest_enter, struct fpu_guest *gfpu)
{
	struct xsw_call *cs = call_find();

	if (cs)
		xsw_read_perm(xsw_current(), true, &cs->perm_before);
	return 0;
}

SEC("fexit/fpu_alloc_guest_fpstate")
int BPF_PROG(xsw_alloc_guest_exit, struct fpu_guest *gfpu, bool ret)
{
	struct xsw_call *cs = call_find();
	struct kvm_vcpu *vcpu;
	struct xsw_event *ev;

	/* Only inside kvm_arch_vcpu_create(): that names the vCPU. */
	if (!cs || !cs->vcpu)
		return 0;
	vcpu = cs->vcpu;
	ev = event_start(XSW_EV_PERM_SYNC, (__u64)BPF_CORE_READ(vcpu, kvm),
			 BPF_CORE_READ(vcpu, vcpu_id), ret ? 0 : -12 /* -ENOMEM */);
	if (!ev)
		return 0;
	xsw_read_vcpu_fpu(vcpu, &ev->vcpu);
	xsw_read_perm(xsw_current(), true, &ev->vcpu.guest_perm);
	ev->vcpu.locked_now = !cs->perm_before.locked && ev->vcpu.guest_perm.locked;
	bpf_ringbuf_submit(ev, submit_flags());
	return 0;
}

SEC("fexit/kvm_arch_vcpu_create")
int BPF_PROG(xsw_vcpu_create_exit, struct kvm_vcpu *vcpu, int ret)
{
	struct xsw_call *cs = call_find();
	struct xsw_event *ev;

	if (!cs)
		return 0;
	ev = event_start(XSW_EV_VCPU_CREATE, (__u64)BPF_CORE_READ(vcpu, kvm),
			 BPF_CORE_READ(vcpu, vcpu_id), ret);
	if (ev) {
		ev->duration_ns = ev->ts_ns - cs->ts_ns;
		/* On failure the fpstate is already freed: leave it invalid. */
		if (!ret)
			xsw_read_vcpu_fpu(vcpu, &ev->vcpu);
		xsw_read_perm(xsw_current(), true, &ev->vcpu.guest_perm);
		bpf_ringbuf_submit(ev, submit_flags());
	}
	call_end();
	return 0;
}

SEC("fentry/kvm_arch_vcpu_destroy")
int BPF_PROG(xsw_vcpu_destroy, struct kvm_vcpu *vcpu)
{
	__u64 key = (__u64)vcpu;
	struct xsw_event *ev;

	if (!wanted())
		return 0;
	ev = event_start(XSW_EV_VCPU_DESTROY, (__u64)BPF_CORE_READ(vcpu, kvm),
			 BPF_CORE_READ(vcpu, vcpu_id), 0);
	if (ev) {
		xsw_read_vcpu_fpu(vcpu, &ev->vcpu);
		xsw_read_perm(xsw_current(), true, &ev->vcpu.guest_perm);
		bpf_ringbuf_submit(ev, submit_flags());
	}
	bpf_map_delete_elem(&vcpus, &key);
	return 0;
}

static __always_inline struct xsw_vcpu_track *vcpu_state_of(struct kvm_vcpu *vcpu)
{
	struct xsw_vcpu_track zero = {};
	__u64 key = (__u64)vcpu;

	bpf_map_update_elem(&vcpus, &key, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&vcpus, &key);
}

/*
 * guest_supported_xss exists from 6.12 on x86 only with CET work in
 * flight; read it where the running kernel has it.
 */
struct kvm_vcpu_arch___with_xss {
	__u64 guest_supported_xss;
} __attribute__((preserve_access_index));

SEC("fentry/kvm_vcpu_ioctl_set_cpuid2")
int BPF_PROG(xsw_set_cpuid_enter, struct kvm_vcpu *vcpu)
{
	struct xsw_call *cs;

	if (!wanted())
		return 0;
	cs = call_begin();
	if (cs)
		cs->ts_ns = bpf_ktime_get_ns();
	return 0;
}

SEC("fexit/kvm_vcpu_ioctl_set_cpuid2")
int BPF_PROG(xsw_set_cpuid_exit, struct kvm_vcpu *vcpu, struct kvm_cpuid2 *cpuid,
	     struct kvm_cpuid_entry2 *entries, int ret)
{
	struct kvm_vcpu_arch___with_xss *arch_xss = (void *)&vcpu->arch;
	struct xsw_call *cs = call_find();
	struct xsw_vcpu_track *vs;
	struct xsw_event *ev;

	if (!cs)
		return 0;
	ev = event_start(XSW_EV_SET_CPUID, (__u64)BPF_CORE_READ(vcpu, kvm),
			 BPF_CORE_READ(vcpu, vcpu_id), ret);
	if (!ev)
		goto out;
	ev->duration_ns = ev->ts_ns - cs->ts_ns;
	ev->set_cpuid.nent = BPF_CORE_READ(cpuid, nent);
	/*
	 * What the VMM passed, from its own table: KVM's copy
	 * (vcpu->arch.cpuid_entries) already has 0xD.0 EBX rewritten for the
	 * guest's current XCR0 by kvm_update_cpuid_runtime(), and a rejected
	 * table is not copied at all.
	 */
	read_cpuid_table(entries, ev->set_cpuid.nent, true, &ev->set_cpuid.cpuid);
	ev->set_cpuid.guest_supported_xcr0 = BPF_CORE_READ(vcpu, arch.guest_supported_xcr0);
	if (bpf_core_field_exists(arch_xss->guest_supported_xss))
		ev->set_cpuid.guest_supported_xss = BPF_CORE_READ(arch_xss, guest_supported_xss);
	xsw_read_perm(xsw_current(), true, &ev->set_cpuid.guest_perm);
	xsw_read_fpstate(BPF_CORE_READ(vcpu, arch.guest_fpu.fpstate), &ev->set_cpuid.fps);
	vs = vcpu_state_of(vcpu);
	if (vs) {
		vs->set_cpuid_generation++;
		ev->set_cpuid.generation = vs->set_cpuid_generation;
	}
	bpf_ringbuf_submit(ev, submit_flags());
out:
	call_end();
	return 0;
}

/* --- fpstate reallocation ---------------------------------------------- */

SEC("fentry/fpu_enable_guest_xfd_features")
int BPF_PROG(xsw_xfd_enter, struct fpu_guest *gfpu, __u64 xfeatures)
{
	struct xsw_call *cs;
	struct fpstate *fps;

	if (!wanted())
		return 0;
	cs = call_begin();
	if (!cs)
		return 0;
	fps = BPF_CORE_READ(gfpu, fpstate);
	cs->ts_ns = bpf_ktime_get_ns();
	cs->old_size = BPF_CORE_READ(fps, size);
	cs->old_xfeatures = BPF_CORE_READ(fps, xfeatures);
	return 0;
}

SEC("fexit/fpu_enable_guest_xfd_features")
int BPF_PROG(xsw_xfd_exit, struct fpu_guest *gfpu, __u64 xfeatures, int ret)
{
	struct xsw_call *cs = call_find();
	struct kvm_vcpu *vcpu;
	struct xsw_fpstate now = {};
	struct xsw_event *ev;
	__u64 added;

	if (!cs)
		return 0;
	xsw_read_fpstate(BPF_CORE_READ(gfpu, fpstate), &now);
	added = now.xfeatures & ~cs->old_xfeatures;
	/* Nothing to grow (features already there): not a reallocation. */
	if (!ret && !added && now.size == cs->old_size)
		goto out;
	/* The guest FPU container is embedded in the vCPU: name it. */
	vcpu = (void *)gfpu - bpf_core_field_offset(struct kvm_vcpu, arch.guest_fpu);
	ev = event_start(XSW_EV_FPSTATE_REALLOC, (__u64)BPF_CORE_READ(vcpu, kvm),
			 BPF_CORE_READ(vcpu, vcpu_id), ret);
	if (!ev)
		goto out;
	ev->duration_ns = ev->ts_ns - cs->ts_ns;
	ev->realloc.xfeatures_added = ret ? xfeatures & ~cs->old_xfeatures : added;
	ev->realloc.old_size = cs->old_size;
	ev->realloc.new_size = now.size;
	ev->realloc.user_size = now.user_size;
	ev->realloc.guest = 1;
	ev->realloc.in_use = now.in_use;
	ev->realloc.xfeatures = now.xfeatures;
	ev->realloc.user_xfeatures = now.user_xfeatures;
	bpf_ringbuf_submit(ev, submit_flags());
out:
	call_end();
	return 0;
}

/* --- KVM_RUN ----------------------------------------------------------- */

/*
 * Seen at the KVM_RUN ioctl, before the vCPU enters: the first run of each
 * vCPU, then (kvm_entry_guard) only runs where the guest's xcr0 or the
 * fpstate size changed since the previous one.
 */
SEC("fentry/kvm_arch_vcpu_ioctl_run")
int BPF_PROG(xsw_vcpu_run, struct kvm_vcpu *vcpu)
{
	struct xsw_vcpu_track *vs;
	struct xsw_event *ev;
	struct xsw_fpstate fps = {};
	__u64 xcr0;
	__u32 type;

	if (!wanted())
		return 0;
	vs = vcpu_state_of(vcpu);
	if (!vs)
		return 0;
	xcr0 = BPF_CORE_READ(vcpu, arch.xcr0);
	xsw_read_fpstate(BPF_CORE_READ(vcpu, arch.guest_fpu.fpstate), &fps);
	if (!vs->ran)
		type = XSW_EV_FIRST_RUN;
	else if (!kvm_entry_guard || vs->xcr0 != xcr0 || vs->fps_size != fps.size)
		type = XSW_EV_XCR0_CHANGE;
	else
		return 0;
	vs->ran = 1;
	vs->xcr0 = xcr0;
	vs->fps_size = fps.size;
	ev = event_start(type, (__u64)BPF_CORE_READ(vcpu, kvm), BPF_CORE_READ(vcpu, vcpu_id), 0);
	if (!ev)
		return 0;
	ev->run.guest_xcr0 = xcr0;
	ev->run.guest_supported_xcr0 = BPF_CORE_READ(vcpu, arch.guest_supported_xcr0);
	ev->run.fps = fps;
	bpf_ringbuf_submit(ev, submit_flags());
	return 0;
}
