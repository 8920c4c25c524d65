/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The event schema: one binary layout shared by the BPF probes (which fill
 * it in a ring buffer), the lifecycle engine, the checks and the sinks, and
 * its JSON-lines form (xsw_event_json.h). Fixed-width fields only, no
 * pointers: BPF and user space must agree on every offset.
 *
 * Identity of an event: pid/tgid/comm of the task, an opaque @vm id (the
 * kernel's struct kvm address in the live probes; any stable number in
 * replay and model traces) and the vCPU id (-1 when not about a vCPU).
 * Sizes are bytes, masks are xfeature bitmaps (XCR0 | IA32_XSS layout).
 */
#ifndef XSW_EVENT_H
#define XSW_EVENT_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define XSW_SCHEMA_VERSION 1

enum xsw_event_type {
	XSW_EV_NONE = 0,
	XSW_EV_PERM_REQUEST,	/* arch_prctl(ARCH_{REQ,GET}_XCOMP_{,GUEST_}PERM) */
	XSW_EV_SUPPORTED_CPUID,	/* KVM_GET_SUPPORTED_CPUID read by the VMM */
	XSW_EV_VM_CREATE,	/* KVM_CREATE_VM */
	XSW_EV_VCPU_CREATE,	/* KVM_CREATE_VCPU (guest fpstate allocated) */
	XSW_EV_PERM_SYNC,	/* guest FPU took the process's guest permission */
	XSW_EV_SET_CPUID,	/* KVM_SET_CPUID2 (success or failure) */
	XSW_EV_FPSTATE_REALLOC,	/* fpstate_realloc(): dynamic feature enabled */
	XSW_EV_FIRST_RUN,	/* first KVM_RUN of a vCPU */
	XSW_EV_XCR0_CHANGE,	/* guest xcr0 or fpstate changed since last entry */
	XSW_EV_VCPU_DESTROY,
	XSW_EV_VM_DESTROY,
	XSW_EV_PROCESS_EXIT,
	XSW_EV_LOST,		/* the probes dropped (or skipped) @lost.count events */
	XSW_EV_VIOLATION,	/* an invariant failed (made by the checks) */
	XSW_EV_LINT,		/* a lint fired (made by the checks) */
	XSW_EV_MAX,
};

/* Where an event came from. */
enum xsw_source {
	XSW_SRC_UNKNOWN = 0,
	XSW_SRC_TRACEPOINT,	/* this project's kernel tracepoints */
	XSW_SRC_FENTRY,		/* fentry/fexit on KVM/FPU functions */
	XSW_SRC_SYSCALL,	/* syscall tracepoints + tp_btf/kvm_entry */
	XSW_SRC_REPLAY,
	XSW_SRC_MODEL,		/* the pKVM scenario model */
	XSW_SRC_CHECK,		/* the invariant checks */
};

/* A guest fpstate as the kernel holds it (struct fpstate). */
struct xsw_fpstate {
	__u32 size;		/* fpstate->size: kernel buffer (compacted if XSAVES/C) */
	__u32 user_size;	/* fpstate->user_size: uABI (standard format) */
	__u64 xfeatures;	/* fpstate->xfeatures */
	__u64 user_xfeatures;	/* fpstate->user_xfeatures */
	__u64 xfd;		/* fpstate->xfd */
	__u8 is_guest;
	__u8 in_use;
	__u8 valid;		/* 0: the probe could not read it */
	__u8 pad[5];
};

/* A process's guest (or host) permission (struct fpu_state_perm). */
struct xsw_perm {
	__u64 perm;		/* __state_perm */
	__u32 size;		/* __state_size (kernel buffer) */
	__u32 user_size;	/* __user_state_size */
	__u8 locked;		/* FPU_GUEST_PERM_LOCKED set */
	__u8 valid;
	__u8 pad[6];
};

