/* SPDX-License-Identifier: GPL-2.0 */
/*
 * CO-RE readers shared by the probe tiers: the task's struct fpu and its
 * guest permission, a guest fpstate, a vCPU's guest FPU container, an fd's
 * struct file and what kind of KVM file it is, and leaf 0xD of a CPUID
 * table. Include after vmlinux.h, bpf_helpers.h, bpf_core_read.h and
 * xsw_event.h.
 *
 * Every place that depends on the kernel version is handled by CO-RE (a
 * field-existence or type-size relocation resolved at load time against
 * the running kernel's BTF), and says which kernel change it bridges.
 */
#ifndef XSW_CORE_H
#define XSW_CORE_H

/* include/uapi/linux/kvm.h */
#define XSW_KVMIO			0xAE
#define XSW_KVM_CREATE_VM		0x0000AE01u	/* _IO(KVMIO, 0x01) */
#define XSW_KVM_GET_SUPPORTED_CPUID	0xC008AE05u	/* _IOWR(KVMIO, 0x05, struct kvm_cpuid2) */
#define XSW_KVM_CREATE_VCPU		0x0000AE41u	/* _IO(KVMIO, 0x41) */
#define XSW_KVM_RUN			0x0000AE80u	/* _IO(KVMIO, 0x80) */
#define XSW_KVM_SET_CPUID2		0x4008AE90u	/* _IOW(KVMIO, 0x90, struct kvm_cpuid2) */
#define XSW_KVM_MAX_CPUID_ENTRIES	256		/* arch/x86/include/asm/kvm_host.h */

/* arch/x86/include/uapi/asm/prctl.h */
#define XSW_ARCH_GET_XCOMP_PERM		0x1022
#define XSW_ARCH_REQ_XCOMP_PERM		0x1023
#define XSW_ARCH_GET_XCOMP_GUEST_PERM	0x1024
#define XSW_ARCH_REQ_XCOMP_GUEST_PERM	0x1025

/* arch/x86/include/asm/fpu/types.h: bit 63 of fpu_state_perm::__state_perm */
#define XSW_FPU_GUEST_PERM_LOCKED	(1ULL << 63)

/* include/uapi/linux/magic.h: the anon_inode_getfd() files' filesystem */
#define XSW_ANON_INODE_FS_MAGIC		0x09041934

/* /dev/kvm is misc device KVM_MINOR (232); kernel dev_t is major << 20 | minor */
#define XSW_MISC_MAJOR			10
#define XSW_KVM_MINOR			232
#define XSW_KDEV(ma, mi)		(((ma) << 20) | (mi))

enum xsw_kvm_file {
	XSW_FILE_OTHER = 0,
	XSW_FILE_SYSTEM,	/* /dev/kvm */
	XSW_FILE_VM,		/* anon inode "kvm-vm": private_data is struct kvm * */
	XSW_FILE_VCPU,		/* anon inode "kvm-vcpu:N": private_data is struct kvm_vcpu * */
};

/*
 * Loads through kernel pointers. bpf_rdonly_cast() (a35b9af4ec2c "bpf: Add
 * a kfunc for generic type cast", v6.2) gives an address held as a number
 * (a file's private_data, an fd table slot) a read-only BTF type: a load
 * through it is a plain load that the JIT guards with an exception table
 * entry (a fault reads 0), and the cast itself becomes a register move. A
 * bpf_probe_read_kernel() is a helper call instead, about 35 ns each on the
 * CI host (a PVM guest), and they were most of what the syscall tier cost
 * per KVM ioctl. The loader sets xsw_direct_loads where the kernel takes
 * the kfunc; elsewhere the weak extern stays unresolved and the verifier
 * drops its calls as dead code, which kernels allow since a5d827275241
 * ("bpf: Be conservative while processing invalid kfunc calls", v5.16).
 * The probe-read paths below are what such kernels run.
 */
extern void *bpf_rdonly_cast(const void *obj__ign, __u32 btf_id__k) __ksym __weak;

const volatile bool xsw_direct_loads = false;

