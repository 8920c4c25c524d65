/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What a minimal VMM does with the ioctls: a VM with 64 KiB of memory
 * holding the guests (guest.h), vCPUs reset to real mode at a guest's
 * entry point, and a run loop that turns exits into a result.
 */
#ifndef VL_VM_H
#define VL_VM_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <linux/kvm.h>

struct vl_vm {
	int fd;
	uint8_t *mem;
};

struct vl_vcpu {
	int fd;
	unsigned int id;
	struct kvm_run *run;
	size_t run_size;
};

/* KVM_CREATE_VM, guest memory, KVM_SET_USER_MEMORY_REGION. */
int vl_vm_create(struct vl_vm *vm, int kvm_fd);
/* Closes the VM fd and unmaps guest memory; safe on a zeroed or failed VM. */
void vl_vm_destroy(struct vl_vm *vm);

/* KVM_CREATE_VCPU and the mmap of struct kvm_run (@run_size from /dev/kvm). */
int vl_vcpu_create(struct vl_vcpu *vcpu, struct vl_vm *vm, unsigned int id,
		   size_t run_size);
/* munmap + close: the vCPU (and its VM reference) goes away. */
void vl_vcpu_destroy(struct vl_vcpu *vcpu);

/* Real mode, CS = 0, IP = @entry, with the given RAX/RCX/RDX. */
int vl_vcpu_setup(struct vl_vcpu *vcpu, uint16_t entry, uint64_t rax,
		  uint64_t rcx, uint64_t rdx);

struct vl_run_result {
	unsigned int nr_runs;		/* KVM_RUN calls */
	unsigned int nr_done_outs;	/* OUTs to VL_PORT_DONE */
	uint8_t last_done_value;	/* AL of the last one */
	int fault_vector;		/* -1, or the exception the guest took */
	bool halted;			/* ended with KVM_EXIT_HLT */
	int error;			/* -errno of a failed KVM_RUN, else 0 */
	uint32_t bad_exit_reason;	/* an exit the guests never cause, else 0 */
};

/*
 * KVM_RUN until the guest halts, at most @max_runs times. Returns 0 when
 * the guest halted, -EIO otherwise (@res says why). Logs a summary line
 * unless @quiet.
 */
int vl_vcpu_run(struct vl_vcpu *vcpu, unsigned int max_runs,
		struct vl_run_result *res, bool quiet);

/* Name of a KVM_EXIT_* reason. */
const char *vl_exit_name(uint32_t reason);

#endif /* VL_VM_H */
