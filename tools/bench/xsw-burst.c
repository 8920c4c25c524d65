// SPDX-License-Identifier: GPL-2.0
/*
 * xsw-burst: issue one cheap traced call at a controlled rate, so that the
 * benchmark can find the highest event rate a tracer keeps up with and count
 * what it loses above it.
 *
 *   xsw-burst --rate N --duration SECONDS
 *             [--op get-guest-perm|supported-cpuid|check-extension|set-cpuid2|
 *                   create-vcpu|getppid]
 *
 * --rate 0 issues as fast as one thread can. Calls are paced against
 * absolute deadlines (call i is due at start + i / rate), so a slow call is
 * caught up on rather than lowering the rate. One JSON object on stdout says
 * how many calls were issued, the rate actually reached and the per-call
 * latency percentiles (ns), which also measure what a tracer adds per ioctl.
 *
 * The operations, all but the last of which the collector's syscall tier
 * watches:
 *   get-guest-perm   arch_prctl(ARCH_GET_XCOMP_GUEST_PERM): a perm_request
 *                    event each, and cheap (< 1 us), so it reaches the rates
 *                    the loss test needs (the default);
 *   supported-cpuid  KVM_GET_SUPPORTED_CPUID on /dev/kvm: a supported_cpuid
 *                    event each, but the kernel builds the whole table every
 *                    time (~270 us under PVM here: a few thousand per second);
 *   check-extension  KVM_CHECK_EXTENSION(KVM_CAP_XSAVE2) on /dev/kvm: a KVM
 *                    ioctl the tier inspects but does not turn into an event,
 *                    so it measures the filter's cost alone;
 *   set-cpuid2       KVM_SET_CPUID2 of the supported table on one vCPU that
 *                    never runs (repeating it before the first KVM_RUN is
 *                    allowed): the loop `make profile` samples;
 *   create-vcpu      KVM_CREATE_VCPU alone (see usage());
 *   getppid          a syscall no tracer here hooks: what tracing the
 *                    syscall trace events costs every other syscall on the
 *                    host (the trace events make every task take the
 *                    syscall slow path; the raw hooks run on every
 *                    syscall). Needs no /dev/kvm.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/kvm.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_CPUID_ENTRIES 256
/* Latencies kept for the percentiles; calls beyond it are issued, not timed. */
#define MAX_SAMPLES (4u << 20)

#ifndef ARCH_GET_XCOMP_GUEST_PERM
#define ARCH_GET_XCOMP_GUEST_PERM 0x1024
#endif

enum burst_op {
	BURST_GET_GUEST_PERM,
	BURST_SUPPORTED_CPUID,
	BURST_CHECK_EXTENSION,
	BURST_SET_CPUID2,
	BURST_CREATE_VCPU,
	BURST_GETPPID,
};

/* create-vcpu: vCPUs per VM before the VM is replaced (untimed), at most. */
#define VCPUS_PER_VM 64

static const char *const burst_op_names[] = {
	[BURST_GET_GUEST_PERM] = "get-guest-perm",
	[BURST_SUPPORTED_CPUID] = "supported-cpuid",
	[BURST_CHECK_EXTENSION] = "check-extension",
	[BURST_SET_CPUID2] = "set-cpuid2",
	[BURST_CREATE_VCPU] = "create-vcpu",
	[BURST_GETPPID] = "getppid",
};

/* Close the VM and its vCPUs (if any) and create a fresh VM; -1 on error. */
static int recycle_vm(int kvm_fd, int *vm_fd, int *vcpu_fds, unsigned int *nvcpus)
{
	while (*nvcpus)
		close(vcpu_fds[--*nvcpus]);
	if (*vm_fd >= 0)
		close(*vm_fd);
	*vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	if (*vm_fd < 0)
		fprintf(stderr, "xsw-burst: KVM_CREATE_VM: %s\n", strerror(errno));
	return *vm_fd < 0 ? -1 : 0;
}