/* @p (a kernel address) as a @type pointer that may be loaded through when direct. */
#define xsw_kptr(type, p)							\
	(xsw_direct_loads ?							\
	 (type *)bpf_rdonly_cast((const void *)(p), bpf_core_type_id_kernel(type)) : \
	 (type *)(p))

/*
 * Walking a pointer the verifier trusts (bpf_get_current_task_btf(), a
 * tp_btf argument) makes it look the field up in allow-lists kept as BTF
 * types, "<type>__safe_trusted", "__safe_rcu" and their "_or_null"
 * forms (btf_nested_type_is_trusted(), since 57539b1c0ac2 "bpf: Enable
 * annotating trusted nested pointers", v6.3): up to four searches of the
 * kernel's BTF by name, a linear scan each, at every load the verifier
 * visits. They were a quarter of this collector's start-up on the CI
 * host. Nothing here needs the trust (helpers that take a task are given
 * bpf_get_current_task_btf() itself), so fields are loaded through the
 * pointer cast read-only, which the verifier does not look up.
 */
#define xsw_untrusted(type, p) xsw_kptr(type, p)

static __always_inline struct task_struct *xsw_current(void)
{
	return xsw_untrusted(struct task_struct, bpf_get_current_task_btf());
}

/* @p->@path (a path of one pointer hop: a.b.c): a load, or a probe read. */
#define xsw_load(p, path) (xsw_direct_loads ? (p)->path : BPF_CORE_READ(p, path))

/*
 * Up to v6.15 the task's FPU was embedded at the end of the task:
 * task->thread.fpu. "x86/fpu: Make task_struct::thread constant size"
 * (Ingo Molnar, April 2025, tip x86/merge for the v6.16 merge window; its
 * tip hash changed across rebases, so none is quoted here) moved it right
 * after struct task_struct: x86_task_fpu(task) == (void *)task +
 * sizeof(*task). The ___pre_x86_task_fpu flavor matches the old layout;
 * bpf_core_field_exists() picks the layout of the running kernel, and
 * bpf_core_type_size() gives the running kernel's sizeof(struct task_struct).
 */
struct thread_struct___pre_x86_task_fpu {
	struct fpu fpu;
} __attribute__((preserve_access_index));

struct task_struct___pre_x86_task_fpu {
	struct thread_struct___pre_x86_task_fpu thread;
} __attribute__((preserve_access_index));

static __always_inline struct fpu *xsw_task_fpu(struct task_struct *task)
{
	struct task_struct___pre_x86_task_fpu *old = (void *)task;

	if (bpf_core_field_exists(old->thread.fpu))
		return (struct fpu *)((char *)task +
				      bpf_core_field_offset(old->thread.fpu));
	return xsw_kptr(struct fpu, (char *)task + bpf_core_type_size(struct task_struct));
}

/*
 * Reading a few neighbouring fields: one bpf_probe_read_kernel() of the span
 * they share, each field then taken from the copy at its CO-RE offset.
 * A probe read costs about 40 ns on the CI host (a PVM guest); one per
 * field made the reads most of the syscall tier's cost per KVM ioctl.
 * The offsets are load-time constants, so the verifier sees fixed stack
 * offsets; a field that falls outside the span on the running kernel gets
 * a probe read of its own (a bitfield reads as 0).
 */
#define XSW_SPAN_MAX 48

#define xsw_span_base(s, first) bpf_core_field_offset(s->first)

#define xsw_span_get(buf, base, s, field) ({					\
	__u32 __off = bpf_core_field_offset(s->field) - (base);			\
	__u64 __v = 0;								\
										\
	if (__off + sizeof(s->field) <= XSW_SPAN_MAX)				\
		__builtin_memcpy(&__v, (buf) + __off, sizeof(s->field));	\
	else	/* another kernel's layout: a read of its own */		\
		bpf_core_read(&__v, sizeof(s->field), &s->field);		\
	(typeof(s->field))__v;							\
})

