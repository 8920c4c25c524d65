// SPDX-License-Identifier: GPL-2.0
/*
 * KVM ioctl and arch_prctl wrappers: one call, one log line, -errno out.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kvm.h"
#include "xstate.h"
#include "xsw_err.h"

bool vl_log_quiet;
bool vl_log_stderr;
__thread char vl_log_prefix[32];
static atomic_uint vl_nr_failures;

FILE *vl_log_stream(void)
{
	return vl_log_stderr ? stderr : stdout;
}

/* One fputs per line so that vCPU threads never interleave mid-line. */
static void vl_vlog(const char *lead, const char *fmt, va_list ap)
{
	char line[1024];
	int n;

	n = snprintf(line, sizeof(line), "%s%s", lead, vl_log_prefix);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	strcat(line, "\n");
	fputs(line, vl_log_stream());
}

void vl_log(const char *fmt, ...)
{
	va_list ap;

	if (vl_log_quiet)
		return;
	va_start(ap, fmt);
	vl_vlog("  ", fmt, ap);
	va_end(ap);
}

bool vl_expect(bool ok, const char *fmt, ...)
{
	va_list ap;

	if (!ok)
		atomic_fetch_add(&vl_nr_failures, 1);
	if (vl_log_quiet && ok)
		return ok;
	/* A failed expectation is printed even in quiet mode. */
	va_start(ap, fmt);
	if (ok) {
		char buf[900];

		vsnprintf(buf, sizeof(buf), fmt, ap);
		vl_log("expect %s: ok", buf);
	} else {
		vl_vlog("FAIL  expected ", fmt, ap);
	}
	va_end(ap);
	return ok;
}

unsigned int vl_failures(void)
{
	return atomic_load(&vl_nr_failures);
}

enum vl_ret_kind { VL_RET_STATUS, VL_RET_FD, VL_RET_VALUE };

static long vl_vresult(enum vl_ret_kind kind, const char *name, long ret,
		       const char *detail_fmt, va_list ap)
{
	char detail[512] = "";
	char result[64];

	if (vl_log_quiet)
		return ret;
	if (detail_fmt && *detail_fmt) {
		detail[0] = '(';
		vsnprintf(detail + 1, sizeof(detail) - 2, detail_fmt, ap);
		strcat(detail, ")");
	}
	if (ret < 0)
		snprintf(result, sizeof(result), "%s", xsw_errno_name((int)ret));
	else if (kind == VL_RET_FD)
		snprintf(result, sizeof(result), "fd %ld", ret);
	else if (kind == VL_RET_VALUE || ret != 0)
		snprintf(result, sizeof(result), "%ld", ret);
	else
		snprintf(result, sizeof(result), "ok");
	vl_log("%s%s -> %s", name, detail, result);
	return ret;
}

long vl_log_result(const char *name, long ret, const char *detail_fmt, ...)
{
	va_list ap;

	va_start(ap, detail_fmt);
	vl_vresult(VL_RET_STATUS, name, ret, detail_fmt, ap);
	va_end(ap);
	return ret;
}

__attribute__((format(printf, 4, 5)))
static long vl_result_kind(enum vl_ret_kind kind, const char *name, long ret,
			   const char *detail_fmt, ...)
{
	va_list ap;

	va_start(ap, detail_fmt);
	vl_vresult(kind, name, ret, detail_fmt, ap);
	va_end(ap);
	return ret;
}

/* ioctl() as -errno. */
static int xioctl(int fd, unsigned long req, void *arg)
{
	int ret = ioctl(fd, req, arg);

	return ret < 0 ? -errno : ret;
}

/* --- /dev/kvm ---------------------------------------------------------- */

int kvm_open_dev(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		fd = -errno;
	return (int)vl_result_kind(VL_RET_FD, "open", fd, "%s", path);
}

int kvm_check_extension(int fd, long cap, const char *cap_name)
{
	int ret = ioctl(fd, KVM_CHECK_EXTENSION, cap);

	if (ret < 0)
		ret = -errno;
	return (int)vl_result_kind(VL_RET_VALUE, "KVM_CHECK_EXTENSION", ret,
				   "%s", cap_name);
}

int kvm_get_vcpu_mmap_size(int kvm_fd)
{
	int ret = xioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, NULL);

	return (int)vl_result_kind(VL_RET_VALUE, "KVM_GET_VCPU_MMAP_SIZE", ret, NULL);
}