/* A VM with one vCPU for set-cpuid2; returns the vCPU fd or -1. */
static int open_vcpu(int kvm_fd, struct kvm_cpuid2 *cpuid, int *vm_fd)
{
	int vcpu_fd;

	cpuid->nent = MAX_CPUID_ENTRIES;
	if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) < 0) {
		fprintf(stderr, "xsw-burst: KVM_GET_SUPPORTED_CPUID: %s\n", strerror(errno));
		return -1;
	}
	*vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	if (*vm_fd < 0) {
		fprintf(stderr, "xsw-burst: KVM_CREATE_VM: %s\n", strerror(errno));
		return -1;
	}
	vcpu_fd = ioctl(*vm_fd, KVM_CREATE_VCPU, 0);
	if (vcpu_fd < 0)
		fprintf(stderr, "xsw-burst: KVM_CREATE_VCPU: %s\n", strerror(errno));
	return vcpu_fd;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_until_ns(uint64_t t)
{
	struct timespec ts = {
		.tv_sec = (time_t)(t / 1000000000ull),
		.tv_nsec = (long)(t % 1000000000ull),
	};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

static uint32_t percentile(const uint32_t *sorted, size_t n, unsigned int pct)
{
	if (!n)
		return 0;
	return sorted[(n - 1) * pct / 100];
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: xsw-burst --rate N --duration SECONDS\n"
		"                 [--op get-guest-perm|supported-cpuid|check-extension|set-cpuid2|\n"
		"                       create-vcpu|getppid]\n"
		"                 [--vcpus-per-vm N]\n"
		"  --rate 0 issues as fast as possible; prints one JSON object on stdout\n"
		"  create-vcpu times KVM_CREATE_VCPU alone: every N vCPUs (default and\n"
		"  most %d) the VM is closed and a new one created, outside the timed call\n",
		VCPUS_PER_VM);
}

