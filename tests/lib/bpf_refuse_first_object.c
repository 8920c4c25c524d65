// SPDX-License-Identifier: GPL-2.0
/*
 * LD_PRELOAD test shim: the kernel refuses the programs of the first BPF
 * object the process loads, and only those.
 *
 * xstate-watch's syscall tier first loads its object with direct loads
 * (bpf_rdonly_cast(), v6.2+) and, under --reads=auto, opens it again with
 * probe reads when the kernel refuses that. Both kernels here accept direct
 * loads, so without this shim the fallback never runs in a test. The shim
 * stands in for the refusal only: the second object goes to the real
 * kernel, and its programs trace the test's VMs for real.
 *
 * libbpf creates one "<object>.rodata" map per object before it loads the
 * object's programs, so "the first object" is: every BPF_PROG_LOAD of a
 * program named xsw_* while exactly one such map has been created. libbpf
 * calls the bpf() syscall through syscall(3), which is what this wraps.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/bpf.h>

#define SHIM_LOG "bpf_refuse_first_object: refused (test shim standing in for a kernel that refuses direct loads)\n"

static long (*real_syscall)(long nr, ...);
static int rodata_maps;

long syscall(long nr, ...);

long syscall(long nr, ...)
{
	long a[6];
	va_list ap;
	int i;

	/* As glibc's own syscall(): always six argument registers. */
	va_start(ap, nr);
	for (i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (!real_syscall)
		real_syscall = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");

	if (nr == __NR_bpf && a[1]) {
		union bpf_attr *attr = (union bpf_attr *)a[1];

		if (a[0] == BPF_MAP_CREATE &&
		    strnlen(attr->map_name, sizeof(attr->map_name)) < sizeof(attr->map_name) &&
		    strstr(attr->map_name, ".rodata"))
			rodata_maps++;
		if (a[0] == BPF_PROG_LOAD && rodata_maps == 1 &&
		    !strncmp(attr->prog_name, "xsw_", 4)) {
			if (attr->log_buf && attr->log_size > sizeof(SHIM_LOG))
				memcpy((void *)(unsigned long)attr->log_buf, SHIM_LOG,
				       sizeof(SHIM_LOG));
			errno = EINVAL;
			return -1;
		}
	}
	return real_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}
