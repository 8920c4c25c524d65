// SPDX-License-Identifier: GPL-2.0
/*
 * The `syscall` probe tier: what a stock, locked-down kernel allows (syscall
 * tracepoints, tp_btf, no kprobes/fentry). It sees the VMM's side of the
 * guest FPU lifecycle and reads the kernel's state through the fds involved:
 *
 *   ioctl(KVM_CREATE_VM / KVM_GET_SUPPORTED_CPUID / KVM_CREATE_VCPU /
 *         KVM_SET_CPUID2)           syscalls:sys_{enter,exit}_ioctl
 *   arch_prctl(ARCH_{REQ,GET}_XCOMP_{,GUEST_}PERM)
 *                                   syscalls:sys_{enter,exit}_arch_prctl
 *   first VM entry, XCR0/fpstate change   tp_btf/kvm_entry, per-vCPU guard
 *                                   (or ioctl(KVM_RUN) where kvm_entry is silent)
 *   VM teardown                     close() of the process's last fd of a VM
 *                                   (close_range(), dup2(), dup3() close fds;
 *                                   dup(), fcntl(F_DUPFD) add them)
 *   process exit                    sched:sched_process_exit (group dead)
 *   pid filter with children        tp_btf/sched_process_fork
 *
 * KVM_RUN is not traced through ioctl where kvm_entry fires: it is the
 * hottest KVM ioctl; kvm_entry with the guard below costs one hash lookup
 * per entry and only emits on change. Where the KVM backend never fires
 * kvm_entry (PVM), the same guard runs at ioctl(KVM_RUN) entry instead
 * (on_run_enter()).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "xsw_event.h"
#include "xsw_core.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by the loader before load (rodata). */
const volatile __u32 targ_tgid = 0;		/* 0: every process */
const volatile bool follow_children = false;	/* ... and its descendants */
const volatile bool kvm_entry_guard = true;	/* kvm_entry: emit on change only */

/* Size set by the loader (struct xsw_probe_opts::ringbuf_kib). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events SEC(".maps");

static __always_inline __u64 submit_flags(void)
{
	return xsw_submit_flags(&events);
}

/* Events that did not fit in the ring buffer; summed by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

enum xsw_inflight_kind {
	XSW_INFLIGHT_IOCTL = 1,
	XSW_INFLIGHT_PRCTL,
};

/* A traced syscall between its enter and exit tracepoints, by thread id. */
struct xsw_inflight {
	__u64 ts;
	__u64 arg;		/* ioctl arg / arch_prctl arg2 */
	__s64 fd;
	__u32 cmd;		/* ioctl cmd / arch_prctl option */
	__u32 kind;		/* enum xsw_inflight_kind */
	union {
		struct xsw_perm perm_before;		/* KVM_CREATE_VCPU */
		struct {				/* KVM_SET_CPUID2 */
			__u64 fpstate;			/* the vCPU's, before */
			__u32 size;
			__u32 pad;
			__u64 xfeatures;
		} fps_before;
	};
};

/*
 * Where a syscall's state waits for its exit: the thread's own task storage,
 * a pointer in the task. A hash keyed by thread id (the usual way, and this
 * tier's first) cost an update at enter and a lookup and a delete at exit,
 * each taking a bucket lock: about 160 ns per KVM ioctl on the CI host.
 * Tracepoint programs may use task storage since a10787e6d58c ("bpf: Enable
 * task local storage for tracing programs", v5.12); this file already needs
 * bpf_loop() (v5.17).
 */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct xsw_inflight);
} inflight SEC(".maps");

static __always_inline void inflight_put(const struct xsw_inflight *in)
{
	struct xsw_inflight *slot;

	slot = bpf_task_storage_get(&inflight, bpf_get_current_task_btf(), 0,
				    BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (slot)
		*slot = *in;
}

/* The calling thread's pending syscall (consumed), or false. */
static __always_inline bool inflight_take(struct xsw_inflight *out)
{
	struct xsw_inflight *slot;

	slot = bpf_task_storage_get(&inflight, bpf_get_current_task_btf(), 0, 0);
	if (!slot || !slot->kind)
		return false;
	*out = *slot;
	slot->kind = 0;
	return true;
}

/* follow_children: tgids descending from targ_tgid. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, __u8);
} followed SEC(".maps");

/*
 * Processes with KVM state (a VM, a vCPU, an FPU permission call), with
 * what their exit must clean up: the VMs they own and the fds they have
 * in run_fds. Listing them here is what lets the exit skip the walks of
 * the whole vms and run_fds maps (4096 and 16384 buckets: about 80 us per
 * VMM exit here); a process with more VMs, or with higher fds, than the
 * lists hold still gets the walk, flagged by XSW_PROC_*_MORE.
 */
#define XSW_PROC_KVM		1u
#define XSW_PROC_VMS_MORE	2u	/* owns VMs not in vm[] */
#define XSW_PROC_RUN_FDS_MORE	4u	/* has run_fds entries for fds >= XSW_PROC_FDS */

#define XSW_PROC_VMS	4
#define XSW_PROC_FDS	512

struct xsw_proc {
	__u32 flags;			/* XSW_PROC_* */
	__u32 pad;
	__u64 vm[XSW_PROC_VMS];		/* struct kvm * it owns, 0 when free */
	__u64 run_fd_bits[XSW_PROC_FDS / 64];	/* fds with a run_fds entry */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, struct xsw_proc);
} kvm_procs SEC(".maps");

/*
 * The vCPUs of a VM, in slots indexed by KVM's own vcpu->vcpu_idx (0 ..
 * kvm->created_vcpus - 1): VM teardown walks these rather than the whole
 * vcpus map (a bpf_for_each_map_elem() over 16384 hash buckets on the VMM's
 * last close() cost it about 230 us per VM here: vcpu-lifecycle bench,
 * destroy step +52 % at p50). The first XSW_VM_INLINE_VCPUS slots live in
 * the VM's entry, the rest in vm_vcpus. A slot holds the struct kvm_vcpu *,
 * with XSW_SLOT_CREATED when this tier saw its KVM_CREATE_VCPU: that is all
 * KVM_CREATE_VCPU records; the vcpus entry waits for the vCPU's first
 * KVM_SET_CPUID2 or run (vcpu_adopt()), because a hash insert was a fifth
 * of sys_exit_ioctl's time for KVM_CREATE_VCPU.
 */
#define XSW_VM_INLINE_VCPUS 16
#define XSW_SLOT_CREATED 1ull
/* Slots a VM may use: x86 KVM_MAX_VCPUS is 1024, or 4096 with MAXSMP. */
#define XSW_KVM_MAX_VCPUS 4096

struct xsw_vm_state {
	__u32 tgid;
	__s32 fds;		/* VM fd + vCPU fds the process holds (see close) */
	__u64 vcpu[XSW_VM_INLINE_VCPUS];	/* slots 0 .. 15 */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);	/* struct kvm * */
	__type(value, struct xsw_vm_state);
} vms SEC(".maps");

/* Per-vCPU state, including the kvm_entry guard. */
struct xsw_vcpu_state {
	__u64 vm;
	__u64 xcr0;		/* guard: last guest xcr0 seen at entry */
	__u64 supported_xcr0;	/* guard: last guest_supported_xcr0 */
	__u64 fpstate;		/* guard: last fpstate pointer */
	__u32 fpstate_size;	/* guard: last fpstate->size */
	__u32 tgid;
	__s32 vcpu_id;
	__u32 cpuid_gen;	/* KVM_SET_CPUID2 calls seen */
	__u8 entered;		/* kvm_entry seen */
	__u8 created_seen;	/* KVM_CREATE_VCPU seen: cpuid_gen is exact */
	__u8 pad[6];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);	/* struct kvm_vcpu * */
	__type(value, struct xsw_vcpu_state);
} vcpus SEC(".maps");

/* A VM's slots from XSW_VM_INLINE_VCPUS on. */
struct xsw_vm_vcpu_key {
	__u64 vm;
	__u32 idx;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct xsw_vm_vcpu_key);
	__type(value, __u64);	/* struct kvm_vcpu * */
} vm_vcpus SEC(".maps");

/*
 * ioctl(KVM_RUN) fallback, per (tgid << 32 | fd): the fd's vCPU, and what
 * the guard last saw through this fd. A KVM_RUN that finds the same
 * values here is done without looking up the vcpus entry (whose guard
 * state these copy), one hash lookup less per KVM_RUN.
 */
struct xsw_run_fd {
	__u64 vcpu;		/* struct kvm_vcpu * */
	__u64 xcr0;
	__u64 supported_xcr0;
	__u64 fpstate;
	__u64 seen;		/* the fields above hold what the guard saw */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct xsw_run_fd);
} run_fds SEC(".maps");

/* Set once tp_btf/kvm_entry has run: the KVM backend fires it. */
bool kvm_entry_fires = false;

static __always_inline bool tgid_wanted(__u32 tgid)
{
	if (!targ_tgid || tgid == targ_tgid)
		return true;
	if (!follow_children)
		return false;
	return bpf_map_lookup_elem(&followed, &tgid) != NULL;
}

/*
 * Hash map updates of a present key are not cheap (bucket lock, a new
 * element from the freelist, the old one freed), and most calls here find
 * the key present: look it up first.
 */
static __always_inline struct xsw_proc *mark_kvm_proc(__u32 tgid)
{
	struct xsw_proc *proc = bpf_map_lookup_elem(&kvm_procs, &tgid);
	struct xsw_proc np = { .flags = XSW_PROC_KVM };

	if (proc)
		return proc;
	bpf_map_update_elem(&kvm_procs, &tgid, &np, BPF_NOEXIST);
	return bpf_map_lookup_elem(&kvm_procs, &tgid);
}

/* @vm joins @tgid's VMs (or the process is flagged to have more). */
static __always_inline void proc_add_vm(__u32 tgid, __u64 vm)
{
	struct xsw_proc *proc = mark_kvm_proc(tgid);
	int i;

	if (!proc)
		return;
	for (i = 0; i < XSW_PROC_VMS; i++)
		if (__sync_val_compare_and_swap(&proc->vm[i], 0, vm) == 0)
			return;
	__sync_fetch_and_or(&proc->flags, XSW_PROC_VMS_MORE);
}

