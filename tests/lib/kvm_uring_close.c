// SPDX-License-Identifier: GPL-2.0
/*
 * A VMM whose first VM goes through io_uring's close, which no syscall
 * hook sees: VM 1 and its vCPU 0 are created and get the supported CPUID,
 * then both fds are closed by IORING_OP_CLOSE; VM 2 follows the same way
 * and goes with close(). With "exit" as its argument, VM 2 comes first
 * instead, runs its vCPU once (which starts KVM's NX huge page worker, a
 * thread of this process, on kernels that have one) and stays open; the
 * process exits right after VM 1 went. With "exec", VM 2 comes first and
 * stays open without running, and the process execs itself right after VM
 * 1 went (the new image prints one line and exits 0): the exec closes VM
 * 2's fds, which KVM made close-on-exec. Prints one line per step; exits
 * 0, or 1 naming the call that failed (77 when this kernel refuses
 * io_uring_setup()).
 *
 * KVM often gives VM 2 the address VM 1 had, and then the syscall tier
 * must not hand VM 1's state to it. With "exit" and "exec", the exit or
 * the exec must read VM 2, which it holds, and report VM 1 gone without
 * reading it: it is freed by then (tests/integration/xstate_watch_run.sh).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/io_uring.h>
#include <linux/kvm.h>

static int fail(const char *what)
{
	printf("FAIL %s: %s\n", what, strerror(errno));
	return 1;
}

/* One IORING_OP_CLOSE of @fd on a ring of its own: 0, or -errno. */
static int uring_close(int fd)
{
	struct io_uring_params p;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	unsigned int *tail, *array, mask;
	char *sq, *cq;
	int ring, res;

	memset(&p, 0, sizeof(p));
	ring = (int)syscall(__NR_io_uring_setup, 1, &p);
	if (ring < 0 && (errno == ENOSYS || errno == EPERM)) {
		/* No io_uring here (kernel.io_uring_disabled, seccomp): a skip. */
		printf("FAIL io_uring_setup: %s\n", strerror(errno));
		exit(77);
	}
	if (ring < 0)
		return -errno;
	sq = mmap(NULL, p.sq_off.array + p.sq_entries * sizeof(unsigned int),
		  PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQ_RING);
	cq = mmap(NULL, p.cq_off.cqes + p.cq_entries * sizeof(*cqe),
		  PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_CQ_RING);
	sqe = mmap(NULL, p.sq_entries * sizeof(*sqe), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQES);
	if (sq == MAP_FAILED || cq == MAP_FAILED || sqe == MAP_FAILED) {
		res = -errno;
		close(ring);
		return res;
	}
	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = IORING_OP_CLOSE;
	sqe->fd = fd;
	tail = (unsigned int *)(sq + p.sq_off.tail);
	array = (unsigned int *)(sq + p.sq_off.array);
	mask = *(unsigned int *)(sq + p.sq_off.ring_mask);
	array[*tail & mask] = 0;
	__atomic_store_n(tail, *tail + 1, __ATOMIC_RELEASE);
	if (syscall(__NR_io_uring_enter, ring, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) != 1) {
		res = -errno;
	} else {
		cqe = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
		res = cqe[*(unsigned int *)(cq + p.cq_off.head) & *(unsigned int *)(cq + p.cq_off.ring_mask)].res;
	}
	munmap(sqe, p.sq_entries * sizeof(*sqe));
	munmap(cq, p.cq_off.cqes + p.cq_entries * sizeof(*cqe));
	munmap(sq, p.sq_off.array + p.sq_entries * sizeof(unsigned int));
	close(ring);
	return res;
}

/* How a VM's fds go. */
enum vm_end {
	BY_URING,	/* IORING_OP_CLOSE, vCPU then VM */
	BY_CLOSE,	/* close() */
	KEPT,		/* run once (no memory: KVM_RUN fails, once KVM set the VM up to run), kept open */
	HELD,		/* kept open, never run */
};

static int one_vm(int kvm, int n, struct kvm_cpuid2 *sup, enum vm_end end)
{
	int vm, vcpu, ret;

	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		return fail("KVM_CREATE_VM");
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		return fail("KVM_CREATE_VCPU");
	if (ioctl(vcpu, KVM_SET_CPUID2, sup))
		return fail("KVM_SET_CPUID2");
	printf("VM %d: fd %d, vCPU 0 fd %d, CPUID installed\n", n, vm, vcpu);
	switch (end) {
	case BY_URING:
		ret = uring_close(vcpu);
		if (!ret)
			ret = uring_close(vm);
		if (ret) {
			errno = -ret;
			return fail("IORING_OP_CLOSE");
		}
		printf("VM %d: both fds closed by io_uring\n", n);
		break;
	case BY_CLOSE:
		close(vcpu);
		close(vm);
		printf("VM %d: both fds closed by close()\n", n);
		break;
	case KEPT:
		ioctl(vcpu, KVM_RUN, 0);
		printf("VM %d: run once, kept open\n", n);
		break;
	case HELD:
		printf("VM %d: kept open\n", n);
		break;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	bool at_exit = !strcmp(mode, "exit"), at_exec = !strcmp(mode, "exec");
	struct kvm_cpuid2 *sup;
	int kvm, ret;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(mode, "execed")) {
		printf("exec: new image running\n");
		return 0;
	}
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return fail("open /dev/kvm");
	sup = calloc(1, sizeof(*sup) + 256 * sizeof(struct kvm_cpuid_entry2));
	if (!sup)
		return fail("calloc");
	sup->nent = 256;
	if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, sup))
		return fail("KVM_GET_SUPPORTED_CPUID");
	ret = 0;
	if (at_exit || at_exec)
		ret = one_vm(kvm, 2, sup, at_exit ? KEPT : HELD);
	if (!ret)
		ret = one_vm(kvm, 1, sup, BY_URING);
	if (!ret && !at_exit && !at_exec)
		ret = one_vm(kvm, 2, sup, BY_CLOSE);
	free(sup);
	close(kvm);
	if (!ret && at_exec) {
		/* By its own path: /proc/self/exe would rename the process "exe". */
		char self[4096];
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

		if (n < 0)
			return fail("readlink /proc/self/exe");
		self[n] = '\0';
		execl(self, argv[0], "execed", (char *)NULL);
		return fail("execl");
	}
	return ret;
}