/* Bitfields the way BPF_CORE_READ_BITFIELD_PROBED() does (little endian). */
#define xsw_span_bitfield(buf, base, s, field) ({				\
	__u32 __off = __builtin_preserve_field_info(s->field, BPF_FIELD_BYTE_OFFSET) - (base);		\
	__u32 __sz = __builtin_preserve_field_info(s->field, BPF_FIELD_BYTE_SIZE);			\
	__u64 __v = 0;								\
										\
	if (__off + 8 <= XSW_SPAN_MAX) {					\
		switch (__sz) {							\
		case 1: __builtin_memcpy(&__v, (buf) + __off, 1); break;	\
		case 2: __builtin_memcpy(&__v, (buf) + __off, 2); break;	\
		case 4: __builtin_memcpy(&__v, (buf) + __off, 4); break;	\
		default: __builtin_memcpy(&__v, (buf) + __off, 8); break;	\
		}								\
		__v <<= __builtin_preserve_field_info(s->field, BPF_FIELD_LSHIFT_U64);			\
		__v >>= __builtin_preserve_field_info(s->field, BPF_FIELD_RSHIFT_U64);			\
	}									\
	__v;									\
})

/* A struct fpu_state_perm: the permitted features, lock bit, sizes. */
static __always_inline void xsw_read_perm_at(struct fpu_state_perm *perm, struct xsw_perm *out)
{
	__u8 buf[XSW_SPAN_MAX];
	__u32 base;
	__u64 mask;

	if (!perm)
		return;
	if (xsw_direct_loads) {
		mask = perm->__state_perm;
		out->size = perm->__state_size;
		out->user_size = perm->__user_state_size;
		goto decode;
	}
	base = xsw_span_base(perm, __state_perm);
	if (bpf_probe_read_kernel(buf, sizeof(buf), (void *)perm + base))
		return;
	mask = xsw_span_get(buf, base, perm, __state_perm);
	out->size = xsw_span_get(buf, base, perm, __state_size);
	out->user_size = xsw_span_get(buf, base, perm, __user_state_size);
decode:
	out->perm = mask & ~XSW_FPU_GUEST_PERM_LOCKED;
	out->locked = !!(mask & XSW_FPU_GUEST_PERM_LOCKED);
	out->valid = 1;
}

/*
 * The process's guest (@guest) or host permission, from the thread-group
 * leader's struct fpu, where fpu_xstate_prctl() and fpu_lock_guest_permissions()
 * keep it.
 */
static __always_inline void xsw_read_perm(struct task_struct *task, bool guest,
					  struct xsw_perm *out)
{
	struct task_struct *leader = task->group_leader;	/* @task: a BTF pointer */
	struct fpu *fpu;

	if (!leader)
		return;
	fpu = xsw_task_fpu(leader);
	xsw_read_perm_at(guest ? &fpu->guest_perm : &fpu->perm, out);
}

/*
 * Reserve a zeroed event on @ring, xsw_event_bytes(@type) long (a
 * constant once inlined: the verifier then rejects a write past the
 * payload of @type), and fill its common header. NULL when the ring is
 * full: the caller counts that, each tier where its loader reads it.
 */
static __always_inline struct xsw_event *xsw_event_reserve(void *ring, __u32 source, __u32 type,
							   __u64 vm, __s32 vcpu_id, __s32 ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 bytes = xsw_event_bytes(type);
	struct xsw_event *ev;

	ev = bpf_ringbuf_reserve(ring, bytes, 0);
	if (!ev)
		return NULL;
	__builtin_memset(ev, 0, bytes);
	ev->ts_ns = bpf_ktime_get_ns();
	ev->type = type;
	ev->source = source;
	ev->pid = pid_tgid >> 32;
	ev->tid = (__u32)pid_tgid;
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	ev->vm = vm;
	ev->vcpu_id = vcpu_id;
	ev->ret = ret;
	return ev;
}