static __always_inline void proc_del_vm(__u32 tgid, __u64 vm)
{
	struct xsw_proc *proc = bpf_map_lookup_elem(&kvm_procs, &tgid);
	int i;

	if (!proc)
		return;
	for (i = 0; i < XSW_PROC_VMS; i++)
		__sync_val_compare_and_swap(&proc->vm[i], vm, 0);
}

/* fd's run_fds entry, as set or cleared in its process's list. */
static __always_inline void proc_run_fd(struct xsw_proc *proc, long fd, bool set)
{
	__u64 bit;
	__u32 w;

	if (fd < 0)
		return;
	if (fd >= XSW_PROC_FDS) {
		if (set)
			__sync_fetch_and_or(&proc->flags, XSW_PROC_RUN_FDS_MORE);
		return;
	}
	bit = 1ull << (fd & 63);
	w = (__u32)fd / 64;
	barrier_var(w);		/* keep the bound check on the index itself */
	if (w >= XSW_PROC_FDS / 64)
		return;
	if (set)
		__sync_fetch_and_or(&proc->run_fd_bits[w], bit);
	else
		__sync_fetch_and_and(&proc->run_fd_bits[w], ~bit);
}

/* Whether fd has a run_fds entry, per its process's list. */
static __always_inline bool proc_has_run_fd(struct xsw_proc *proc, long fd)
{
	__u32 w;

	if (fd < 0)
		return false;
	if (fd >= XSW_PROC_FDS)
		return proc->flags & XSW_PROC_RUN_FDS_MORE;
	w = (__u32)fd / 64;
	barrier_var(w);
	if (w >= XSW_PROC_FDS / 64)
		return false;
	return proc->run_fd_bits[w] & (1ull << (fd & 63));
}

/*
 * Reserve a zeroed event with its common fields. A full ring buffer is
 * counted, never silent: the loader turns the count into a `lost` event.
 */
static __always_inline struct xsw_event *ev_reserve(__u32 type, __u64 vm, __s32 vcpu_id,
						    __s32 ret, __u64 start_ns)
{
	struct xsw_event *ev;
	__u32 zero = 0;

	ev = xsw_event_reserve(&events, XSW_SRC_SYSCALL, type, vm, vcpu_id, ret);
	if (!ev) {
		__u64 *d = bpf_map_lookup_elem(&drops, &zero);

		if (d)
			*d += 1;
		return NULL;
	}
	/* The header's clock read ends the call: one bpf_ktime_get_ns() less. */
	if (start_ns)
		ev->duration_ns = ev->ts_ns - start_ns;
	return ev;
}

static __always_inline void *file_private(struct file *file)
{
	return file ? xsw_load(file, private_data) : NULL;
}

/* A vCPU file's struct kvm_vcpu, to read through. */
static __always_inline struct kvm_vcpu *file_vcpu(struct file *file)
{
	void *vcpu = file_private(file);

	return vcpu ? xsw_kptr(struct kvm_vcpu, vcpu) : NULL;
}

/* --- CPUID tables in the VMM's memory (struct kvm_cpuid2) ---------------- */

/*
 * Entries are read XSW_CPUID_CHUNK at a time into a per-CPU buffer. With one
 * bpf_probe_read_user() per entry, sys_exit_ioctl cost 2.47 us per
 * KVM_SET_CPUID2 of the 59-entry supported table on the PVM host here, and
 * 2.68 us per KVM_GET_SUPPORTED_CPUID; in chunks, 1.37 and 1.72 us
 * (bpf_stats, builds alternated). 32-entry chunks gained nothing more.
 *
 * The buffer is per CPU because the callers' frames leave no room for 320
 * bytes of stack. Only the ioctl exit scans (xsw_ioctl_exit, or
 * xsw_raw_sys_exit with --syscall-hooks=raw), and no second run of it can
 * start on the CPU mid-scan: the syscall trace events run programs through
 * trace_call_bpf(), which lets one at a time run on a CPU
 * (bpf_prog_active), and a tp_btf program has its own per-CPU recursion
 * guard (prog->active; a run it stops counts in the program's
 * recursion_misses). One callback per entry, not a loop
 * over the chunk inside one: that multiplied the verifier's states (35
 * times the instructions, +380 ms at attach).
 */
#define XSW_CPUID_CHUNK 8

struct cpuid_chunk {
	struct kvm_cpuid_entry2 e[XSW_CPUID_CHUNK];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cpuid_chunk);
} cpuid_chunks SEC(".maps");

struct cpuid_scan {
	const struct kvm_cpuid_entry2 *entries;	/* user pointer */
	struct cpuid_chunk *ch;
	__u32 nent;
	__u32 chunk_read;	/* the current chunk came in one read */
	struct xsw_cpuid_xsave c;
};

static long cpuid_scan_one(__u32 i, struct cpuid_scan *s)
{
	__u32 j = i % XSW_CPUID_CHUNK;
	struct kvm_cpuid_entry2 *e;
	__u64 size;

	if (i >= s->nent || !s->ch)
		return 1;
	e = &s->ch->e[j];
	if (!j) {
		size = (__u64)(s->nent - i) * sizeof(*e);
		if (size > sizeof(s->ch->e))
			size = sizeof(s->ch->e);
		s->chunk_read = !bpf_probe_read_user(s->ch->e, size, &s->entries[i]);
	}
	/* A table that ends in an unmapped page: keep what is readable. */
	if (!s->chunk_read && bpf_probe_read_user(e, sizeof(*e), &s->entries[i]))
		return 1;
	xsw_cpuid_note(&s->c, e->function, e->index, e->eax, e->ebx, e->ecx, e->edx);
	return 0;
}

/* Leaf 0xD and 7.0 EDX of the table at user address @ubuf; returns nent. */
static __always_inline __u32 read_user_cpuid(__u64 ubuf, struct xsw_cpuid_xsave *out)
{
	struct kvm_cpuid2 *t = (void *)ubuf;
	struct cpuid_scan s = {};
	__u32 nent, zero = 0;

	if (bpf_probe_read_user(&nent, sizeof(nent), &t->nent))
		return 0;
	s.entries = t->entries;
	s.ch = bpf_map_lookup_elem(&cpuid_chunks, &zero);
	s.nent = nent < XSW_KVM_MAX_CPUID_ENTRIES ? nent : XSW_KVM_MAX_CPUID_ENTRIES;
	bpf_loop(s.nent, cpuid_scan_one, &s, 0);
	*out = s.c;
	return nent;
}

/* --- teardown ------------------------------------------------------------- */

struct teardown {
	__u64 vm;
	__u32 tgid;		/* process exit: the exiting process */
};

static __always_inline void emit_vcpu_destroy(struct kvm_vcpu *vcpu, __u64 vm, __s32 vcpu_id)
{
	struct xsw_event *ev;

	ev = ev_reserve(XSW_EV_VCPU_DESTROY, vm, vcpu_id, 0, 0);
	if (!ev)
		return;
	/* The vCPU is still allocated: its VM goes away after this close/exit. */
	xsw_read_vcpu_fpu(vcpu, &ev->vcpu);
	xsw_read_perm(xsw_current(), true, &ev->vcpu.guest_perm);
	bpf_ringbuf_submit(ev, submit_flags());
}

static long vm_vcpu_teardown_cb(__u32 idx, struct teardown *td)
{
	struct xsw_vm_vcpu_key k = { .vm = td->vm, .idx = idx };
	struct xsw_vcpu_state *st;
	__u64 *p, slot, key;

	if (idx < XSW_VM_INLINE_VCPUS) {
		struct xsw_vm_state *vs = bpf_map_lookup_elem(&vms, &td->vm);

		if (!vs)
			return 1;
		slot = vs->vcpu[idx & (XSW_VM_INLINE_VCPUS - 1)];
	} else {
		p = bpf_map_lookup_elem(&vm_vcpus, &k);
		if (!p)
			return 0;
		slot = *p;
		bpf_map_delete_elem(&vm_vcpus, &k);
	}
	if (!slot)
		return 0;
	key = slot & ~XSW_SLOT_CREATED;
	st = bpf_map_lookup_elem(&vcpus, &key);
	if (st) {
		if (st->vm != td->vm)	/* its address is now another VM's vCPU */
			return 0;
		emit_vcpu_destroy(xsw_kptr(struct kvm_vcpu, key), td->vm, st->vcpu_id);
		bpf_map_delete_elem(&vcpus, &key);
	} else if (slot & XSW_SLOT_CREATED) {
		/* Created, never configured nor run: its slot is all there is. */
		struct kvm_vcpu *vcpu = xsw_kptr(struct kvm_vcpu, key);

		emit_vcpu_destroy(vcpu, td->vm, xsw_load(vcpu, vcpu_id));
	}
	return 0;
}

/*
 * The VM's vCPUs, then the VM itself. A global function: the verifier
 * checks it once per program rather than at each of its call sites (close,
 * process exit, exec: each program has two or more), which is most of
 * what it costs to load them. @vm must be a number, not a typed pointer
 * (a global function takes scalars).
 */
__noinline int vm_teardown(__u64 vm)
{
	struct xsw_vm_state *vs = bpf_map_lookup_elem(&vms, &vm);
	struct teardown td = { .vm = vm };
	struct xsw_event *ev;
	__u32 n;

	if (vs)
		proc_del_vm(vs->tgid, vm);
	/* Still allocated: called before the last fd's release or exit_files(). */
	n = xsw_load(xsw_kptr(struct kvm, vm), created_vcpus);
	bpf_loop(n < XSW_KVM_MAX_VCPUS ? n : XSW_KVM_MAX_VCPUS, vm_vcpu_teardown_cb, &td, 0);
	ev = ev_reserve(XSW_EV_VM_DESTROY, vm, -1, 0, 0);
	if (ev)
		bpf_ringbuf_submit(ev, submit_flags());
	bpf_map_delete_elem(&vms, &vm);
	return 0;
}