/* What a CPUID table (KVM_GET_SUPPORTED_CPUID or KVM_SET_CPUID2) says in leaf 0xD. */
struct xsw_cpuid_xsave {
	__u64 xcr0;		/* 0xD.0 EDX:EAX */
	__u64 xss;		/* 0xD.1 EDX:ECX */
	__u32 size_std;		/* 0xD.0 EBX: size for the xcr0 it enables */
	__u32 size_max;		/* 0xD.0 ECX: size for all of its xcr0 */
	__u32 size_compacted;	/* 0xD.1 EBX */
	__u32 leaf7_edx;	/* 7.0 EDX (AMX-TILE/BF16/INT8 bits 24, 22, 25) */
	__u8 has_leaf_d;	/* 0: the table had no leaf 0xD */
	__u8 pad[7];
};

struct xsw_ev_perm_request {
	__u32 option;		/* ARCH_REQ_XCOMP_GUEST_PERM (0x1025) etc. */
	__u8 guest;		/* guest (not host) permission */
	__u8 request;		/* REQ (1) or GET (0) */
	__u8 pad[2];
	__u64 arg;		/* REQ: the feature number asked for */
	struct xsw_perm before;
	struct xsw_perm after;
};

struct xsw_ev_supported_cpuid {
	__u32 nent;
	__u32 system;		/* 1: on /dev/kvm, 0: on a VM fd */
	struct xsw_cpuid_xsave cpuid;
	struct xsw_perm guest_perm;	/* the process's guest permission at the time */
};

struct xsw_ev_vm_create {
	__u32 type;		/* KVM_CREATE_VM machine type */
	__u32 pad;
};

struct xsw_ev_vcpu {		/* vcpu_create, perm_sync, vcpu_destroy */
	struct xsw_fpstate fps;
	struct xsw_perm guest_perm;	/* process permission (fpu->guest_perm) */
	__u64 fpu_guest_perm;		/* fpu_guest.perm (0 where the kernel lacks it) */
	__u64 fpu_guest_xfeatures;	/* fpu_guest.xfeatures */
	__u32 uabi_size;		/* fpu_guest.uabi_size */
	__u8 locked_now;		/* perm_sync: this call locked the permission */
	/*
	 * syscall tier, vcpu_create: the record also stands for the perm_sync
	 * of the same call (same payload, locked_now set); the loader splits
	 * it in two before anyone sees it. 0 in every delivered event.
	 */
	__u8 perm_sync_follows;
	__u8 pad[2];
};

struct xsw_ev_set_cpuid {
	__u32 nent;
	__u32 generation;	/* 1 for the first KVM_SET_CPUID2 of a vCPU */
	struct xsw_cpuid_xsave cpuid;	/* what the VMM installed */
	__u64 guest_supported_xcr0;	/* vcpu->arch.guest_supported_xcr0 after */
	__u64 guest_supported_xss;
	struct xsw_perm guest_perm;
	struct xsw_fpstate fps;		/* after enforcement */
	__u32 required_compacted;	/* kernel's xstate_required_size(), tracepoint tier */
	__u32 required_std;		/* 0 when the source cannot know */
	__u32 hyp_buffer_size;		/* I5: hypervisor-side buffer (model), 0 if none */
	__u32 pad;
	__u64 hyp_xcr0;			/* I5: xcr0 the hypervisor enforced, 0 if none */
};

struct xsw_ev_realloc {
	__u64 xfeatures_added;
	__u32 old_size;
	__u32 new_size;
	__u32 user_size;
	__u8 guest;
	__u8 in_use;
	__u8 pad[2];
	__u64 xfeatures;	/* of the new fpstate */
	__u64 user_xfeatures;
};

struct xsw_ev_run {		/* first_run, xcr0_change */
	__u64 guest_xcr0;		/* vcpu->arch.xcr0 */
	__u64 guest_supported_xcr0;
	struct xsw_fpstate fps;
};

struct xsw_ev_exit {
	__s32 exit_code;
	__u32 pad;
};

struct xsw_ev_lost {
	__u64 count;
	/*
	 * 0: records the ring buffer had no room for. 1: program runs the
	 * kernel skipped (its recursion guard), each of which may have
	 * carried an event.
	 */
	__u8 skipped;
	__u8 pad[7];
};

#define XSW_FINDING_ID_LEN 16
#define XSW_FINDING_TEXT_LEN 160