/*
 * Wake the collector only once a batch is waiting; every tier's loader sets
 * wakeup_bytes and drains its ring on a short timer (XSW_DRAIN_MS), so an
 * event submitted without a wakeup waits at most that long. The kernel's
 * default instead wakes the consumer whenever it has caught up, which at
 * a VMM's pace is every event: an irq_work self-IPI (an APIC write, which
 * traps under a hypervisor) and a wakeup of the collector per record.
 * That was most of the syscall tier's vCPU-creation overhead on the PVM
 * host (freezing the consumer took it from +50..100 % to +10..25 %); the
 * fentry and tracepoint tiers kept the default until 2026-11-30: in the
 * QEMU guest the fentry tier's vCPU creation then cost +300 %, +26 % with
 * this (docs/probe-tiers.md). 0 keeps the default.
 */
const volatile __u64 wakeup_bytes = 0;

/*
 * Wake the collector when a record takes the unread data across the mark,
 * and again every XSW_WAKE_EVERY bytes while it stays above: one wakeup
 * per record above the mark (the first version) made each submit raise an
 * irq_work self-IPI while the collector, woken once, was still draining on
 * another CPU (13 % of sys_exit_ioctl's samples in a KVM_CREATE_VCPU burst
 * on the PVM host). The repeats cover a crossing that concurrent producers
 * stepped over: with the default 1 MiB ring the mark is 256 KiB and the
 * ring holds 1 MiB, so five more chances come before it is full; every 64
 * records instead cost +55 ns per KVM_CREATE_VCPU in a burst. The loader's
 * drain timer covers the rest. Records are at most XSW_RECORD_BYTES
 * (xsw_event_bytes()), so one record cannot step over the window it has
 * to land in.
 */
#define XSW_RECORD_BYTES ((sizeof(struct xsw_event) + BPF_RINGBUF_HDR_SZ + 7) & ~7ul)
#define XSW_WAKE_EVERY (512 * XSW_RECORD_BYTES)

/* The flags for bpf_ringbuf_submit() of a record on @ring. */
static __always_inline __u64 xsw_submit_flags(void *ring)
{
	__u64 avail;

	if (!wakeup_bytes)
		return 0;
	avail = bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA);
	if (avail >= wakeup_bytes && (avail - wakeup_bytes) % XSW_WAKE_EVERY < XSW_RECORD_BYTES)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

/* The header of struct fpstate: size .. in_use, before the 64-aligned regs. */
static __always_inline void xsw_read_fpstate(struct fpstate *fps, struct xsw_fpstate *out)
{
	__u8 buf[XSW_SPAN_MAX];
	__u32 base;

	if (!fps)
		return;
	if (xsw_direct_loads) {
		out->size = fps->size;
		out->user_size = fps->user_size;
		out->xfeatures = fps->xfeatures;
		out->user_xfeatures = fps->user_xfeatures;
		out->xfd = fps->xfd;
		out->is_guest = BPF_CORE_READ_BITFIELD(fps, is_guest);
		out->in_use = BPF_CORE_READ_BITFIELD(fps, in_use);
		out->valid = 1;
		return;
	}
	base = xsw_span_base(fps, size);
	if (bpf_probe_read_kernel(buf, sizeof(buf), (void *)fps + base))
		return;
	out->size = xsw_span_get(buf, base, fps, size);
	out->user_size = xsw_span_get(buf, base, fps, user_size);
	out->xfeatures = xsw_span_get(buf, base, fps, xfeatures);
	out->user_xfeatures = xsw_span_get(buf, base, fps, user_xfeatures);
	out->xfd = xsw_span_get(buf, base, fps, xfd);
	out->is_guest = xsw_span_bitfield(buf, base, fps, is_guest);
	out->in_use = xsw_span_bitfield(buf, base, fps, in_use);
	out->valid = 1;
}

/*
 * struct fpu_guest had "u64 perm" (the guest's permitted xfeatures, copied
 * from the process's guest_perm at vCPU creation) until "x86/fpu: Drop @perm
 * from guest pseudo FPU container" (Chao Gao, tip x86/fpu 32d5fa804dc9,
 * merged for v6.16) removed it. 0 where the running kernel lacks it.
 */
struct fpu_guest___with_perm {
	__u64 perm;
} __attribute__((preserve_access_index));