static struct kvm_cpuid2 *cpuid2_alloc(unsigned int nent)
{
	struct kvm_cpuid2 *c;

	c = calloc(1, sizeof(*c) + nent * sizeof(c->entries[0]));
	if (c)
		c->nent = nent;
	return c;
}

/* Shared by GET_SUPPORTED_CPUID and GET_CPUID2: both answer E2BIG when short. */
static int get_cpuid_grow(int fd, unsigned long req, struct kvm_cpuid2 **out)
{
	unsigned int nent = 64;
	int ret;

	*out = NULL;
	for (;;) {
		struct kvm_cpuid2 *c = cpuid2_alloc(nent);

		if (!c)
			return -ENOMEM;
		ret = xioctl(fd, req, c);
		if (ret == 0) {
			*out = c;
			return 0;
		}
		free(c);
		if (ret != -E2BIG || nent >= 4096)
			return ret;
		nent *= 2;
	}
}

int kvm_get_supported_cpuid(int kvm_fd, struct kvm_cpuid2 **out)
{
	int ret = get_cpuid_grow(kvm_fd, KVM_GET_SUPPORTED_CPUID, out);

	if (ret == 0) {
		vl_log("KVM_GET_SUPPORTED_CPUID -> %u entries", (*out)->nent);
		return 0;
	}
	return (int)vl_log_result("KVM_GET_SUPPORTED_CPUID", ret, NULL);
}

/* --- VM and vCPU ------------------------------------------------------- */

int kvm_create_vm(int kvm_fd)
{
	int ret = ioctl(kvm_fd, KVM_CREATE_VM, 0);

	if (ret < 0)
		ret = -errno;
	return (int)vl_result_kind(VL_RET_FD, "KVM_CREATE_VM", ret, NULL);
}

int kvm_set_user_memory_region(int vm_fd, uint32_t slot, uint64_t gpa,
			       uint64_t size, void *hva)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)hva,
	};

	return (int)vl_log_result("KVM_SET_USER_MEMORY_REGION",
				  xioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &r),
				  "slot %u, gpa 0x%llx, %llu KiB", slot,
				  (unsigned long long)gpa,
				  (unsigned long long)size / 1024);
}

int kvm_create_vcpu(int vm_fd, unsigned int id)
{
	int ret = ioctl(vm_fd, KVM_CREATE_VCPU, (unsigned long)id);

	if (ret < 0)
		ret = -errno;
	return (int)vl_result_kind(VL_RET_FD, "KVM_CREATE_VCPU", ret, "id %u", id);
}

/* The guest xcr0 a CPUID table allows: leaf 0xD.0 EDX:EAX. */
static uint64_t cpuid2_xcr0(const struct kvm_cpuid2 *c)
{
	for (unsigned int i = 0; i < c->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function == 0xd && e->index == 0)
			return e->eax | ((uint64_t)e->edx << 32);
	}
	return 0;
}

int kvm_set_cpuid2(int vcpu_fd, const struct kvm_cpuid2 *cpuid)
{
	char names[256];
	uint64_t xcr0 = cpuid2_xcr0(cpuid);

	return (int)vl_log_result("KVM_SET_CPUID2",
				  xioctl(vcpu_fd, KVM_SET_CPUID2, (void *)cpuid),
				  "%u entries, leaf 0xD xcr0 0x%llx %s", cpuid->nent,
				  (unsigned long long)xcr0,
				  xsw_xfeatures_format(xcr0, names, sizeof(names)));
}

int kvm_get_cpuid2(int vcpu_fd, struct kvm_cpuid2 **out)
{
	return (int)vl_log_result("KVM_GET_CPUID2",
				  get_cpuid_grow(vcpu_fd, KVM_GET_CPUID2, out), NULL);
}

int kvm_get_sregs(int vcpu_fd, struct kvm_sregs *sregs)
{
	return (int)vl_log_result("KVM_GET_SREGS", xioctl(vcpu_fd, KVM_GET_SREGS, sregs), NULL);
}

int kvm_set_sregs(int vcpu_fd, const struct kvm_sregs *sregs)
{
	return (int)vl_log_result("KVM_SET_SREGS",
				  xioctl(vcpu_fd, KVM_SET_SREGS, (void *)sregs),
				  "cs 0x%x base 0x%llx, cr0 0x%llx, cr4 0x%llx",
				  sregs->cs.selector, (unsigned long long)sregs->cs.base,
				  (unsigned long long)sregs->cr0,
				  (unsigned long long)sregs->cr4);
}