struct xsw_ev_finding {		/* violation, lint */
	char id[XSW_FINDING_ID_LEN];	/* "I2", "cpuid-after-run": 15 chars at most */
	__u64 have_size;		/* what the buffer holds */
	__u64 need_size;		/* what the state needs */
	__u64 have_mask;
	__u64 need_mask;
	__u32 cause_type;		/* the event type that exposed it */
	__u32 pad;
	char text[XSW_FINDING_TEXT_LEN];
};

struct xsw_event {
	__u64 ts_ns;		/* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	__u32 type;		/* enum xsw_event_type */
	__u32 source;		/* enum xsw_source */
	__u32 pid;		/* tgid */
	__u32 tid;
	char comm[16];
	__u64 vm;		/* opaque VM id, 0 when none */
	__s32 vcpu_id;		/* -1 when not about one vCPU */
	__s32 ret;		/* 0 or -errno of the traced operation */
	__u64 duration_ns;	/* syscall/ioctl enter to exit, 0 when unknown */
	union {
		struct xsw_ev_perm_request perm;
		struct xsw_ev_supported_cpuid supported;
		struct xsw_ev_vm_create vm_create;
		struct xsw_ev_vcpu vcpu;
		struct xsw_ev_set_cpuid set_cpuid;
		struct xsw_ev_realloc realloc;
		struct xsw_ev_run run;
		struct xsw_ev_exit exit;
		struct xsw_ev_lost lost;
		struct xsw_ev_finding finding;
	};
};

/*
 * Bytes of an event of @type: the header and the payload its type uses.
 * The probes reserve only that much in the ring buffer (a vcpu_create
 * record is 160 bytes where the whole struct is 288: fewer cache lines to
 * zero and to move to the reader's CPU); readers copy a record into a
 * zeroed struct xsw_event.
 */
#define XSW_EV_BYTES(member)							\
	(__builtin_offsetof(struct xsw_event, member) +				\
	 sizeof(((struct xsw_event *)0)->member))
#define XSW_EV_HEADER_BYTES __builtin_offsetof(struct xsw_event, perm)

static inline __u32 xsw_event_bytes(__u32 type)
{
	switch (type) {
	case XSW_EV_PERM_REQUEST:
		return XSW_EV_BYTES(perm);
	case XSW_EV_SUPPORTED_CPUID:
		return XSW_EV_BYTES(supported);
	case XSW_EV_VM_CREATE:
		return XSW_EV_BYTES(vm_create);
	case XSW_EV_VCPU_CREATE:
	case XSW_EV_PERM_SYNC:
	case XSW_EV_VCPU_DESTROY:
		return XSW_EV_BYTES(vcpu);
	case XSW_EV_SET_CPUID:
		return XSW_EV_BYTES(set_cpuid);
	case XSW_EV_FPSTATE_REALLOC:
		return XSW_EV_BYTES(realloc);
	case XSW_EV_FIRST_RUN:
	case XSW_EV_XCR0_CHANGE:
		return XSW_EV_BYTES(run);
	case XSW_EV_VM_DESTROY:
		return XSW_EV_HEADER_BYTES;
	case XSW_EV_PROCESS_EXIT:
		return XSW_EV_BYTES(exit);
	case XSW_EV_LOST:
		return XSW_EV_BYTES(lost);
	default:
		return sizeof(struct xsw_event);
	}
}

#ifndef __VMLINUX_H__
#include <stdbool.h>
#include <string.h>

/*
 * A ring buffer record as a whole event: @out gets the record and zeroes
 * past it. False when the record is shorter than its type's payload or
 * longer than an event.
 */
static inline bool xsw_record_event(const void *data, size_t size, struct xsw_event *out)
{
	__u32 type;

	if (size < XSW_EV_HEADER_BYTES || size > sizeof(*out))
		return false;
	memcpy(&type, (const char *)data + __builtin_offsetof(struct xsw_event, type),
	       sizeof(type));
	if (size < xsw_event_bytes(type))
		return false;
	memcpy(out, data, size);
	memset((char *)out + size, 0, sizeof(*out) - size);
	return true;
}
#endif

#endif /* XSW_EVENT_H */
