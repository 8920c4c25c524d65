// SPDX-License-Identifier: GPL-2.0
/*
 * VM and vCPU set-up, the run loop, and tear-down.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "guest.h"
#include "kvm.h"
#include "vm.h"
#include "xsw_err.h"

int vl_vm_create(struct vl_vm *vm, int kvm_fd)
{
	int ret;

	vm->mem = NULL;
	vm->fd = kvm_create_vm(kvm_fd);
	if (vm->fd < 0)
		return vm->fd;

	vm->mem = mmap(NULL, VL_GUEST_MEM_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (vm->mem == MAP_FAILED) {
		ret = -errno;
		vm->mem = NULL;
		vl_log_result("mmap guest memory", ret, NULL);
		vl_vm_destroy(vm);
		return ret;
	}
	vl_guest_load(vm->mem);
	ret = kvm_set_user_memory_region(vm->fd, 0, 0, VL_GUEST_MEM_SIZE, vm->mem);
	if (ret) {
		vl_vm_destroy(vm);
		return ret;
	}
	return 0;
}

void vl_vm_destroy(struct vl_vm *vm)
{
	if (vm->fd >= 0) {
		close(vm->fd);
		vl_log("close VM fd %d", vm->fd);
	}
	vm->fd = -1;
	if (vm->mem)
		munmap(vm->mem, VL_GUEST_MEM_SIZE);
	vm->mem = NULL;
}

int vl_vcpu_create(struct vl_vcpu *vcpu, struct vl_vm *vm, unsigned int id,
		   size_t run_size)
{
	int ret;

	vcpu->id = id;
	vcpu->run = NULL;
	vcpu->run_size = run_size;
	vcpu->fd = kvm_create_vcpu(vm->fd, id);
	if (vcpu->fd < 0)
		return vcpu->fd;

	vcpu->run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		ret = -errno;
		vcpu->run = NULL;
		vl_log_result("mmap kvm_run", ret, "vcpu fd %d", vcpu->fd);
		vl_vcpu_destroy(vcpu);
		return ret;
	}
	return 0;
}

void vl_vcpu_destroy(struct vl_vcpu *vcpu)
{
	/* The mapping holds a file reference: unmap first, or close frees nothing. */
	if (vcpu->run)
		munmap(vcpu->run, vcpu->run_size);
	vcpu->run = NULL;
	if (vcpu->fd >= 0) {
		close(vcpu->fd);
		vl_log("close vCPU %u fd %d", vcpu->id, vcpu->fd);
	}
	vcpu->fd = -1;
}

int vl_vcpu_setup(struct vl_vcpu *vcpu, uint16_t entry, uint64_t rax,
		  uint64_t rcx, uint64_t rdx)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	int ret;

	ret = kvm_get_sregs(vcpu->fd, &sregs);
	if (ret)
		return ret;
	/* Reset state is CS = 0xf000 with base 0xffff0000; flatten it. */
	sregs.cs.selector = 0;
	sregs.cs.base = 0;
	sregs.ss.selector = 0;
	sregs.ss.base = 0;
	sregs.ds.selector = 0;
	sregs.ds.base = 0;
	ret = kvm_set_sregs(vcpu->fd, &sregs);
	if (ret)
		return ret;

	memset(&regs, 0, sizeof(regs));
	regs.rip = entry;
	regs.rflags = 0x2;	/* bit 1 is reserved-set; IF clear */
	regs.rsp = VL_GUEST_STACK;
	regs.rax = rax;
	regs.rcx = rcx;
	regs.rdx = rdx;
	return kvm_set_regs(vcpu->fd, &regs);
}

const char *vl_exit_name(uint32_t reason)
{
	switch (reason) {
	case KVM_EXIT_UNKNOWN: return "KVM_EXIT_UNKNOWN";
	case KVM_EXIT_EXCEPTION: return "KVM_EXIT_EXCEPTION";
	case KVM_EXIT_IO: return "KVM_EXIT_IO";
	case KVM_EXIT_HLT: return "KVM_EXIT_HLT";
	case KVM_EXIT_MMIO: return "KVM_EXIT_MMIO";
	case KVM_EXIT_SHUTDOWN: return "KVM_EXIT_SHUTDOWN";
	case KVM_EXIT_FAIL_ENTRY: return "KVM_EXIT_FAIL_ENTRY";
	case KVM_EXIT_INTR: return "KVM_EXIT_INTR";
	case KVM_EXIT_INTERNAL_ERROR: return "KVM_EXIT_INTERNAL_ERROR";
	case KVM_EXIT_SYSTEM_EVENT: return "KVM_EXIT_SYSTEM_EVENT";
	}
	return "KVM_EXIT_?";
}

int vl_vcpu_run(struct vl_vcpu *vcpu, unsigned int max_runs,
		struct vl_run_result *res, bool quiet)
{
	struct kvm_run *run = vcpu->run;

	memset(res, 0, sizeof(*res));
	res->fault_vector = -1;

	while (res->nr_runs < max_runs) {
		int ret = kvm_run(vcpu->fd);

		res->nr_runs++;
		if (ret == -EINTR)
			continue;
		if (ret < 0) {
			res->error = ret;
			break;
		}
		if (run->exit_reason == KVM_EXIT_HLT) {
			res->halted = true;
			break;
		}
		if (run->exit_reason == KVM_EXIT_IO &&
		    run->io.direction == KVM_EXIT_IO_OUT && run->io.size == 1) {
			uint8_t val = *((uint8_t *)run + run->io.data_offset);

			if (run->io.port == VL_PORT_DONE) {
				res->nr_done_outs++;
				res->last_done_value = val;
				continue;
			}
			if (run->io.port == VL_PORT_FAULT) {
				res->fault_vector = val;
				continue;
			}
		}
		res->bad_exit_reason = run->exit_reason ? run->exit_reason : ~0u;
		break;
	}

	if (!quiet) {
		if (res->error)
			vl_log("KVM_RUN -> %s after %u runs", xsw_errno_name(res->error),
			       res->nr_runs);
		else if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR)
			vl_log("KVM_RUN -> KVM_EXIT_INTERNAL_ERROR (suberror %u) after %u runs",
			       run->internal.suberror, res->nr_runs);
		else if (run->exit_reason == KVM_EXIT_FAIL_ENTRY)
			vl_log("KVM_RUN -> KVM_EXIT_FAIL_ENTRY (reason 0x%llx) after %u runs",
			       (unsigned long long)run->fail_entry.hardware_entry_failure_reason,
			       res->nr_runs);
		else if (res->bad_exit_reason)
			vl_log("KVM_RUN -> unexpected %s (%u) after %u runs",
			       vl_exit_name(run->exit_reason), run->exit_reason, res->nr_runs);
		else
			vl_log("KVM_RUN x%u -> %u OUT(s) to 0x%x (last 0x%02x)%s%s%s, %s",
			       res->nr_runs, res->nr_done_outs, VL_PORT_DONE,
			       res->last_done_value,
			       res->fault_vector >= 0 ? ", guest took " : "",
			       res->fault_vector >= 0 ? vl_vector_name(res->fault_vector) : "",
			       res->fault_vector >= 0 ? " (OUT to 0x11)" : "",
			       res->halted ? "KVM_EXIT_HLT" : "no HLT within the run limit");
	}
	return res->halted ? 0 : -EIO;
}
