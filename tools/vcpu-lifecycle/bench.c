// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmarks.
 *
 * lifecycle: per iteration, --vms VMs with --vcpus vCPUs each are created,
 * given the supported CPUID, run once to their first exit, and destroyed.
 * The caller (main) silences the step log: nothing is printed until the
 * report. CLOCK_MONOTONIC is read right around each ioctl (and around the
 * munmap+close sequence that destroys a VM), never around printing or
 * guest set-up, so the figures are KVM's cost plus two vDSO calls.
 *
 * exit-loop: one vCPU runs a guest doing --exits port I/O exits per
 * iteration; each KVM_RUN round trip is timed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "guest.h"
#include "kvm.h"
#include "vcpu_lifecycle.h"
#include "vm.h"
#include "xsw_err.h"

#define NR_BUCKETS 64

struct step_stat {
	const char *key;	/* JSON key */
	const char *what;	/* what was timed */
	uint64_t *ns;
	size_t n, cap;
};

static int stat_init(struct step_stat *s, const char *key, const char *what, size_t cap)
{
	s->key = key;
	s->what = what;
	s->n = 0;
	s->cap = cap;
	s->ns = calloc(cap ? cap : 1, sizeof(*s->ns));
	return s->ns ? 0 : -ENOMEM;
}

static void stat_add(struct step_stat *s, uint64_t ns)
{
	if (s->n < s->cap)
		s->ns[s->n++] = ns;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted samples. */
static uint64_t pct(const struct step_stat *s, unsigned int p)
{
	size_t rank;

	if (!s->n)
		return 0;
	rank = (s->n * p + 99) / 100;
	return s->ns[rank ? rank - 1 : 0];
}

static unsigned int log2_bucket(uint64_t v)
{
	return v ? 63 - __builtin_clzll(v) : 0;
}

struct summary {
	uint64_t min, p50, p90, p99, max, mean;
	unsigned int hist[NR_BUCKETS];
	unsigned int lo, hi;	/* first and last non-empty bucket */
};

static void summarize(struct step_stat *s, struct summary *sum)
{
	unsigned __int128 total = 0;

	memset(sum, 0, sizeof(*sum));
	qsort(s->ns, s->n, sizeof(s->ns[0]), cmp_u64);
	if (!s->n)
		return;
	for (size_t i = 0; i < s->n; i++) {
		total += s->ns[i];
		sum->hist[log2_bucket(s->ns[i])]++;
	}
	sum->min = s->ns[0];
	sum->max = s->ns[s->n - 1];
	sum->mean = (uint64_t)(total / s->n);
	sum->p50 = pct(s, 50);
	sum->p90 = pct(s, 90);
	sum->p99 = pct(s, 99);
	sum->lo = log2_bucket(sum->min);
	sum->hi = log2_bucket(sum->max);
}

static uint64_t bucket_low(unsigned int b)
{
	return b ? 1ull << b : 0;
}

static uint64_t bucket_high(unsigned int b)
{
	return (b >= 63) ? UINT64_MAX : (1ull << (b + 1)) - 1;
}

/* libbpf-tools style: "low -> high : count |****|". */
static void print_step(const struct step_stat *s, const struct summary *sum)
{
	unsigned int peak = 0;

	printf("%s (%s): count %zu, min %llu, p50 %llu, p90 %llu, p99 %llu, max %llu, mean %llu ns\n",
	       s->key, s->what, s->n, (unsigned long long)sum->min,
	       (unsigned long long)sum->p50, (unsigned long long)sum->p90,
	       (unsigned long long)sum->p99, (unsigned long long)sum->max,
	       (unsigned long long)sum->mean);
	if (!s->n)
		return;
	for (unsigned int b = sum->lo; b <= sum->hi; b++)
		if (sum->hist[b] > peak)
			peak = sum->hist[b];
	printf("  %24s : %-8s distribution\n", "nsecs", "count");
	for (unsigned int b = sum->lo; b <= sum->hi; b++) {
		unsigned int stars = peak ? (sum->hist[b] * 40 + peak - 1) / peak : 0;
		char bar[41];

		memset(bar, '*', stars);
		bar[stars] = '\0';
		printf("  %10llu -> %-10llu : %-8u |%-40s|\n",
		       (unsigned long long)bucket_low(b), (unsigned long long)bucket_high(b),
		       sum->hist[b], bar);
	}
}

static json_t *step_json(const struct step_stat *s, const struct summary *sum)
{
	json_t *hist = json_array();

	for (unsigned int b = sum->lo; s->n && b <= sum->hi; b++)
		json_array_append_new(hist, json_pack("{s:I, s:I, s:i}",
						      "low", (json_int_t)bucket_low(b),
						      "high", (json_int_t)(bucket_high(b) > INT64_MAX ?
								   INT64_MAX : bucket_high(b)),
						      "count", sum->hist[b]));
	return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}",
			 "timed", s->what,
			 "count", (json_int_t)s->n,
			 "min", (json_int_t)sum->min,
			 "p50", (json_int_t)sum->p50,
			 "p90", (json_int_t)sum->p90,
			 "p99", (json_int_t)sum->p99,
			 "max", (json_int_t)sum->max,
			 "mean", (json_int_t)sum->mean,
			 "histogram", hist);
}

