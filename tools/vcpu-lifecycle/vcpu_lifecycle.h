/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vcpu-lifecycle: options, the scenario table, and exit codes.
 */
#ifndef VL_VCPU_LIFECYCLE_H
#define VL_VCPU_LIFECYCLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Exit codes (docs/vcpu-lifecycle.md). 77 is automake's "skipped". */
enum {
	VL_EXIT_PASS = 0,	/* every expectation held */
	VL_EXIT_FAIL = 1,	/* an expectation failed, or KVM could not be used */
	VL_EXIT_USAGE = 2,	/* bad command line or bad input file */
	VL_EXIT_SKIP = 77,	/* this host lacks what the scenario needs */
};

struct vl_opts {
	const char *kvm_dev;		/* --kvm-dev, default /dev/kvm */
	unsigned int vms;		/* --vms */
	unsigned int vcpus;		/* --vcpus */
	unsigned int iterations;	/* --iterations */
	unsigned int exits;		/* --exits */
	const char *xfeatures;		/* --xfeatures */
	const char *bench_scenario;	/* bench --scenario */
	bool json;			/* --json */
	bool check_leaks;		/* --check-leaks */
	const char *model_path;		/* cpuid-model FILE */
};

struct vl_ctx {
	const struct vl_opts *opts;
	int kvm_fd;
	size_t run_size;		/* KVM_GET_VCPU_MMAP_SIZE */
	unsigned int max_vcpus;		/* KVM_CAP_MAX_VCPUS */
	unsigned int max_vcpu_id;	/* KVM_CAP_MAX_VCPU_ID */
};

struct vl_scenario {
	const char *name;
	const char *args;	/* positional arguments, for --help */
	const char *summary;	/* one line, for --help */
	int (*run)(struct vl_ctx *ctx);
};

extern const struct vl_scenario vl_scenarios[];
const struct vl_scenario *vl_scenario_find(const char *name);

/* bench.c */
int vl_bench(struct vl_ctx *ctx);

#endif /* VL_VCPU_LIFECYCLE_H */