/*
 * A VM that went through a path no hook here sees (a close through
 * io_uring, a run of the close program the kernel skipped) leaves its
 * state behind, and a new VM or vCPU that KVM puts at the same address
 * would take it over (a first KVM_SET_CPUID2 counted as the second). When
 * KVM_CREATE_VM returns an address still tracked, the old VM is gone for
 * certain: it is reported gone now, late, and forgotten. Its vCPUs'
 * memory may be another object's by now, so their destroys carry no
 * fpstate; a vCPU never configured nor run has no id here and gets none.
 */
static __always_inline void vcpu_forget(__u64 slot, __u64 vm)
{
	__u64 key = slot & ~XSW_SLOT_CREATED;
	struct xsw_vcpu_state *st;
	struct xsw_event *ev;

	if (!key)
		return;
	st = bpf_map_lookup_elem(&vcpus, &key);
	if (!st || st->vm != vm)
		return;
	ev = ev_reserve(XSW_EV_VCPU_DESTROY, vm, st->vcpu_id, 0, 0);
	if (ev)
		bpf_ringbuf_submit(ev, submit_flags());
	bpf_map_delete_elem(&vcpus, &key);
}

static long vm_forget_slot_cb(__u32 idx, struct teardown *td)
{
	struct xsw_vm_state *vs = bpf_map_lookup_elem(&vms, &td->vm);

	if (!vs)
		return 1;
	vcpu_forget(vs->vcpu[idx & (XSW_VM_INLINE_VCPUS - 1)], td->vm);
	return 0;
}

static long vm_forget_more_cb(struct bpf_map *map, struct xsw_vm_vcpu_key *k, __u64 *slot,
			      struct teardown *td)
{
	if (k->vm != td->vm)
		return 0;
	vcpu_forget(*slot, td->vm);
	bpf_map_delete_elem(map, k);
	return 0;
}

/* run_fds entries that point at the VM's vCPUs (before those are forgotten). */
static long vm_forget_run_fd_cb(struct bpf_map *map, __u64 *key, struct xsw_run_fd *rf,
				struct teardown *td)
{
	struct xsw_vcpu_state *st = bpf_map_lookup_elem(&vcpus, &rf->vcpu);

	if (st && st->vm == td->vm)
		bpf_map_delete_elem(map, key);
	return 0;
}

/* Rare (see above): the walks of run_fds and vm_vcpus are affordable here. */
__noinline int vm_forget(__u64 vm)
{
	struct xsw_vm_state *vs = bpf_map_lookup_elem(&vms, &vm);
	struct teardown td = { .vm = vm };
	struct xsw_event *ev;

	if (!vs)
		return 0;
	proc_del_vm(vs->tgid, vm);
	bpf_for_each_map_elem(&run_fds, vm_forget_run_fd_cb, &td, 0);
	bpf_loop(XSW_VM_INLINE_VCPUS, vm_forget_slot_cb, &td, 0);
	bpf_for_each_map_elem(&vm_vcpus, vm_forget_more_cb, &td, 0);
	ev = ev_reserve(XSW_EV_VM_DESTROY, vm, -1, 0, 0);
	if (ev)
		bpf_ringbuf_submit(ev, submit_flags());
	bpf_map_delete_elem(&vms, &vm);
	return 0;
}

static long run_fds_exit_cb(struct bpf_map *map, __u64 *key, struct xsw_run_fd *rf,
			    struct teardown *td)
{
	if (*key >> 32 == td->tgid)
		bpf_map_delete_elem(map, key);
	return 0;
}

/* An exiting process's lists (struct xsw_proc), copied: VMs, then run fds. */
struct proc_exit {
	__u32 tgid;
	__u32 word;
	__u64 files;		/* the fd table to count the VMs' fds in, or 0 */
	__u32 at_exec;		/* settling at exec, not at process exit */
	__u32 pad;
	__u64 vm[XSW_PROC_VMS];
	__u64 run_fd_bits[XSW_PROC_FDS / 64];
};

static long proc_exit_fd_cb(__u32 b, struct proc_exit *pe)
{
	__u32 w = pe->word & (XSW_PROC_FDS / 64 - 1);
	__u64 key;

	if (!(pe->run_fd_bits[w] & (1ull << b)))
		return 0;
	key = (__u64)pe->tgid << 32 | (w * 64 + b);
	bpf_map_delete_elem(&run_fds, &key);
	return 0;
}

static long proc_exit_word_cb(__u32 i, struct proc_exit *pe)
{
	if (pe->run_fd_bits[i & (XSW_PROC_FDS / 64 - 1)]) {
		pe->word = i;
		bpf_loop(64, proc_exit_fd_cb, pe, 0);
	}
	return 0;
}

/*
 * Start tracking @vm for @tgid (no-op when tracked). A VM we saw created
 * has 1 fd; one first seen through a vCPU is assumed to have 2 (its own
 * and that vCPU's): its history before we started is unknown.
 */
static __always_inline struct xsw_vm_state *vm_track(__u64 vm, __u32 tgid, __s32 fds_if_new)
{
	struct xsw_vm_state *vs = bpf_map_lookup_elem(&vms, &vm);
	struct xsw_vm_state st = { .tgid = tgid, .fds = fds_if_new };

	if (vs)		/* see mark_kvm_proc() */
		return vs;
	if (!bpf_map_update_elem(&vms, &vm, &st, BPF_NOEXIST))
		proc_add_vm(tgid, vm);
	return bpf_map_lookup_elem(&vms, &vm);
}

static __always_inline __u64 vm_slot_get(struct xsw_vm_state *vs, __u64 vm, __u32 idx)
{
	struct xsw_vm_vcpu_key k = { .vm = vm, .idx = idx };
	__u64 *p;

	if (idx < XSW_VM_INLINE_VCPUS)
		return vs->vcpu[idx & (XSW_VM_INLINE_VCPUS - 1)];
	p = bpf_map_lookup_elem(&vm_vcpus, &k);
	return p ? *p : 0;
}

static __always_inline void vm_slot_set(struct xsw_vm_state *vs, __u64 vm, __u32 idx, __u64 slot)
{
	struct xsw_vm_vcpu_key k = { .vm = vm, .idx = idx };

	if (idx < XSW_VM_INLINE_VCPUS)
		vs->vcpu[idx & (XSW_VM_INLINE_VCPUS - 1)] = slot;
	else if (idx < XSW_KVM_MAX_VCPUS)
		bpf_map_update_elem(&vm_vcpus, &k, &slot, BPF_ANY);
}

/* vcpu->kvm, ->vcpu_id and ->vcpu_idx: neighbours at the start of struct kvm_vcpu. */
struct xsw_vcpu_ids {
	__u64 vm;
	__s32 id;
	__u32 idx;
};

static __always_inline void vcpu_ids(struct kvm_vcpu *vcpu, struct xsw_vcpu_ids *out)
{
	__u32 base = xsw_span_base(vcpu, kvm);
	__u8 buf[XSW_SPAN_MAX];

	if (xsw_direct_loads) {
		out->vm = (__u64)vcpu->kvm;
		out->id = vcpu->vcpu_id;
		out->idx = vcpu->vcpu_idx;
		return;
	}
	if (bpf_probe_read_kernel(buf, sizeof(buf), (void *)vcpu + base)) {
		out->vm = 0;
		out->id = -1;
		out->idx = XSW_KVM_MAX_VCPUS;
		return;
	}
	out->vm = (__u64)xsw_span_get(buf, base, vcpu, kvm);
	out->id = xsw_span_get(buf, base, vcpu, vcpu_id);
	out->idx = xsw_span_get(buf, base, vcpu, vcpu_idx);
}

/*
 * The vcpus entry of a vCPU met for the first time since its creation (at
 * its first KVM_SET_CPUID2 or run), or since the collector started: its
 * VM's slot says whether KVM_CREATE_VCPU was seen.
 */
static __always_inline struct xsw_vcpu_state *vcpu_adopt(struct kvm_vcpu *vcpu, __u32 tgid)
{
	struct xsw_vcpu_state nst = { .tgid = tgid };
	__u64 key = (__u64)vcpu, slot = 0;
	struct xsw_vcpu_ids ids;
	struct xsw_vm_state *vs;

	vcpu_ids(vcpu, &ids);
	nst.vm = ids.vm;
	nst.vcpu_id = ids.id;
	vs = vm_track(ids.vm, tgid, 2);
	if (vs) {
		slot = vm_slot_get(vs, ids.vm, ids.idx);
		/* No `key | flag`: at kvm_entry @vcpu is a BTF pointer, not a number. */
		nst.created_seen = (slot & XSW_SLOT_CREATED) && (slot & ~XSW_SLOT_CREATED) == key;
		if (!nst.created_seen && slot != key)
			vm_slot_set(vs, ids.vm, ids.idx, key);
	}
	if (!nst.created_seen)
		mark_kvm_proc(tgid);
	bpf_map_update_elem(&vcpus, &key, &nst, BPF_NOEXIST);
	return bpf_map_lookup_elem(&vcpus, &key);
}

/* --- VM entry ------------------------------------------------------------- */

/*
 * The per-vCPU guard: an event on the first entry, then only when the
 * guest's XCR0, its supported XCR0 or the fpstate (pointer or size)
 * changed. With kvm_entry_guard off, an event every time (to measure what
 * the guard saves). Returns 1 when the vcpus entry now holds these
 * values (run_fds may copy them), 0 when the vCPU is not tracked.
 *
 * @size is fps->size, or -1 where the caller has not read it: an fpstate's
 * size is set when it is allocated (__fpstate_reset(), fpstate_realloc()
 * on the new buffer) and never changes after, so while the pointer is the
 * one the guard holds, its size is too, and the read can wait until an
 * event is due.
 */
static __always_inline int run_observe(struct kvm_vcpu *vcpu, __u64 xcr0, __u64 supported,
				       struct fpstate *fps, __s64 size)
{
	__u64 key = (__u64)vcpu;
	struct xsw_vcpu_state *st = bpf_map_lookup_elem(&vcpus, &key);
	struct xsw_event *ev;
	__u32 type;