int kvm_set_regs(int vcpu_fd, const struct kvm_regs *regs)
{
	return (int)vl_log_result("KVM_SET_REGS",
				  xioctl(vcpu_fd, KVM_SET_REGS, (void *)regs),
				  "rip 0x%llx, rax 0x%llx, rcx 0x%llx, rdx 0x%llx",
				  (unsigned long long)regs->rip,
				  (unsigned long long)regs->rax,
				  (unsigned long long)regs->rcx,
				  (unsigned long long)regs->rdx);
}

int kvm_run(int vcpu_fd)
{
	return xioctl(vcpu_fd, KVM_RUN, NULL);
}

int kvm_get_xcrs(int vcpu_fd, struct kvm_xcrs *xcrs)
{
	char names[256] = "";
	int ret = xioctl(vcpu_fd, KVM_GET_XCRS, xcrs);
	uint64_t xcr0 = 0;

	for (unsigned int i = 0; ret == 0 && i < xcrs->nr_xcrs; i++)
		if (xcrs->xcrs[i].xcr == 0)
			xcr0 = xcrs->xcrs[i].value;
	if (ret == 0) {
		vl_log("KVM_GET_XCRS -> xcr0 0x%llx %s", (unsigned long long)xcr0,
		       xsw_xfeatures_format(xcr0, names, sizeof(names)));
		return 0;
	}
	return (int)vl_log_result("KVM_GET_XCRS", ret, NULL);
}

int kvm_get_xsave(int vcpu_fd, void *buf, int size)
{
	if (size > (int)sizeof(struct kvm_xsave))
		return (int)vl_log_result("KVM_GET_XSAVE2",
					  xioctl(vcpu_fd, KVM_GET_XSAVE2, buf),
					  "%d bytes", size);
	return (int)vl_log_result("KVM_GET_XSAVE", xioctl(vcpu_fd, KVM_GET_XSAVE, buf),
				  "%zu bytes", sizeof(struct kvm_xsave));
}

int kvm_set_xsave(int vcpu_fd, const void *buf)
{
	char names[256];
	/* XSTATE_BV is the first quadword of the XSAVE header at 512. */
	uint64_t xstate_bv;

	memcpy(&xstate_bv, (const char *)buf + 512, sizeof(xstate_bv));
	return (int)vl_log_result("KVM_SET_XSAVE",
				  xioctl(vcpu_fd, KVM_SET_XSAVE, (void *)buf),
				  "xstate_bv 0x%llx %s", (unsigned long long)xstate_bv,
				  xsw_xfeatures_format(xstate_bv, names, sizeof(names)));
}

/* --- guest FPU permission ---------------------------------------------- */

static int arch_prctl_u64(int code, uint64_t *val)
{
	return syscall(SYS_arch_prctl, code, val) < 0 ? -errno : 0;
}

int xcomp_get_supp(uint64_t *mask)
{
	char names[256];
	int ret = arch_prctl_u64(ARCH_GET_XCOMP_SUPP, mask);

	if (ret)
		return (int)vl_log_result("ARCH_GET_XCOMP_SUPP", ret, NULL);
	vl_log("ARCH_GET_XCOMP_SUPP -> 0x%llx %s", (unsigned long long)*mask,
	       xsw_xfeatures_format(*mask, names, sizeof(names)));
	return 0;
}

int xcomp_get_guest_perm(uint64_t *mask)
{
	char names[256];
	int ret = arch_prctl_u64(ARCH_GET_XCOMP_GUEST_PERM, mask);

	if (ret)
		return (int)vl_log_result("ARCH_GET_XCOMP_GUEST_PERM", ret, NULL);
	vl_log("ARCH_GET_XCOMP_GUEST_PERM -> 0x%llx %s", (unsigned long long)*mask,
	       xsw_xfeatures_format(*mask, names, sizeof(names)));
	return 0;
}

int xcomp_req_guest_perm(unsigned int nr)
{
	const char *name = xsw_xfeature_name(nr);
	int ret = syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_GUEST_PERM,
			  (unsigned long)nr) < 0 ? -errno : 0;

	return (int)vl_log_result("ARCH_REQ_XCOMP_GUEST_PERM", ret, "%u %s", nr,
				  name ? name : "?");
}