static int parse_ulong(const char *opt, const char *s, unsigned long max,
		       unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > max || s[0] == '-') {
		fprintf(stderr, "xsw-burst: %s '%s': not a number in 0..%lu\n",
			opt, s, max);
		return -1;
	}
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rate", required_argument, NULL, 'r' },
		{ "duration", required_argument, NULL, 'd' },
		{ "op", required_argument, NULL, 'o' },
		{ "vcpus-per-vm", required_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	unsigned int which = BURST_GET_GUEST_PERM;
	uint64_t perm;
	unsigned long rate = 0, duration = 1, per_vm = VCPUS_PER_VM;
	struct kvm_cpuid2 *cpuid;
	uint64_t start, end, deadline, issued = 0, failed = 0, t0, t1;
	uint32_t *lat;
	size_t nlat = 0;
	int c, kvm_fd, vm_fd = -1, vcpu_fd = -1, first_errno = 0;
	int vcpu_fds[VCPUS_PER_VM];
	unsigned int nvcpus = 0;

	while ((c = getopt_long(argc, argv, "r:d:o:v:h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			if (parse_ulong("--rate", optarg, 100000000ul, &rate))
				return 2;
			break;
		case 'd':
			if (parse_ulong("--duration", optarg, 3600, &duration))
				return 2;
			if (!duration) {
				fprintf(stderr, "xsw-burst: --duration 0: must be at least 1 second\n");
				return 2;
			}
			break;
		case 'o':
			for (which = 0; which < ARRAY_SIZE(burst_op_names); which++)
				if (!strcmp(optarg, burst_op_names[which]))
					break;
			if (which == ARRAY_SIZE(burst_op_names)) {
				fprintf(stderr, "xsw-burst: --op '%s': want get-guest-perm, supported-cpuid, check-extension, set-cpuid2, create-vcpu or getppid\n",
					optarg);
				return 2;
			}
			break;
		case 'v':
			if (parse_ulong("--vcpus-per-vm", optarg, VCPUS_PER_VM, &per_vm))
				return 2;
			if (!per_vm) {
				fprintf(stderr, "xsw-burst: --vcpus-per-vm 0: must be at least 1\n");
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "xsw-burst: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}

	kvm_fd = -1;
	if (which != BURST_GETPPID) {
		kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
		if (kvm_fd < 0) {
			fprintf(stderr, "xsw-burst: /dev/kvm: %s\n", strerror(errno));
			return 1;
		}
	}
	cpuid = calloc(1, sizeof(*cpuid) +
			  MAX_CPUID_ENTRIES * sizeof(struct kvm_cpuid_entry2));
	lat = malloc(MAX_SAMPLES * sizeof(*lat));
	if (!cpuid || !lat) {
		fprintf(stderr, "xsw-burst: out of memory\n");
		return 1;
	}

	if (which == BURST_SET_CPUID2) {
		vcpu_fd = open_vcpu(kvm_fd, cpuid, &vm_fd);
		if (vcpu_fd < 0)
			return 1;
	}

	start = now_ns();
	end = start + duration * 1000000000ull;
	for (;;) {
		long ret;

		if (rate) {
			deadline = start + issued * 1000000000ull / rate;
			if (deadline >= end)
				break;
			/* Sleeping costs ~60 us here: only sleep when well ahead. */
			if (deadline > now_ns() + 200000)
				sleep_until_ns(deadline - 100000);
			while (now_ns() < deadline)
				;
		}
		if (which == BURST_CREATE_VCPU && (vm_fd < 0 || nvcpus == per_vm) &&
		    recycle_vm(kvm_fd, &vm_fd, vcpu_fds, &nvcpus))
			return 1;
		/* Calls slower than the rate end the run on time, not late. */
		t0 = now_ns();
		if (t0 >= end)
			break;
		switch (which) {
		case BURST_GET_GUEST_PERM:
			ret = syscall(SYS_arch_prctl, ARCH_GET_XCOMP_GUEST_PERM, &perm);
			break;
		case BURST_SUPPORTED_CPUID:
			cpuid->nent = MAX_CPUID_ENTRIES;
			ret = ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid);
			break;
		case BURST_CHECK_EXTENSION:
			ret = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
			break;
		case BURST_GETPPID:
			ret = syscall(SYS_getppid);
			break;
		case BURST_CREATE_VCPU:
			ret = ioctl(vm_fd, KVM_CREATE_VCPU, nvcpus);
			if (ret >= 0)
				vcpu_fds[nvcpus++] = (int)ret;
			break;
		default:
			ret = ioctl(vcpu_fd, KVM_SET_CPUID2, cpuid);
			break;
		}
		t1 = now_ns();
		if (ret < 0) {
			failed++;
			if (!first_errno)
				first_errno = errno;
		}
		if (nlat < MAX_SAMPLES)
			lat[nlat++] = (uint32_t)(t1 - t0 > UINT32_MAX ? UINT32_MAX : t1 - t0);
		issued++;
	}
	end = now_ns();

	qsort(lat, nlat, sizeof(*lat), cmp_u32);
	printf("{\"op\":\"%s\",\"pid\":%d,\"target_rate\":%lu,\"issued\":%" PRIu64
	       ",\"failed\":%" PRIu64 ",\"first_error\":\"%s\",\"seconds\":%.6f,"
	       "\"achieved_rate\":%.1f,\"lat_p50_ns\":%u,\"lat_p90_ns\":%u,"
	       "\"lat_p99_ns\":%u,\"lat_max_ns\":%u}\n",
	       burst_op_names[which],
	       (int)getpid(), rate, issued, failed,
	       first_errno ? strerror(first_errno) : "",
	       (double)(end - start) / 1e9,
	       (double)issued * 1e9 / (double)(end - start),
	       percentile(lat, nlat, 50), percentile(lat, nlat, 90),
	       percentile(lat, nlat, 99), nlat ? lat[nlat - 1] : 0);
	free(lat);
	free(cpuid);
	while (nvcpus)
		close(vcpu_fds[--nvcpus]);
	if (vcpu_fd >= 0)
		close(vcpu_fd);
	if (vm_fd >= 0)
		close(vm_fd);
	close(kvm_fd);
	return failed ? 1 : 0;
}