	if (st) {
		if (kvm_entry_guard && st->entered && st->xcr0 == xcr0 &&
		    st->supported_xcr0 == supported && st->fpstate == (__u64)fps &&
		    (size < 0 || st->fpstate_size == size))
			return 1;
		type = st->entered ? XSW_EV_XCR0_CHANGE : XSW_EV_FIRST_RUN;
		if (!st->entered && !st->created_seen && BPF_CORE_READ(vcpu, stat.exits))
			type = XSW_EV_XCR0_CHANGE;
	} else {
		/* Run before any KVM_SET_CPUID2, or created before we started. */
		__u32 tgid = bpf_get_current_pid_tgid() >> 32;

		if (!tgid_wanted(tgid))
			return 0;
		st = vcpu_adopt(vcpu, tgid);
		if (!st)
			return 0;
		/* Unseen creation: its first entry only if it never exited before. */
		type = XSW_EV_FIRST_RUN;
		if (!st->created_seen && BPF_CORE_READ(vcpu, stat.exits))
			type = XSW_EV_XCR0_CHANGE;
	}
	if (size < 0)
		size = fps ? BPF_CORE_READ(fps, size) : 0;
	st->entered = 1;
	st->xcr0 = xcr0;
	st->supported_xcr0 = supported;
	st->fpstate = (__u64)fps;
	st->fpstate_size = size;

	ev = ev_reserve(type, st->vm, st->vcpu_id, 0, 0);
	if (!ev)
		return 1;
	ev->run.guest_xcr0 = xcr0;
	ev->run.guest_supported_xcr0 = supported;
	xsw_read_fpstate(fps, &ev->run.fps);
	bpf_ringbuf_submit(ev, submit_flags());
	return 1;
}

/*
 * Runs on every VM entry of every vCPU: four loads and one hash lookup when
 * nothing changed.
 */
SEC("tp_btf/kvm_entry")
int BPF_PROG(xsw_kvm_entry, struct kvm_vcpu *vcpu_arg)
{
	struct kvm_vcpu *vcpu = xsw_untrusted(struct kvm_vcpu, vcpu_arg);
	struct fpstate *fps = vcpu->arch.guest_fpu.fpstate;

	if (!kvm_entry_fires)
		kvm_entry_fires = true;
	return run_observe(vcpu, vcpu->arch.xcr0, vcpu->arch.guest_supported_xcr0, fps,
			   fps ? fps->size : 0);
}

/*
 * Fallback for KVM backends that never fire kvm:kvm_entry (this project's
 * CI host: PVM, kvm_pvm.ko, runs guests without calling trace_kvm_entry()):
 * the same guard at ioctl(KVM_RUN) entry, i.e. once per KVM_RUN rather than
 * per VM entry. Off (one global load) as soon as kvm_entry has fired once
 * anywhere on the system. The vCPU of an fd and the guard's values are
 * cached per (tgid, fd) (run_fds), so the fd -> file walk happens once per
 * vCPU fd and an unchanged KVM_RUN costs one hash lookup.
 */
static __always_inline int on_run_enter(long fd)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 key, xcr0, supported;
	__u8 buf[XSW_SPAN_MAX];
	struct xsw_run_fd *rf;
	struct kvm_vcpu *vcpu;
	struct fpstate *fps;
	struct xsw_proc *proc;
	__u32 base;

	if (kvm_entry_fires || !tgid_wanted(tgid))
		return 0;
	key = (__u64)tgid << 32 | (__u32)fd;
	rf = bpf_map_lookup_elem(&run_fds, &key);
	if (!rf) {
		struct file *file = xsw_fd_file(xsw_current(), fd);
		struct xsw_run_fd nrf = {};

		if (xsw_kvm_file_kind(file) != XSW_FILE_VCPU)
			return 0;
		nrf.vcpu = (__u64)file_private(file);
		if (!nrf.vcpu)
			return 0;
		bpf_map_update_elem(&run_fds, &key, &nrf, BPF_ANY);
		rf = bpf_map_lookup_elem(&run_fds, &key);
		if (!rf)
			return 0;
		/* So that its close and its process's exit delete the entry. */
		proc = mark_kvm_proc(tgid);
		if (proc)
			proc_run_fd(proc, fd, true);
	}
	vcpu = xsw_kptr(struct kvm_vcpu, rf->vcpu);
	if (xsw_direct_loads) {
		xcr0 = vcpu->arch.xcr0;
		supported = vcpu->arch.guest_supported_xcr0;
		fps = vcpu->arch.guest_fpu.fpstate;
	} else {
		/* guest_fpu.fpstate, xcr0, guest_supported_xcr0: neighbours in kvm_vcpu_arch */
		struct kvm_vcpu_arch *arch = &vcpu->arch;

		base = xsw_span_base(arch, guest_fpu.fpstate);
		if (bpf_probe_read_kernel(buf, sizeof(buf), (void *)arch + base))
			return 0;
		xcr0 = xsw_span_get(buf, base, arch, xcr0);
		supported = xsw_span_get(buf, base, arch, guest_supported_xcr0);
		fps = xsw_span_get(buf, base, arch, guest_fpu.fpstate);
	}
	if (kvm_entry_guard && rf->seen && rf->xcr0 == xcr0 &&
	    rf->supported_xcr0 == supported && rf->fpstate == (__u64)fps)
		return 0;
	if (run_observe(vcpu, xcr0, supported, fps, -1)) {
		rf->xcr0 = xcr0;
		rf->supported_xcr0 = supported;
		rf->fpstate = (__u64)fps;
		rf->seen = 1;
	}
	return 0;
}

/* --- ioctl ---------------------------------------------------------------- */

/*
 * KVM_SET_CPUID2 may reallocate the vCPU's fpstate: kvm_check_cpuid() hands
 * the dynamic features (XTILEDATA) of the table's leaf 0xD to
 * fpu_enable_guest_xfd_features(), which replaces guest_fpu.fpstate with a
 * larger one (fpstate_realloc()) and frees the old. This tier sees no
 * function; it keeps the fpstate the vCPU had at the call's entry, and the
 * exit reports an fpstate_realloc when the pointer changed. The old buffer
 * is gone by then: its size and features are read here.
 */
static __always_inline void set_cpuid_enter(long fd, struct xsw_inflight *in)
{
	struct kvm_vcpu *vcpu;
	struct fpstate *fps;
	struct file *file;

	file = xsw_fd_file(xsw_current(), fd);
	if (xsw_kvm_file_kind(file) != XSW_FILE_VCPU)
		return;
	vcpu = file_vcpu(file);
	fps = vcpu ? xsw_load(vcpu, arch.guest_fpu.fpstate) : NULL;
	if (!fps)
		return;
	in->fps_before.fpstate = (__u64)fps;
	in->fps_before.size = xsw_load(fps, size);
	in->fps_before.xfeatures = xsw_load(fps, xfeatures);
}

/*
 * The fpstate_realloc a KVM_SET_CPUID2 made: the vCPU's fpstate pointer
 * changed across the call. A global function, verified apart from the
 * exit program (each program checks its own copy once): inlined, its
 * record held across the rest of the exit doubled the verifier's states
 * (13.5k -> 19.4k instructions, 14 ms of start-up). It takes numbers, so
 * it walks the fd again; it loads the new fpstate's fields straight into
 * the record, keeping its frame small enough for the exit program's 440
 * bytes on kernels without a private BPF stack (512 in all: 6.12 refused
 * a version with a struct copy on the stack).
 */
__noinline int set_cpuid_realloc(long fd, __u64 old, __u32 old_size, __u64 old_xfeatures)
{
	struct kvm_vcpu *vcpu = file_vcpu(xsw_fd_file(xsw_current(), fd));
	struct xsw_event *ev;
	struct fpstate *fps;

	fps = vcpu ? xsw_load(vcpu, arch.guest_fpu.fpstate) : NULL;
	if (!fps || (__u64)fps == old)
		return 0;
	ev = ev_reserve(XSW_EV_FPSTATE_REALLOC, (__u64)xsw_load(vcpu, kvm),
			xsw_load(vcpu, vcpu_id), 0, 0);
	if (!ev)
		return 0;
	ev->realloc.new_size = xsw_load(fps, size);
	/* Unread, the new size would be 0: a shrink, to the checks. */
	if (!ev->realloc.new_size) {
		bpf_ringbuf_discard(ev, 0);
		return 0;
	}
	ev->realloc.old_size = old_size;
	ev->realloc.user_size = xsw_load(fps, user_size);
	ev->realloc.xfeatures = xsw_load(fps, xfeatures);
	ev->realloc.user_xfeatures = xsw_load(fps, user_xfeatures);
	ev->realloc.xfeatures_added = ev->realloc.xfeatures & ~old_xfeatures;
	ev->realloc.guest = 1;
	ev->realloc.in_use = xsw_direct_loads ? BPF_CORE_READ_BITFIELD(fps, in_use) :
						BPF_CORE_READ_BITFIELD_PROBED(fps, in_use);
	bpf_ringbuf_submit(ev, submit_flags());
	return 0;
}

static __always_inline int ioctl_enter(long fd, __u32 cmd, __u64 arg)
{
	struct xsw_inflight in = {};
	__u64 id;

	/* Every ioctl of the system comes here: reject non-KVM ones first. */
	if (((cmd >> 8) & 0xff) != XSW_KVMIO)
		return 0;
	if (cmd == XSW_KVM_RUN)
		return on_run_enter(fd);
	if (cmd != XSW_KVM_CREATE_VM && cmd != XSW_KVM_GET_SUPPORTED_CPUID &&
	    cmd != XSW_KVM_CREATE_VCPU && cmd != XSW_KVM_SET_CPUID2)
		return 0;
	id = bpf_get_current_pid_tgid();
	if (!tgid_wanted(id >> 32))
		return 0;
	in.ts = bpf_ktime_get_ns();
	in.fd = fd;
	in.cmd = cmd;
	in.arg = arg;
	in.kind = XSW_INFLIGHT_IOCTL;
	if (cmd == XSW_KVM_CREATE_VCPU)	/* to tell whether this call locks it */
		xsw_read_perm(xsw_current(), true,
			      &in.perm_before);
	else if (cmd == XSW_KVM_SET_CPUID2)	/* to tell whether this call reallocates it */
		set_cpuid_enter(fd, &in);
	inflight_put(&in);
	return 0;
}