/* Print every step, as text or as one JSON object with @head's fields. */
static int report(struct step_stat *steps, unsigned int nr, json_t *head, bool as_json)
{
	json_t *jsteps = json_object();
	struct summary sum;
	int ret = 0;

	for (unsigned int i = 0; i < nr; i++) {
		summarize(&steps[i], &sum);
		if (as_json)
			json_object_set_new(jsteps, steps[i].key, step_json(&steps[i], &sum));
		else
			print_step(&steps[i], &sum);
	}
	if (as_json) {
		json_object_set_new(head, "steps", jsteps);
		if (json_dumpf(head, stdout, JSON_INDENT(2)) < 0)
			ret = -EIO;
		putchar('\n');
	} else {
		json_decref(jsteps);
	}
	return ret;
}

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + t.tv_nsec;
}

/* Step indices of the lifecycle benchmark. */
enum { S_CREATE_VM, S_CREATE_VCPU, S_SET_CPUID2, S_FIRST_RUN, S_DESTROY, NR_STEPS };

struct bench_vm {
	struct vl_vm vm;
	struct vl_vcpu *vcpus;
};

static void bench_vm_destroy(struct bench_vm *b, unsigned int nr_vcpus,
			     struct step_stat *destroy)
{
	uint64_t t0 = now_ns();

	for (unsigned int c = 0; c < nr_vcpus; c++) {
		if (b->vcpus[c].run)
			munmap(b->vcpus[c].run, b->vcpus[c].run_size);
		if (b->vcpus[c].fd >= 0)
			close(b->vcpus[c].fd);
		b->vcpus[c].run = NULL;
		b->vcpus[c].fd = -1;
	}
	if (b->vm.fd >= 0)
		close(b->vm.fd);
	if (destroy && b->vm.fd >= 0)
		stat_add(destroy, now_ns() - t0);
	b->vm.fd = -1;
	if (b->vm.mem)
		munmap(b->vm.mem, VL_GUEST_MEM_SIZE);
	b->vm.mem = NULL;
}

