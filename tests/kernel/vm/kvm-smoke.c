// SPDX-License-Identifier: GPL-2.0
/*
 * kvm-smoke: the smallest nested-KVM check the test guest runs before any
 * xstate-watch scenario, so that a hang in KVM_RUN is told apart from a
 * hang in the collector or the lifecycle driver.
 *
 * Creates a VM with one page of real-mode code
 *	mov $0x42, %al; out %al, $0x10; hlt
 * and runs it: the first KVM_RUN must exit with KVM_EXIT_IO (port 0x10,
 * value 0x42), the second with KVM_EXIT_HLT (no in-kernel irqchip, so HLT
 * goes to user space). Each ioctl is printed before it is issued, so the
 * last line on the console names the one that hung.
 *
 *	kvm-smoke [--runs N] [--irqchip]
 *
 * --runs N repeats the whole VM lifecycle N times (hang statistics in one
 * boot). --irqchip creates the in-kernel irqchip first: HLT then blocks in
 * the kernel until an interrupt that never comes, which is the expected
 * "hang" the harness must not confuse with a real one; it is only used to
 * show that the step timeout fires and names the step.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define GUEST_CODE_GPA	0x1000
#define GUEST_MEM_SIZE	0x2000
#define SMOKE_PORT	0x10
#define SMOKE_VALUE	0x42
#define MAX_CPUID_ENT	256

static const uint8_t guest_code[] = {
	0xb0, SMOKE_VALUE,	/* mov $0x42, %al */
	0xe6, SMOKE_PORT,	/* out %al, $0x10 */
	0xf4,			/* hlt */
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Print the step before doing it: a hang leaves it as the last line. */
static void step(int run, const char *what)
{
	printf("kvm-smoke: run %d: %s\n", run, what);
	fflush(stdout);
}

static int fail(int run, const char *what)
{
	fprintf(stderr, "kvm-smoke: run %d: %s: %s\n", run, what, strerror(errno));
	return 1;
}

static int one_lifecycle(int kvm, int run, int irqchip)
{
	struct kvm_userspace_memory_region region = { 0 };
	struct kvm_cpuid2 *cpuid;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_run *kr;
	int vm, vcpu, mmap_size;
	double t0;
	uint8_t *mem;

	step(run, "KVM_CREATE_VM");
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		return fail(run, "KVM_CREATE_VM");
	mem = mmap(NULL, GUEST_MEM_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return fail(run, "mmap guest memory");
	memcpy(mem + GUEST_CODE_GPA, guest_code, sizeof(guest_code));
	region.slot = 0;
	region.guest_phys_addr = 0;
	region.memory_size = GUEST_MEM_SIZE;
	region.userspace_addr = (uintptr_t)mem;
	step(run, "KVM_SET_USER_MEMORY_REGION");
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return fail(run, "KVM_SET_USER_MEMORY_REGION");
	if (irqchip) {
		step(run, "KVM_CREATE_IRQCHIP");
		if (ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0)
			return fail(run, "KVM_CREATE_IRQCHIP");
	}
	step(run, "KVM_CREATE_VCPU");
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		return fail(run, "KVM_CREATE_VCPU");

	cpuid = calloc(1, sizeof(*cpuid) + MAX_CPUID_ENT * sizeof(cpuid->entries[0]));
	if (!cpuid)
		return fail(run, "calloc");
	cpuid->nent = MAX_CPUID_ENT;
	step(run, "KVM_GET_SUPPORTED_CPUID");
	if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, cpuid) < 0)
		return fail(run, "KVM_GET_SUPPORTED_CPUID");
	step(run, "KVM_SET_CPUID2");
	if (ioctl(vcpu, KVM_SET_CPUID2, cpuid) < 0)
		return fail(run, "KVM_SET_CPUID2");
	free(cpuid);

	mmap_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (mmap_size < (int)sizeof(*kr))
		return fail(run, "KVM_GET_VCPU_MMAP_SIZE");
	kr = mmap(NULL, mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (kr == MAP_FAILED)
		return fail(run, "mmap kvm_run");

	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		return fail(run, "KVM_GET_SREGS");
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
		return fail(run, "KVM_SET_SREGS");
	memset(&regs, 0, sizeof(regs));
	regs.rip = GUEST_CODE_GPA;
	regs.rflags = 0x2;
	if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		return fail(run, "KVM_SET_REGS");

	step(run, "KVM_RUN (expect KVM_EXIT_IO)");
	t0 = now_ms();
	if (ioctl(vcpu, KVM_RUN, 0) < 0)
		return fail(run, "KVM_RUN");
	if (kr->exit_reason != KVM_EXIT_IO || kr->io.port != SMOKE_PORT ||
	    kr->io.direction != KVM_EXIT_IO_OUT ||
	    *((uint8_t *)kr + kr->io.data_offset) != SMOKE_VALUE) {
		fprintf(stderr, "kvm-smoke: run %d: first exit is reason %u (port 0x%x), want KVM_EXIT_IO on port 0x%x with 0x%x\n",
			run, kr->exit_reason, kr->io.port, SMOKE_PORT, SMOKE_VALUE);
		return 1;
	}
	printf("kvm-smoke: run %d: KVM_EXIT_IO port 0x%x value 0x%x after %.1f ms\n",
	       run, SMOKE_PORT, SMOKE_VALUE, now_ms() - t0);
	step(run, irqchip ? "KVM_RUN (HLT blocks: in-kernel irqchip)"
			  : "KVM_RUN (expect KVM_EXIT_HLT)");
	t0 = now_ms();
	if (ioctl(vcpu, KVM_RUN, 0) < 0)
		return fail(run, "KVM_RUN");
	if (kr->exit_reason != KVM_EXIT_HLT) {
		fprintf(stderr, "kvm-smoke: run %d: second exit is reason %u, want KVM_EXIT_HLT (%u)\n",
			run, kr->exit_reason, KVM_EXIT_HLT);
		return 1;
	}
	printf("kvm-smoke: run %d: KVM_EXIT_HLT after %.1f ms\n", run, now_ms() - t0);

	munmap(kr, mmap_size);
	munmap(mem, GUEST_MEM_SIZE);
	close(vcpu);
	close(vm);
	return 0;
}

int main(int argc, char **argv)
{
	int runs = 1, irqchip = 0, kvm, i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--runs") && i + 1 < argc) {
			runs = atoi(argv[++i]);
			if (runs < 1) {
				fprintf(stderr, "kvm-smoke: --runs %s: want a positive count\n", argv[i]);
				return 2;
			}
		} else if (!strcmp(argv[i], "--irqchip")) {
			irqchip = 1;
		} else {
			fprintf(stderr, "usage: kvm-smoke [--runs N] [--irqchip]\n");
			return 2;
		}
	}
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return fail(0, "open /dev/kvm");
	for (i = 1; i <= runs; i++)
		if (one_lifecycle(kvm, i, irqchip))
			return 1;
	printf("kvm-smoke: %d of %d lifecycles completed\n", runs, runs);
	return 0;
}