static __always_inline int on_create_vm(struct task_struct *task, const struct xsw_inflight *in,
					long ret)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct xsw_event *ev;
	__u64 vm = 0;

	if (ret >= 0) {
		struct file *f = xsw_fd_file(task, ret);

		if (xsw_kvm_file_kind(f) == XSW_FILE_VM)
			vm = (__u64)file_private(f);
		/* KVM just allocated this struct kvm: state under its address is stale. */
		if (vm && bpf_map_lookup_elem(&vms, &vm)) {
			__u64 stale = 0;

			/* A number for the global function (a direct load gives a pointer). */
			if (!bpf_probe_read_kernel(&stale, sizeof(stale), &f->private_data))
				vm_forget(stale);
		}
		if (vm)
			vm_track(vm, tgid, 1);
	}
	mark_kvm_proc(tgid);
	ev = ev_reserve(XSW_EV_VM_CREATE, vm, -1, ret < 0 ? ret : 0, in->ts);
	if (!ev)
		return 0;
	ev->vm_create.type = in->arg;
	bpf_ringbuf_submit(ev, submit_flags());
	return 0;
}

static __always_inline int on_supported_cpuid(struct task_struct *task,
					      const struct xsw_inflight *in,
					      enum xsw_kvm_file kind, struct file *file,
					      long ret)
{
	struct xsw_event *ev;
	__u64 vm = kind == XSW_FILE_VM ? (__u64)file_private(file) : 0;

	/* A VMM in the making: its exit must be reported (and its state freed). */
	mark_kvm_proc(bpf_get_current_pid_tgid() >> 32);
	ev = ev_reserve(XSW_EV_SUPPORTED_CPUID, vm, -1, ret < 0 ? ret : 0, in->ts);
	if (!ev)
		return 0;
	ev->supported.system = kind == XSW_FILE_SYSTEM;
	/* The kernel writes the table (and nent) back only on success. */
	if (ret == 0)
		ev->supported.nent = read_user_cpuid(in->arg, &ev->supported.cpuid);
	else
		bpf_probe_read_user(&ev->supported.nent, sizeof(__u32), (void *)in->arg);
	xsw_read_perm(task, true, &ev->supported.guest_perm);
	bpf_ringbuf_submit(ev, submit_flags());
	return 0;
}

/*
 * A new fd that is a vCPU's proves the call was KVM_CREATE_VCPU on a VM fd,
 * and the VM is vcpu->kvm: the VM fd is walked only when the call failed.
 */
static __always_inline int on_create_vcpu(struct task_struct *task, const struct xsw_inflight *in,
					  long ret)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct kvm_vcpu *vcpu = NULL;
	struct xsw_event *ev;
	__s32 vcpu_id = (__s32)in->arg;
	struct xsw_perm after = {};
	struct xsw_vcpu_ids ids;
	__u64 vm, addr = 0;

	if (ret >= 0) {
		struct file *f = xsw_fd_file(task, ret);

		/* The address as a number, for the slot's tag bit. */
		if (xsw_kvm_file_kind(f) == XSW_FILE_VCPU)
			addr = (__u64)file_private(f);
		if (addr)
			vcpu = xsw_kptr(struct kvm_vcpu, addr);
	}
	if (vcpu) {
		vcpu_ids(vcpu, &ids);
		vm = ids.vm;
		vcpu_id = ids.id;
	} else {
		struct file *vm_file = xsw_fd_file(task, in->fd);

		if (xsw_kvm_file_kind(vm_file) != XSW_FILE_VM)
			return 0;
		vm = (__u64)file_private(vm_file);
	}
	if (vcpu) {
		struct xsw_vm_state *vs;

		vs = bpf_map_lookup_elem(&vms, &vm);
		if (!vs) {
			/* A VM created before we started: its own fd plus this vCPU's. */
			vs = vm_track(vm, tgid, 1);
			mark_kvm_proc(tgid);
		} else if (vs->tgid != tgid) {	/* a VM fd passed to another process */
			mark_kvm_proc(tgid);
		}
		if (vs) {
			__sync_fetch_and_add(&vs->fds, 1);
			vm_slot_set(vs, vm, ids.idx, addr | XSW_SLOT_CREATED);
		}
	} else {
		mark_kvm_proc(tgid);
	}
	xsw_read_perm(task, true, &after);

	ev = ev_reserve(XSW_EV_VCPU_CREATE, vm, vcpu_id, ret < 0 ? ret : 0, in->ts);
	if (!ev)
		return 0;
	ev->vcpu.guest_perm = after;
	if (vcpu) {
		xsw_read_vcpu_fpu(vcpu, &ev->vcpu);
		/*
		 * fpu_alloc_guest_fpstate() copied the process's guest permission
		 * into the vCPU and locked it (fpu_lock_guest_permissions()); this
		 * tier sees that only as the permission before and after the
		 * ioctl. The perm_sync event has the vcpu_create payload: one
		 * record for both, split by the loader (one reservation and one
		 * set of reads less per vCPU).
		 */
		ev->vcpu.locked_now = in->perm_before.valid && !in->perm_before.locked &&
				      after.locked;
		ev->vcpu.perm_sync_follows = 1;
	}
	bpf_ringbuf_submit(ev, submit_flags());
	return 0;
}

static __always_inline int on_set_cpuid(struct task_struct *task, const struct xsw_inflight *in,
					struct file *vcpu_file, long ret)
{
	struct kvm_vcpu *vcpu = file_vcpu(vcpu_file);
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct xsw_vcpu_state *st;
	struct xsw_event *ev;
	__u64 key = (__u64)vcpu, vm;
	__s32 vcpu_id;
	__u32 gen = 0;

	if (!vcpu)
		return 0;
	st = bpf_map_lookup_elem(&vcpus, &key);
	/* Another VM's vCPU had this address, and went unseen (see vm_forget()). */
	if (st && st->vm != (__u64)xsw_load(vcpu, kvm)) {
		bpf_map_delete_elem(&vcpus, &key);
		st = NULL;
	}
	if (!st)
		st = vcpu_adopt(vcpu, tgid);
	if (st) {
		vm = st->vm;
		vcpu_id = st->vcpu_id;
		gen = __sync_fetch_and_add(&st->cpuid_gen, 1) + 1;
		/* Created before we started: its generation is unknown (0). */
		if (!st->created_seen)
			gen = 0;
	} else {	/* the vcpus map is full */
		vm = (__u64)xsw_load(vcpu, kvm);
		vcpu_id = xsw_load(vcpu, vcpu_id);
	}
	/* Before the call's own record, as the tracepoint and fentry tiers have it. */
	if (in->fps_before.fpstate)
		set_cpuid_realloc(in->fd, in->fps_before.fpstate, in->fps_before.size,
				  in->fps_before.xfeatures);

	ev = ev_reserve(XSW_EV_SET_CPUID, vm, vcpu_id, ret < 0 ? ret : 0, in->ts);
	if (!ev)
		return 0;
	ev->set_cpuid.generation = gen;
	/* What the VMM passed (KVM keeps a copy, but patches 0xD EBX at runtime). */
	ev->set_cpuid.nent = read_user_cpuid(in->arg, &ev->set_cpuid.cpuid);
	ev->set_cpuid.guest_supported_xcr0 = xsw_load(vcpu, arch.guest_supported_xcr0);
	ev->set_cpuid.guest_supported_xss = xsw_vcpu_supported_xss(vcpu);
	xsw_read_perm(task, true, &ev->set_cpuid.guest_perm);
	xsw_read_fpstate(xsw_load(vcpu, arch.guest_fpu.fpstate), &ev->set_cpuid.fps);
	bpf_ringbuf_submit(ev, submit_flags());
	return 0;
}

static __always_inline int ioctl_exit(long ret)
{
	struct task_struct *task;
	struct xsw_inflight in;
	enum xsw_kvm_file kind;
	struct file *file;

	if (!inflight_take(&in))
		return 0;
	if (in.kind != XSW_INFLIGHT_IOCTL)
		return 0;
	task = xsw_current();
	if (in.cmd == XSW_KVM_CREATE_VCPU)	/* the hot one: its own fd walks */
		return on_create_vcpu(task, &in, ret);
	file = xsw_fd_file(task, in.fd);
	kind = xsw_kvm_file_kind(file);

	switch (in.cmd) {
	case XSW_KVM_CREATE_VM:
		if (kind == XSW_FILE_SYSTEM)
			return on_create_vm(task, &in, ret);
		break;
	case XSW_KVM_GET_SUPPORTED_CPUID:
		if (kind == XSW_FILE_SYSTEM || kind == XSW_FILE_VM)
			return on_supported_cpuid(task, &in, kind, file, ret);
		break;
	case XSW_KVM_SET_CPUID2:
		if (kind == XSW_FILE_VCPU)
			return on_set_cpuid(task, &in, file, ret);
		break;
	}
	return 0;
}

/* --- arch_prctl ----------------------------------------------------------- */

static __always_inline bool option_is_guest(__u32 option)
{
	return option == XSW_ARCH_GET_XCOMP_GUEST_PERM ||
	       option == XSW_ARCH_REQ_XCOMP_GUEST_PERM;
}

static __always_inline int prctl_enter(__u32 option, __u64 arg)
{
	struct xsw_inflight in = {};
	__u64 id;

	if (option < XSW_ARCH_GET_XCOMP_PERM || option > XSW_ARCH_REQ_XCOMP_GUEST_PERM)
		return 0;
	id = bpf_get_current_pid_tgid();
	if (!tgid_wanted(id >> 32))
		return 0;
	in.ts = bpf_ktime_get_ns();
	in.cmd = option;
	in.arg = arg;
	in.kind = XSW_INFLIGHT_PRCTL;
	xsw_read_perm(xsw_current(), option_is_guest(option),
		      &in.perm_before);
	inflight_put(&in);
	return 0;
}

