/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Thin wrappers around the KVM ioctls and the guest-FPU arch_prctl()s.
 *
 * Every wrapper returns the ioctl's result (an fd or 0) or -errno, and
 * logs one line naming the ioctl and its outcome ("KVM_SET_CPUID2 -> ok",
 * "KVM_SET_CPUID2 -> EINVAL"), so a scenario's output reads as the
 * sequence of calls a tracer sees. The benchmark silences the log with
 * vl_log_quiet so that printing never lands inside a timed region.
 */
#ifndef VL_KVM_H
#define VL_KVM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <linux/kvm.h>

/* --- output ------------------------------------------------------------ */

extern bool vl_log_quiet;
/* Log to stderr: under bench --json stdout carries the JSON document only. */
extern bool vl_log_stderr;
/* Prefix of every line this thread logs, e.g. "vm1/vcpu0: " (multi). */
extern __thread char vl_log_prefix[32];

/* Where log lines, FAIL lines included, go. */
FILE *vl_log_stream(void);
__attribute__((format(printf, 1, 2)))
void vl_log(const char *fmt, ...);
/* "  NAME(detail) -> ok|ERRNO"; returns @ret unchanged. */
__attribute__((format(printf, 3, 4)))
long vl_log_result(const char *name, long ret, const char *detail_fmt, ...);

/* Expectations: print "  expect ...: ok" or "  FAIL ..." and count. */
__attribute__((format(printf, 2, 3)))
bool vl_expect(bool ok, const char *fmt, ...);
unsigned int vl_failures(void);

/* --- /dev/kvm ---------------------------------------------------------- */

int kvm_open_dev(const char *path);
int kvm_check_extension(int fd, long cap, const char *cap_name);
#define KVM_CHECK_EXTENSION_NAMED(fd, cap) kvm_check_extension(fd, cap, #cap)
int kvm_get_vcpu_mmap_size(int kvm_fd);
/* Allocates *@out (free() it); grows the buffer on E2BIG. */
int kvm_get_supported_cpuid(int kvm_fd, struct kvm_cpuid2 **out);

/* --- VM and vCPU ------------------------------------------------------- */

int kvm_create_vm(int kvm_fd);
int kvm_set_user_memory_region(int vm_fd, uint32_t slot, uint64_t gpa,
			       uint64_t size, void *hva);
int kvm_create_vcpu(int vm_fd, unsigned int id);
int kvm_set_cpuid2(int vcpu_fd, const struct kvm_cpuid2 *cpuid);
/* Allocates *@out (free() it). */
int kvm_get_cpuid2(int vcpu_fd, struct kvm_cpuid2 **out);
int kvm_get_sregs(int vcpu_fd, struct kvm_sregs *sregs);
int kvm_set_sregs(int vcpu_fd, const struct kvm_sregs *sregs);
int kvm_set_regs(int vcpu_fd, const struct kvm_regs *regs);
/* Not logged: the run loop logs what the exits mean. */
int kvm_run(int vcpu_fd);
int kvm_get_xcrs(int vcpu_fd, struct kvm_xcrs *xcrs);
/* @buf holds @size bytes; KVM_GET_XSAVE2 when @size > 4096. */
int kvm_get_xsave(int vcpu_fd, void *buf, int size);
int kvm_set_xsave(int vcpu_fd, const void *buf);

/* --- guest FPU permission (arch_prctl) ---------------------------------- */

/* The uapi header has them since 5.16 (guest ones since 5.17). */
#include <asm/prctl.h>
#ifndef ARCH_GET_XCOMP_SUPP
#define ARCH_GET_XCOMP_SUPP		0x1021
#endif
#ifndef ARCH_GET_XCOMP_GUEST_PERM
#define ARCH_GET_XCOMP_GUEST_PERM	0x1024
#endif
#ifndef ARCH_REQ_XCOMP_GUEST_PERM
#define ARCH_REQ_XCOMP_GUEST_PERM	0x1025
#endif

int xcomp_get_supp(uint64_t *mask);
int xcomp_get_guest_perm(uint64_t *mask);
/* @nr is a feature NUMBER (18 = XTILEDATA), as the kernel's ABI wants. */
int xcomp_req_guest_perm(unsigned int nr);

#endif /* VL_KVM_H */