/* vcpu_create / perm_sync / vcpu_destroy payload (not guest_perm: the caller's task). */
static __always_inline void xsw_read_vcpu_fpu(struct kvm_vcpu *vcpu, struct xsw_ev_vcpu *out)
{
	struct fpu_guest *gfpu = &vcpu->arch.guest_fpu;
	struct fpu_guest___with_perm *gfpu_perm = (void *)gfpu;
	__u8 buf[XSW_SPAN_MAX];
	__u32 base = xsw_span_base(gfpu, xfeatures);

	if (xsw_direct_loads) {
		xsw_read_fpstate(gfpu->fpstate, &out->fps);
		out->fpu_guest_xfeatures = gfpu->xfeatures;
		out->uabi_size = gfpu->uabi_size;
		if (bpf_core_field_exists(gfpu_perm->perm))
			out->fpu_guest_perm = gfpu_perm->perm;
		return;
	}
	/* struct fpu_guest: xfeatures, [perm,] xfd_err, uabi_size, fpstate */
	if (bpf_probe_read_kernel(buf, sizeof(buf), (void *)gfpu + base))
		return;
	xsw_read_fpstate(xsw_span_get(buf, base, gfpu, fpstate), &out->fps);
	out->fpu_guest_xfeatures = xsw_span_get(buf, base, gfpu, xfeatures);
	out->uabi_size = xsw_span_get(buf, base, gfpu, uabi_size);
	if (bpf_core_field_exists(gfpu_perm->perm))
		out->fpu_guest_perm = xsw_span_get(buf, base, gfpu_perm, perm);
}

/*
 * vcpu->arch.guest_supported_xss is absent from 6.12 (KVM checked IA32_XSS
 * writes against kvm_caps.supported_xss); "KVM: x86: Add guest_supported_xss
 * placeholder" (TDX vCPU series, 2025; hash not verified here) added it.
 * 0 where the running kernel lacks it.
 */
struct kvm_vcpu_arch___xsw_core {
	__u64 guest_supported_xss;
} __attribute__((preserve_access_index));

static __always_inline __u64 xsw_vcpu_supported_xss(struct kvm_vcpu *vcpu)
{
	struct kvm_vcpu_arch___xsw_core *arch = (void *)&vcpu->arch;

	if (!bpf_core_field_exists(arch->guest_supported_xss))
		return 0;
	if (xsw_direct_loads)
		return arch->guest_supported_xss;
	return BPF_CORE_READ(arch, guest_supported_xss);
}

/*
 * fd -> struct file of @task (NULL when out of range or not open). @task
 * comes from xsw_current(), a BTF pointer, so the task -> files -> fdt
 * walk is plain loads; only the slot of the fd array needs a probe read (a
 * struct file ** member has no BTF type for the verifier). The file comes
 * back as a pointer to load through when xsw_direct_loads is set.
 */
static __always_inline struct file *xsw_fd_file(struct task_struct *task, long fd)
{
	struct files_struct *files = task->files;
	struct file *file = NULL;
	struct fdtable *fdt;

	if (!files || fd < 0)
		return NULL;
	fdt = files->fdt;
	if (!fdt || (unsigned long)fd >= fdt->max_fds)
		return NULL;
	bpf_probe_read_kernel(&file, sizeof(file), &fdt->fd[fd]);
	return file ? xsw_kptr(struct file, file) : NULL;
}

/*
 * fd -> struct file in the fd table at @files_addr, which need not be the
 * current task's (process exit reads the thread-group leader's from a
 * task that has none). Each hop is a load through a read-only cast, or a
 * probe read where the kfunc is missing.
 */
static __always_inline struct file *xsw_table_fd_file(__u64 files_addr, long fd)
{
	struct files_struct *files = xsw_kptr(struct files_struct, files_addr);
	struct file *file = NULL;
	struct fdtable *fdt;

	if (!files_addr || fd < 0)
		return NULL;
	fdt = xsw_kptr(struct fdtable, xsw_load(files, fdt));
	if (!fdt || (unsigned long)fd >= xsw_load(fdt, max_fds))
		return NULL;
	bpf_probe_read_kernel(&file, sizeof(file), (struct file **)xsw_load(fdt, fd) + fd);
	return file ? xsw_kptr(struct file, file) : NULL;
}