static __always_inline int prctl_exit(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct xsw_inflight in;
	struct xsw_event *ev;
	bool request;

	if (!inflight_take(&in))
		return 0;
	if (in.kind != XSW_INFLIGHT_PRCTL)
		return 0;
	mark_kvm_proc(id >> 32);
	request = in.cmd == XSW_ARCH_REQ_XCOMP_PERM || in.cmd == XSW_ARCH_REQ_XCOMP_GUEST_PERM;
	ev = ev_reserve(XSW_EV_PERM_REQUEST, 0, -1, ret < 0 ? ret : 0,
			in.ts);
	if (!ev)
		return 0;
	ev->perm.option = in.cmd;
	ev->perm.guest = option_is_guest(in.cmd);
	ev->perm.request = request;
	ev->perm.arg = request ? in.arg : 0;	/* GET: arg2 is a user pointer */
	ev->perm.before = in.perm_before;
	xsw_read_perm(xsw_current(), ev->perm.guest,
		      &ev->perm.after);
	bpf_ringbuf_submit(ev, submit_flags());
	return 0;
}

/* --- close: the process's last fd of a VM --------------------------------- */

/*
 * The VM @file belongs to (its own or its vCPU's), as a number, or 0 when
 * it is no VM or vCPU file. Probe reads: vm_teardown() takes a number, and
 * a direct load of file->private_data or vcpu->kvm gives the verifier a
 * pointer. Off the hot paths (close of KVM fds, dup2, exec).
 */
static __always_inline __u64 kvm_file_vm(struct file *file, enum xsw_kvm_file *kind)
{
	struct kvm_vcpu *vcpu;
	__u64 vm = 0;

	*kind = xsw_kvm_file_kind(file);
	if (*kind == XSW_FILE_VM) {
		if (bpf_probe_read_kernel(&vm, sizeof(vm), &file->private_data))
			return 0;
		return vm;
	}
	if (*kind != XSW_FILE_VCPU)
		return 0;
	vcpu = file_vcpu(file);
	if (!vcpu || bpf_probe_read_kernel(&vm, sizeof(vm), &vcpu->kvm))
		return 0;
	return vm;
}

/*
 * The VM of the current task's @fd, | 1 for a vCPU's fd (a struct kvm is
 * aligned), or 0. A global function, so the verifier checks the file kind
 * test once per program rather than at each call (dup2 has two).
 */
__noinline __u64 current_fd_vm(long fd)
{
	enum xsw_kvm_file kind;
	__u64 vm;

	vm = kvm_file_vm(xsw_fd_file(xsw_current(), fd), &kind);
	return vm ? vm | (kind == XSW_FILE_VCPU) : 0;
}

/* The same for @fd of the fd table at @files (the recount at exit and exec). */
__noinline __u64 table_fd_vm(__u64 files, long fd)
{
	enum xsw_kvm_file kind;
	__u64 vm;

	vm = kvm_file_vm(xsw_table_fd_file(files, fd), &kind);
	return vm ? vm | (kind == XSW_FILE_VCPU) : 0;
}

/* @fd of @tgid is about to close: the VM goes with its process's last fd. */
static __always_inline void close_fd(__u32 tgid, long fd)
{
	__u64 vm = current_fd_vm(fd);
	struct xsw_vm_state *vs;
	struct xsw_proc *proc;

	if (!vm)
		return;
	/* The fd number may name another vCPU next. */
	proc = vm & 1 ? bpf_map_lookup_elem(&kvm_procs, &tgid) : NULL;
	vm &= ~1ull;
	if (proc && proc_has_run_fd(proc, fd)) {
		__u64 key = (__u64)tgid << 32 | (__u32)fd;

		bpf_map_delete_elem(&run_fds, &key);
		proc_run_fd(proc, fd, false);
	}
	vs = bpf_map_lookup_elem(&vms, &vm);
	if (!vs || __sync_fetch_and_add(&vs->fds, -1) > 1)
		return;
	vm_teardown(vm);
}

static __always_inline int close_enter(long fd)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	/* close() is hot too: only processes known to hold KVM fds go on. */
	if (!bpf_map_lookup_elem(&kvm_procs, &tgid))
		return 0;
	close_fd(tgid, fd);
	return 0;
}

/*
 * close() is not the only way a VMM's fd goes: close_range() closes many
 * (CLOSE_RANGE_CLOEXEC only marks them), dup2()/dup3() close the target
 * fd. Each is handled at its enter, as close() is, while the files are
 * still there to read.
 */
#define XSW_CLOSE_RANGE_CLOEXEC	(1u << 2)	/* include/uapi/linux/close_range.h */
/* fds a range or fd table walk looks at (close_range(), exec): past them, none. */
#define XSW_FD_SCAN_MAX		(1u << 16)

struct close_range_scan {
	__u32 tgid;
	__u32 first;
};

static long close_range_cb(__u32 i, struct close_range_scan *cs)
{
	close_fd(cs->tgid, (long)cs->first + i);
	return 0;
}

static __always_inline int close_range_enter(__u32 first, __u32 last, __u32 flags)
{
	struct close_range_scan cs = { .first = first };
	struct files_struct *files;
	struct fdtable *fdt;
	__u32 max_fds, n;

	cs.tgid = bpf_get_current_pid_tgid() >> 32;
	if ((flags & XSW_CLOSE_RANGE_CLOEXEC) || first > last ||
	    !bpf_map_lookup_elem(&kvm_procs, &cs.tgid))
		return 0;
	files = xsw_current()->files;
	fdt = files ? files->fdt : NULL;
	max_fds = fdt ? fdt->max_fds : 0;
	if (first >= max_fds)
		return 0;
	if (last >= max_fds)
		last = max_fds - 1;
	n = last - first + 1;
	bpf_loop(n < XSW_FD_SCAN_MAX ? n : XSW_FD_SCAN_MAX, close_range_cb, &cs, 0);
	return 0;
}

/*
 * dup2(@oldfd, @newfd) closes @newfd first, if open. @newfd then refers to
 * @oldfd's file, one fd more for its VM: counted first, so that a dup2()
 * between two fds of one VM does not take its count to 0. An @oldfd that
 * is no open file fails the call and closes nothing.
 */
static __always_inline int dup2_enter(long oldfd, long newfd)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct xsw_vm_state *vs;
	__u64 vm;

	if (oldfd == newfd || !bpf_map_lookup_elem(&kvm_procs, &tgid))
		return 0;
	if (!xsw_fd_file(xsw_current(), oldfd))
		return 0;
	vm = current_fd_vm(oldfd) & ~1ull;
	vs = vm ? bpf_map_lookup_elem(&vms, &vm) : NULL;
	if (vs && vs->tgid == tgid)
		__sync_fetch_and_add(&vs->fds, 1);
	close_fd(tgid, newfd);
	return 0;
}

/*
 * dup() and fcntl(F_DUPFD, F_DUPFD_CLOEXEC) give a KVM file one fd more:
 * counted at the syscall's exit, from the new fd (@newfd, the return
 * value), which names the same file. Uncounted, closing the original fd
 * took the VM's count to 0 and reported the VM destroyed while the
 * duplicate held it, and the duplicate's own close() later found no VM.
 */
static __always_inline int dup_exit(long newfd)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct xsw_vm_state *vs;
	__u64 vm;

	if (newfd < 0 || !bpf_map_lookup_elem(&kvm_procs, &tgid))
		return 0;
	vm = current_fd_vm(newfd) & ~1ull;
	vs = vm ? bpf_map_lookup_elem(&vms, &vm) : NULL;
	if (vs && vs->tgid == tgid)
		__sync_fetch_and_add(&vs->fds, 1);
	return 0;
}

/* --- syscall hooks -------------------------------------------------------- */

/*
 * Two ways into the same handlers; the loader loads one set (the other's
 * autoload is off).
 *
 * events (the default): the syscall trace events syscalls:sys_{enter,exit}_
 * {ioctl,arch_prctl} and sys_enter_close. The kernel runs a program only for
 * its own syscall, but through the perf syscall path (a perf record of the
 * arguments is built first): empty programs there cost KVM_RUN +1.5..3.4 %
 * on the PVM host here (paired rounds, two runs, 2026-11-30).
 *
 * raw: tp_btf on raw_syscalls sys_enter/sys_exit (BTF-typed since
 * a38d1107f937, v5.5, like kvm_entry), which the kernel runs for every
 * syscall of every task; a switch on the number sends ioctl, arch_prctl and
 * close on. Empty programs there cost KVM_RUN +0.7..1.1 %, but each syscall
 * of any process pays about 35 ns instead of 11 (getppid() 86 ns
 * untraced). docs/probe-tiers.md has the rest.
 */

/* arch/x86/include/asm/thread_info.h; unistd_64.h */
#define XSW_TS_COMPAT		0x0002
#define XSW_NR_IOCTL		16
#define XSW_NR_CLOSE		3
#define XSW_NR_ARCH_PRCTL	158
#define XSW_NR_DUP2		33
#define XSW_NR_DUP3		292
#define XSW_NR_CLOSE_RANGE	436
#define XSW_NR_DUP		32
#define XSW_NR_FCNTL		72
/* include/uapi/linux/fcntl.h, include/uapi/asm-generic/fcntl.h */
#define XSW_F_DUPFD		0
#define XSW_F_DUPFD_CLOEXEC	1030