/* One VM of one iteration: returns 0 or -errno with the failed step named. */
static int bench_vm_create(struct vl_ctx *ctx, struct bench_vm *b, unsigned int nr_vcpus,
			   const struct kvm_cpuid2 *cpuid, struct step_stat *st,
			   const char **failed)
{
	struct vl_run_result r;
	uint64_t t0;
	int fd, ret;

	t0 = now_ns();
	fd = ioctl(ctx->kvm_fd, KVM_CREATE_VM, 0);
	stat_add(&st[S_CREATE_VM], now_ns() - t0);
	if (fd < 0) {
		*failed = "KVM_CREATE_VM";
		return -errno;
	}
	b->vm.fd = fd;
	b->vm.mem = mmap(NULL, VL_GUEST_MEM_SIZE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (b->vm.mem == MAP_FAILED) {
		b->vm.mem = NULL;
		*failed = "mmap";
		return -errno;
	}
	vl_guest_load(b->vm.mem);
	ret = kvm_set_user_memory_region(fd, 0, 0, VL_GUEST_MEM_SIZE, b->vm.mem);
	if (ret) {
		*failed = "KVM_SET_USER_MEMORY_REGION";
		return ret;
	}

	for (unsigned int c = 0; c < nr_vcpus; c++) {
		struct vl_vcpu *v = &b->vcpus[c];

		v->id = c;
		v->run_size = ctx->run_size;
		t0 = now_ns();
		fd = ioctl(b->vm.fd, KVM_CREATE_VCPU, (unsigned long)c);
		stat_add(&st[S_CREATE_VCPU], now_ns() - t0);
		if (fd < 0) {
			*failed = "KVM_CREATE_VCPU";
			return -errno;
		}
		v->fd = fd;
		v->run = mmap(NULL, ctx->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (v->run == MAP_FAILED) {
			v->run = NULL;
			*failed = "mmap kvm_run";
			return -errno;
		}

		t0 = now_ns();
		ret = ioctl(fd, KVM_SET_CPUID2, cpuid);
		stat_add(&st[S_SET_CPUID2], now_ns() - t0);
		if (ret < 0) {
			*failed = "KVM_SET_CPUID2";
			return -errno;
		}
		ret = vl_vcpu_setup(v, VL_GUEST_HELLO, c & 0xff, 0, 0);
		if (ret) {
			*failed = "KVM_SET_SREGS/KVM_SET_REGS";
			return ret;
		}
		t0 = now_ns();
		ret = ioctl(fd, KVM_RUN, 0);
		stat_add(&st[S_FIRST_RUN], now_ns() - t0);
		if (ret < 0 || v->run->exit_reason != KVM_EXIT_IO) {
			*failed = "first KVM_RUN";
			return ret < 0 ? -errno : -EIO;
		}
		/* Let the guest reach HLT, untimed, so every VM ends the same. */
		if (vl_vcpu_run(v, 4, &r, true)) {
			*failed = "KVM_RUN to HLT";
			return -EIO;
		}
	}
	return 0;
}

static int bench_lifecycle(struct vl_ctx *ctx)
{
	const struct vl_opts *o = ctx->opts;
	size_t nr_vm_samples = (size_t)o->iterations * o->vms;
	size_t nr_vcpu_samples = nr_vm_samples * o->vcpus;
	struct step_stat st[NR_STEPS] = { 0 };
	struct bench_vm *vms = calloc(o->vms, sizeof(*vms));
	struct kvm_cpuid2 *sup = NULL;
	const char *failed = NULL;
	int ret = 0, status = VL_EXIT_PASS;
	json_t *head;

	if (!vms || stat_init(&st[S_CREATE_VM], "create_vm", "KVM_CREATE_VM", nr_vm_samples) ||
	    stat_init(&st[S_CREATE_VCPU], "create_vcpu", "KVM_CREATE_VCPU", nr_vcpu_samples) ||
	    stat_init(&st[S_SET_CPUID2], "set_cpuid2", "KVM_SET_CPUID2", nr_vcpu_samples) ||
	    stat_init(&st[S_FIRST_RUN], "first_run", "first KVM_RUN", nr_vcpu_samples) ||
	    stat_init(&st[S_DESTROY], "destroy", "munmap kvm_run + close vCPU fds + close VM fd",
		      nr_vm_samples)) {
		fprintf(stderr, "vcpu-lifecycle: bench: out of memory for %zu samples\n",
			nr_vcpu_samples);
		status = VL_EXIT_FAIL;
		goto out;
	}
	for (unsigned int v = 0; v < o->vms; v++) {
		vms[v].vm.fd = -1;
		vms[v].vcpus = calloc(o->vcpus, sizeof(*vms[v].vcpus));
		if (!vms[v].vcpus) {
			status = VL_EXIT_FAIL;
			goto out;
		}
		for (unsigned int c = 0; c < o->vcpus; c++)
			vms[v].vcpus[c].fd = -1;
	}
	if (kvm_get_supported_cpuid(ctx->kvm_fd, &sup)) {
		status = VL_EXIT_FAIL;
		goto out;
	}

	for (unsigned int it = 0; it < o->iterations && !ret; it++) {
		for (unsigned int v = 0; v < o->vms && !ret; v++)
			ret = bench_vm_create(ctx, &vms[v], o->vcpus, sup, st, &failed);
		for (unsigned int v = 0; v < o->vms; v++)
			bench_vm_destroy(&vms[v], o->vcpus, ret ? NULL : &st[S_DESTROY]);
	}
	if (ret) {
		fprintf(stderr, "vcpu-lifecycle: bench: %s failed: %s (%s)\n", failed,
			xsw_errno_name(ret), strerror(-ret));
		status = VL_EXIT_FAIL;
		goto out;
	}

	head = json_pack("{s:s, s:i, s:i, s:i, s:s}", "bench", "lifecycle",
			 "vms", o->vms, "vcpus", o->vcpus, "iterations", o->iterations,
			 "unit", "ns");
	if (!o->json)
		printf("lifecycle: %u iteration(s) x %u VM(s) x %u vCPU(s)\n",
		       o->iterations, o->vms, o->vcpus);
	if (report(st, NR_STEPS, head, o->json))
		status = VL_EXIT_FAIL;
	json_decref(head);
out:
	for (unsigned int v = 0; vms && v < o->vms; v++) {
		if (vms[v].vcpus)
			bench_vm_destroy(&vms[v], o->vcpus, NULL);
		free(vms[v].vcpus);
	}
	free(vms);
	free(sup);
	for (unsigned int i = 0; i < NR_STEPS; i++)
		free(st[i].ns);
	return status;
}

static int bench_exit_loop(struct vl_ctx *ctx)
{
	const struct vl_opts *o = ctx->opts;
	struct step_stat st = { 0 };
	struct kvm_cpuid2 *sup = NULL;
	struct vl_vcpu vcpu = { .fd = -1 };
	struct vl_vm vm = { .fd = -1 };
	uint64_t total_ns = 0, total_exits = 0;
	int status = VL_EXIT_PASS;
	json_t *head;

	if (stat_init(&st, "kvm_run", "KVM_RUN round trip to a PIO exit",
		      (size_t)o->iterations * (o->exits + 1))) {
		fprintf(stderr, "vcpu-lifecycle: bench: out of memory\n");
		return VL_EXIT_FAIL;
	}
	if (kvm_get_supported_cpuid(ctx->kvm_fd, &sup) || vl_vm_create(&vm, ctx->kvm_fd) ||
	    vl_vcpu_create(&vcpu, &vm, 0, ctx->run_size) || kvm_set_cpuid2(vcpu.fd, sup)) {
		status = VL_EXIT_FAIL;
		goto out;
	}
	for (unsigned int it = 0; it < o->iterations; it++) {
		unsigned int outs = 0;
		uint64_t t_start, t0, t1;
		bool halted = false;

		if (vl_vcpu_setup(&vcpu, VL_GUEST_EXIT_LOOP, 0x5a, o->exits, 0))
			break;
		t_start = now_ns();
		for (unsigned int n = 0; n < o->exits + 1 && !halted; n++) {
			int ret;

			t0 = now_ns();
			ret = ioctl(vcpu.fd, KVM_RUN, 0);
			t1 = now_ns();
			if (ret < 0)
				break;
			stat_add(&st, t1 - t0);
			if (vcpu.run->exit_reason == KVM_EXIT_IO)
				outs++;
			else if (vcpu.run->exit_reason == KVM_EXIT_HLT)
				halted = true;
			else
				break;
		}
		total_ns += now_ns() - t_start;
		total_exits += outs + halted;
		if (!halted || outs != o->exits) {
			vl_expect(false, "iteration %u: %u PIO exits then HLT (got %u exits, %s)",
				  it, o->exits, outs, halted ? "halted" : "no HLT");
			status = VL_EXIT_FAIL;
			goto out;
		}
	}

	head = json_pack("{s:s, s:i, s:i, s:s, s:I, s:I, s:I}", "bench", "exit-loop",
			 "exits", o->exits, "iterations", o->iterations, "unit", "ns",
			 "total_ns", (json_int_t)total_ns, "total_exits", (json_int_t)total_exits,
			 "ns_per_exit", (json_int_t)(total_exits ? total_ns / total_exits : 0));
	if (!o->json)
		printf("exit-loop: %u iteration(s) x %u exits: %llu ns per KVM_RUN round trip "
		       "(total %llu ns / %llu exits)\n", o->iterations, o->exits,
		       (unsigned long long)(total_exits ? total_ns / total_exits : 0),
		       (unsigned long long)total_ns, (unsigned long long)total_exits);
	if (report(&st, 1, head, o->json))
		status = VL_EXIT_FAIL;
	json_decref(head);
out:
	vl_vcpu_destroy(&vcpu);
	vl_vm_destroy(&vm);
	free(sup);
	free(st.ns);
	return status;
}

int vl_bench(struct vl_ctx *ctx)
{
	const char *s = ctx->opts->bench_scenario;

	if (!s || !strcmp(s, "lifecycle"))
		return bench_lifecycle(ctx);
	if (!strcmp(s, "exit-loop"))
		return bench_exit_loop(ctx);
	fprintf(stderr, "vcpu-lifecycle: bench --scenario %s: unknown (lifecycle, exit-loop)\n", s);
	return VL_EXIT_USAGE;
}