/*
 * Each kind's struct file_operations, learned from the first file of that
 * kind the name check below recognised: after that a check is one f_op
 * load, where the name took three reads. A file whose f_op matches none
 * still gets the name check, so tables that moved (kvm.ko reloaded) are
 * learned again, and KVM's other anon files (stats, devices) stay OTHER.
 * The name counts only on an anonymous inode: a file on disk named
 * "kvm-vm" must not teach its filesystem's f_op.
 */
__u64 xsw_kvm_fops[4];

/*
 * Which KVM object @file is. VM and vCPU fds are anonymous inodes named by
 * kvm_dev_ioctl_create_vm() ("kvm-vm") and create_vcpu_fd() ("kvm-vcpu:%d");
 * /dev/kvm is recognised by its device number, not its name.
 */
static __always_inline enum xsw_kvm_file xsw_kvm_file_kind(struct file *file)
{
	enum xsw_kvm_file kind = XSW_FILE_OTHER;
	const unsigned char *name;
	char buf[10] = {};
	__u64 fop, magic;
	__u32 rdev;

	if (!file)
		return XSW_FILE_OTHER;
	fop = xsw_direct_loads ? (__u64)file->f_op : (__u64)BPF_CORE_READ(file, f_op);
	if (fop) {
		if (fop == xsw_kvm_fops[XSW_FILE_VCPU])
			return XSW_FILE_VCPU;
		if (fop == xsw_kvm_fops[XSW_FILE_VM])
			return XSW_FILE_VM;
		if (fop == xsw_kvm_fops[XSW_FILE_SYSTEM])
			return XSW_FILE_SYSTEM;
	}
	name = xsw_direct_loads ? file->f_path.dentry->d_name.name :
				  BPF_CORE_READ(file, f_path.dentry, d_name.name);
	if (bpf_probe_read_kernel_str(buf, sizeof(buf), name) < 0)
		return XSW_FILE_OTHER;
	if (buf[0] == 'k' && buf[1] == 'v' && buf[2] == 'm' && buf[3] == '-') {
		if (buf[4] == 'v' && buf[5] == 'm' && buf[6] == '\0')
			kind = XSW_FILE_VM;
		else if (buf[4] == 'v' && buf[5] == 'c' && buf[6] == 'p' && buf[7] == 'u' &&
			 buf[8] == ':')
			kind = XSW_FILE_VCPU;
		magic = xsw_direct_loads ? file->f_inode->i_sb->s_magic :
					   BPF_CORE_READ(file, f_inode, i_sb, s_magic);
		if (magic != XSW_ANON_INODE_FS_MAGIC)
			kind = XSW_FILE_OTHER;
	} else {
		rdev = xsw_direct_loads ? file->f_inode->i_rdev :
					  BPF_CORE_READ(file, f_inode, i_rdev);
		if (rdev == XSW_KDEV(XSW_MISC_MAJOR, XSW_KVM_MINOR))
			kind = XSW_FILE_SYSTEM;
	}
	if (kind != XSW_FILE_OTHER && fop)
		xsw_kvm_fops[kind & 3] = fop;
	return kind;
}

/* Leaf 0xD.0, 0xD.1 and 7.0 EDX of a CPUID table, entry by entry. */
static __always_inline void xsw_cpuid_note(struct xsw_cpuid_xsave *c, __u32 function,
					   __u32 index, __u32 eax, __u32 ebx, __u32 ecx,
					   __u32 edx)
{
	if (function == 0xd && index == 0) {
		c->xcr0 = ((__u64)edx << 32) | eax;
		c->size_std = ebx;
		c->size_max = ecx;
		c->has_leaf_d = 1;
	} else if (function == 0xd && index == 1) {
		c->xss = ((__u64)edx << 32) | ecx;
		c->size_compacted = ebx;
	} else if (function == 7 && index == 0) {
		c->leaf7_edx = edx;
	}
}

#endif /* XSW_CORE_H */