SEC("tracepoint/syscalls/sys_enter_ioctl")
int xsw_ioctl_enter(struct trace_event_raw_sys_enter *ctx)
{
	return ioctl_enter((int)ctx->args[0], (__u32)ctx->args[1], ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_exit_ioctl")
int xsw_ioctl_exit(struct trace_event_raw_sys_exit *ctx)
{
	return ioctl_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_arch_prctl")
int xsw_prctl_enter(struct trace_event_raw_sys_enter *ctx)
{
	return prctl_enter((__u32)ctx->args[0], ctx->args[1]);
}

SEC("tracepoint/syscalls/sys_exit_arch_prctl")
int xsw_prctl_exit(struct trace_event_raw_sys_exit *ctx)
{
	return prctl_exit(ctx->ret);
}

/*
 * Every way a process's fd closes here: close() and, attached to their
 * events by the loader, close_range(), dup2() and dup3(). One program for
 * the four (the event's __syscall_nr tells them apart): each program would
 * carry its own copy of vm_teardown() for the verifier to check, about
 * 5 ms of start-up apiece here. The kernel refuses to attach a program
 * that reads past the smallest event's record (close's: one argument), so
 * the others' arguments come from the saved registers.
 */
SEC("tracepoint/syscalls/sys_enter_close")
int xsw_close_enter(struct trace_event_raw_sys_enter *ctx)
{
	struct pt_regs *regs;
	int nr = (int)ctx->id;

	if (nr == XSW_NR_CLOSE)
		return close_enter((int)ctx->args[0]);
	regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	switch (nr) {
	case XSW_NR_CLOSE_RANGE:
		return close_range_enter((__u32)regs->di, (__u32)regs->si, (__u32)regs->dx);
	case XSW_NR_DUP2:
	case XSW_NR_DUP3:
		return dup2_enter((int)regs->di, (int)regs->si);
	}
	return 0;
}

/*
 * The exits that add an fd: dup() and, attached to its event by the
 * loader, fcntl(). One program for both, as for the closes above; fcntl's
 * command comes from the saved registers (its exit event has only the
 * return value).
 */
SEC("tracepoint/syscalls/sys_exit_dup")
int xsw_dup_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *regs;

	if (ctx->ret < 0)
		return 0;
	if (ctx->id == XSW_NR_FCNTL) {
		regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
		if ((__u32)regs->si != XSW_F_DUPFD && (__u32)regs->si != XSW_F_DUPFD_CLOEXEC)
			return 0;
	} else if (ctx->id != XSW_NR_DUP) {
		return 0;
	}
	return dup_exit(ctx->ret);
}

/*
 * The syscall trace events skip 32-bit syscalls on x86 (their numbers are
 * ia32's; ARCH_TRACE_IGNORE_COMPAT_SYSCALLS): so do the raw hooks. x32
 * numbers carry __X32_SYSCALL_BIT and match none of the cases.
 */
static __always_inline bool compat_syscall(void)
{
	return xsw_load(xsw_current(), thread_info.status) & XSW_TS_COMPAT;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(xsw_raw_sys_enter, struct pt_regs *regs, long id)
{
	switch (id) {
	case XSW_NR_IOCTL:
		if (compat_syscall())
			return 0;
		return ioctl_enter((int)regs->di, (__u32)regs->si, regs->dx);
	case XSW_NR_ARCH_PRCTL:
		if (compat_syscall())
			return 0;
		return prctl_enter((__u32)regs->di, regs->si);
	case XSW_NR_CLOSE:
		if (compat_syscall())
			return 0;
		return close_enter((int)regs->di);
	case XSW_NR_CLOSE_RANGE:
		if (compat_syscall())
			return 0;
		return close_range_enter((__u32)regs->di, (__u32)regs->si, (__u32)regs->dx);
	case XSW_NR_DUP2:
	case XSW_NR_DUP3:
		if (compat_syscall())
			return 0;
		return dup2_enter((int)regs->di, (int)regs->si);
	}
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(xsw_raw_sys_exit, struct pt_regs *regs, long ret)
{
	/* ioctl and arch_prctl consume what their enter left; dup adds an fd. */
	switch (regs->orig_ax) {
	case XSW_NR_IOCTL:
		return ioctl_exit(ret);
	case XSW_NR_ARCH_PRCTL:
		return prctl_exit(ret);
	case XSW_NR_FCNTL:
		if ((__u32)regs->si != XSW_F_DUPFD && (__u32)regs->si != XSW_F_DUPFD_CLOEXEC)
			return 0;
		/* fall through */
	case XSW_NR_DUP:
		if (ret < 0 || compat_syscall())
			return 0;
		return dup_exit(ret);
	}
	return 0;
}

/* --- process exit, exec and fork ------------------------------------------ */

/*
 * What a process's fd table still holds of each VM it owns: exec and
 * process exit count it again, because fds go there in ways no close()
 * shows (see each). First every VM the process owns is set to no fds, then
 * the table is walked, one fd more per fd of a VM or one of its vCPUs.
 * The table is read up to fd 65535: a VM held only by higher fds counts as
 * held by none.
 */
static __always_inline void recount_vm_zero(__u64 vm, __u32 tgid)
{
	struct xsw_vm_state *vs = bpf_map_lookup_elem(&vms, &vm);

	if (vs && vs->tgid == tgid)
		vs->fds = 0;
}

/* The callbacks get the process's lists, copied from its kvm_procs entry. */
static long recount_zero_cb(__u32 i, struct proc_exit *pe)
{
	recount_vm_zero(pe->vm[i & (XSW_PROC_VMS - 1)], pe->tgid);
	return 0;
}

static long recount_zero_map_cb(struct bpf_map *map, __u64 *key, struct xsw_vm_state *st,
				struct proc_exit *pe)
{
	recount_vm_zero(*key, pe->tgid);
	return 0;
}

static long recount_fd_cb(__u32 fd, struct proc_exit *pe)
{
	__u64 vm = table_fd_vm(pe->files, fd) & ~1ull;
	struct xsw_vm_state *vs;

	if (!vm)
		return 0;
	vs = bpf_map_lookup_elem(&vms, &vm);
	if (vs && vs->tgid == pe->tgid)
		__sync_fetch_and_add(&vs->fds, 1);
	return 0;
}

static __always_inline void recount_vm_fds(struct proc_exit *pe, __u32 flags)
{
	struct files_struct *files;
	struct fdtable *fdt;
	__u64 owned = 0;
	__u32 nfds = 0;
	int i;

	/* Most VMMs closed their VMs before exiting: no walk of the table. */
#pragma unroll
	for (i = 0; i < XSW_PROC_VMS; i++)
		owned |= pe->vm[i];
	if (!owned && !(flags & XSW_PROC_VMS_MORE))
		return;
	bpf_loop(XSW_PROC_VMS, recount_zero_cb, pe, 0);
	if (flags & XSW_PROC_VMS_MORE)
		bpf_for_each_map_elem(&vms, recount_zero_map_cb, pe, 0);
	files = xsw_kptr(struct files_struct, pe->files);
	fdt = pe->files ? xsw_kptr(struct fdtable, xsw_load(files, fdt)) : NULL;
	if (fdt)
		nfds = xsw_load(fdt, max_fds);
	bpf_loop(nfds < XSW_FD_SCAN_MAX ? nfds : XSW_FD_SCAN_MAX, recount_fd_cb, pe, 0);
}

/* The process's lists, copied: its entry may go while they are walked. */
static __always_inline __u32 proc_lists(struct xsw_proc *proc, __u32 tgid, struct proc_exit *pe)
{
	pe->tgid = tgid;
	pe->word = 0;
	__builtin_memcpy(pe->vm, proc->vm, sizeof(pe->vm));
	__builtin_memcpy(pe->run_fd_bits, proc->run_fd_bits, sizeof(pe->run_fd_bits));
	return proc->flags;
}

/* Its run_fds entries: fd -> vCPU no longer holds for any of them. */
static __always_inline void proc_drop_run_fds(struct proc_exit *pe, __u32 flags)
{
	struct teardown td = { .tgid = pe->tgid };

	bpf_loop(XSW_PROC_FDS / 64, proc_exit_word_cb, pe, 0);
	if (flags & XSW_PROC_RUN_FDS_MORE)
		bpf_for_each_map_elem(&run_fds, run_fds_exit_cb, &td, 0);
}

/*
 * Process exit: every VM the process owns goes, with its vCPUs read while
 * the fd table that holds them is still there (before exit_files()), as at
 * their last close(). Which exiting task does it matters. The group's last
 * task is often not one that holds the table: since 6.13 KVM's NX huge
 * page recovery worker is a vhost task, a thread of the VMM (started at
 * the first KVM_RUN) with no fd table. When the VMM exits, the other
 * threads' exit_files() drop the VMs' last fds, and kvm_destroy_vm() waits
 * for the worker only until it is on its way out (vhost_task_fn() signals
 * its completion before do_exit()): the VMs may be freed before the
 * worker's sched_process_exit. That is where this tier used to read them.
 *
 * So the work is done once per process, by the first of: a task that
 * holds the leader's table (not a private copy made with
 * unshare(CLONE_FILES)) once the whole group is exiting (exit_group(), a
 * fatal signal); or the group's last task. The first holder, not the
 * table's last user (files->count 1), as this tier had it before: the last
 * users may pass the tracepoint at once, each seeing the other's reference,
 * and then none claimed and the worker, exiting last, found no table (5
 * VMM exits in 1,178 on this 2-CPU host with every CPU busy, see
 * docs/probe-tiers.md; a CI run failed on it). Once the group is exiting
 * no thread returns to user space: the table changes only by syscalls
 * other threads have in flight, whose exit hooks run before their own
 * do_exit(), and what those track again (a vCPU created, an fd run) is
 * claimed by the next holder that exits. Deleting the process's kvm_procs entry is the
 * claim, so two tasks exiting at once do not both report. The VMs the
 * table holds, counted from it, are read. A VM it does not hold lost its
 * fds where no hook sees it (io_uring's close, a run of the close program
 * the kernel skipped, an fd passed away) and may be freed: it is forgotten
 * as at an address KVM reuses (vm_forget(): its vCPUs' destroys carry no
 * fpstate). A task without a table that claims (the worker, last of a
 * group whose threads exited one by one, with exit() and not exit_group())
 * counts in the leader's table while a thread still holds it. Once none
 * does, all the VMs are forgotten unread.
 */
static __always_inline bool exec_releases_vm(__u64 vm);

/*
 * One VM of the process, after the recount: at exit, read if the table
 * holds it; at exec (see there), kept if the table holds it, else read if
 * the exec closed it. Otherwise forgotten unread.
 */
static __always_inline void vm_settle(__u64 vm, struct proc_exit *pe)
{
	struct xsw_vm_state *vs = bpf_map_lookup_elem(&vms, &vm);
	bool read;

	if (!vs || vs->tgid != pe->tgid)
		return;
	if (pe->at_exec) {
		if (vs->fds > 0)
			return;
		read = exec_releases_vm(vm);
	} else {
		read = pe->files && vs->fds > 0;
	}
	if (read)
		vm_teardown(vm);
	else
		vm_forget(vm);
}

static long settle_cb(__u32 i, struct proc_exit *pe)
{
	__u64 vm = pe->vm[i & (XSW_PROC_VMS - 1)];

	if (vm)
		vm_settle(vm, pe);
	return 0;
}

static long settle_map_cb(struct bpf_map *map, __u64 *key, struct xsw_vm_state *st,
			  struct proc_exit *pe)
{
	vm_settle(*key, pe);
	return 0;
}

/* include/linux/sched/signal.h */
#define XSW_SIGNAL_GROUP_EXIT	0x00000004

SEC("tracepoint/sched/sched_process_exit")
int xsw_process_exit(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct task_struct *task = xsw_current();
	struct files_struct *files = task->files, *leader_files;
	struct signal_struct *sig = task->signal;
	bool group_dead, holds_table;
	struct proc_exit pe = {};
	struct xsw_event *ev;
	struct xsw_proc *proc;
	__u32 flags;

	/* do_exit() decremented signal->live before this tracepoint. */
	group_dead = sig->live.counter == 0;
	leader_files = task->group_leader->files;
	holds_table = files && (!leader_files || leader_files == files);
	if (group_dead && follow_children && tgid != targ_tgid)
		bpf_map_delete_elem(&followed, &tgid);
	if (!group_dead && !(holds_table && (sig->flags & XSW_SIGNAL_GROUP_EXIT)))
		return 0;
	proc = bpf_map_lookup_elem(&kvm_procs, &tgid);
	if (!proc)
		return 0;
	flags = proc_lists(proc, tgid, &pe);
	if (bpf_map_delete_elem(&kvm_procs, &tgid))
		return 0;	/* another exiting task of the process claimed it */
	/*
	 * The table: ours, if it is the leader's (our own reference keeps it).
	 * A task without one (KVM's worker) reads the leader's while that is
	 * still set: a thread that holds it has yet to pass exit_files(), and
	 * the VMs' last fput() runs after that, as its task work. Each exiting
	 * task decrements signal->live before its tracepoint, so the worker
	 * may find the group dead while the table's last user has yet to pass
	 * exit_files(). Read as numbers: table_fd_vm() is a global function,
	 * it takes scalars.
	 */
	if (holds_table)
		bpf_probe_read_kernel(&pe.files, sizeof(pe.files), &task->files);
	else if (!files)
		bpf_probe_read_kernel(&pe.files, sizeof(pe.files), &task->group_leader->files);
	if (pe.files)
		recount_vm_fds(&pe, flags);
	bpf_loop(XSW_PROC_VMS, settle_cb, &pe, 0);
	if (flags & XSW_PROC_VMS_MORE)
		bpf_for_each_map_elem(&vms, settle_map_cb, &pe, 0);
	proc_drop_run_fds(&pe, flags);
	ev = ev_reserve(XSW_EV_PROCESS_EXIT, 0, -1, 0, 0);
	if (!ev)
		return 0;
	/*
	 * The process's status and name: this task may be KVM's worker.
	 * exit_group() and fatal signals set the group's code for every task.
	 */
	if (sig->flags & XSW_SIGNAL_GROUP_EXIT)
		ev->exit.exit_code = sig->group_exit_code;
	else
		ev->exit.exit_code = task->exit_code;
	bpf_probe_read_kernel_str(ev->comm, sizeof(ev->comm), task->group_leader->comm);
	bpf_ringbuf_submit(ev, submit_flags());
	return 0;
}

/*
 * exec: KVM makes every VM and vCPU fd close-on-exec, so a VMM that execs
 * usually holds none of them afterwards, and no close() was seen for any.
 * Left alone, the VMs stayed tracked (destroyed only at the process's
 * exit) and their addresses, which the new image's VMs and vCPUs often get
 * again, carried the old state (a first KVM_SET_CPUID2 counted as the
 * second). begin_new_exec() has closed those fds when this tracepoint
 * fires, but their last fput() is task work that runs on the way back to
 * user space, so the VMs and vCPUs are still allocated here (as at close()
 * and process exit, where this tier reads them too). After the recount,
 * the VMs left with no fd are torn down, as their last close() would; fds
 * the VMM kept on purpose (FD_CLOEXEC cleared) keep theirs: KVM refuses
 * their ioctls from the new mm, but they hold the VM. run_fds is a cache
 * of fd -> vCPU: dropped for the process, the next KVM_RUN walks its fd
 * again.
 *
 * A VM left with no fd is read only when one of its files waits in this
 * task's task_works for that last fput(), i.e. when the exec closed it.
 * Otherwise its fds went earlier, unseen (io_uring's IORING_OP_CLOSE):
 * it may be freed, and is reported gone unread (vm_forget()). Reading it
 * anyway found a freed vCPU's stale uabi_size and xfeatures.
 */
#define XSW_TASK_WORKS_MAX 4096

struct pending_fput {
	__u64 vm;
	__u64 next;		/* struct callback_head *, 0 at the end */
	__u32 found;
};

/*
 * Where struct file keeps the callback_head fput() queues: f_task_work
 * now, f_rcuhead before that (when the f_u union became anonymous), and
 * f_u.fu_rcuhead before that, in the kernels this tier's bpf_loop() use
 * admits (v5.17 on). The two renames came with reworks of struct file
 * (the later one for SLAB_TYPESAFE_BY_RCU files); their hashes are not
 * verified here. The flavors match the older layouts.
 */
struct file___xsw_rcuhead {
	struct callback_head f_rcuhead;
} __attribute__((preserve_access_index));

struct file___xsw_f_u {
	union {
		struct llist_node fu_llist;
		struct callback_head fu_rcuhead;
	} f_u;
} __attribute__((preserve_access_index));

static __always_inline __u64 file_task_work_offset(void)
{
	struct file___xsw_rcuhead *f1 = NULL;
	struct file___xsw_f_u *f2 = NULL;
	struct file *f0 = NULL;

	if (bpf_core_field_exists(f0->f_task_work))
		return bpf_core_field_offset(f0->f_task_work);
	if (bpf_core_field_exists(f1->f_rcuhead))
		return bpf_core_field_offset(f1->f_rcuhead);
	return bpf_core_field_offset(f2->f_u.fu_rcuhead);
}

/*
 * fput() queues a file's release on the task through file->f_task_work. Any
 * other task work sits in the same list, so a node is taken for a file only
 * if the struct around it has the f_op of a KVM VM or vCPU (learned from
 * files this tier classified): other nodes read as whatever precedes their
 * callback_head, which has no such f_op, and the loads are fault-safe.
 */
static long pending_fput_cb(__u32 i, struct pending_fput *pf)
{
	struct callback_head *node;
	struct file *file;
	__u64 fop, priv, vm = 0;

	if (!pf->next)
		return 1;
	node = xsw_kptr(struct callback_head, pf->next);
	file = xsw_kptr(struct file, pf->next - file_task_work_offset());
	fop = (__u64)xsw_load(file, f_op);
	if (fop && (fop == xsw_kvm_fops[XSW_FILE_VM] || fop == xsw_kvm_fops[XSW_FILE_VCPU])) {
		priv = (__u64)file_private(file);
		if (fop == xsw_kvm_fops[XSW_FILE_VM])
			vm = priv;
		else if (priv)
			vm = (__u64)xsw_load(xsw_kptr(struct kvm_vcpu, priv), kvm);
		if (vm && vm == pf->vm) {
			pf->found = 1;
			return 1;
		}
	}
	pf->next = (__u64)xsw_load(node, next);
	return 0;
}

static __always_inline bool exec_releases_vm(__u64 vm)
{
	struct task_struct *task = xsw_current();
	struct pending_fput pf = { .vm = vm };

	pf.next = (__u64)xsw_load(task, task_works);
	bpf_loop(XSW_TASK_WORKS_MAX, pending_fput_cb, &pf, 0);
	return pf.found;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(xsw_process_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct xsw_proc *proc;
	struct proc_exit pe = {};
	__u32 flags;

	proc = bpf_map_lookup_elem(&kvm_procs, &tgid);
	if (!proc)
		return 0;
	flags = proc_lists(proc, tgid, &pe);
	bpf_probe_read_kernel(&pe.files, sizeof(pe.files), &xsw_current()->files);
	pe.at_exec = 1;
	recount_vm_fds(&pe, flags);
	bpf_loop(XSW_PROC_VMS, settle_cb, &pe, 0);
	if (flags & XSW_PROC_VMS_MORE)
		bpf_for_each_map_elem(&vms, settle_map_cb, &pe, 0);
	proc_drop_run_fds(&pe, flags);
	proc = bpf_map_lookup_elem(&kvm_procs, &tgid);
	if (proc) {
		__builtin_memset(proc->run_fd_bits, 0, sizeof(proc->run_fd_bits));
		__sync_fetch_and_and(&proc->flags, ~XSW_PROC_RUN_FDS_MORE);
	}
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(xsw_process_fork, struct task_struct *parent_arg, struct task_struct *child_arg)
{
	struct task_struct *parent, *child;
	__u32 ptgid, ctgid;
	__u8 one = 1;

	if (!targ_tgid || !follow_children)
		return 0;
	parent = xsw_untrusted(struct task_struct, parent_arg);
	child = xsw_untrusted(struct task_struct, child_arg);
	ctgid = child->tgid;
	if (child->pid != ctgid)	/* a new thread, not a new process */
		return 0;
	ptgid = parent->tgid;
	if (ptgid != targ_tgid && !bpf_map_lookup_elem(&followed, &ptgid))
		return 0;
	bpf_map_update_elem(&followed, &ctgid, &one, BPF_ANY);
	return 0;
}
