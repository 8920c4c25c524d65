// SPDX-License-Identifier: GPL-2.0
/*
 * The lifecycle engine on synthetic event streams: a full lifecycle, a
 * collector started mid-lifecycle, lost and out-of-order events, pid and
 * address reuse, freeing at destroy/exit (leaks show under SAN=1), the
 * state bounds, the pid filter, and each invariant and lint reaching the
 * sinks with its context.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "unit.h"

#include "checks.h"
#include "engine.h"
#include "sinks/sinks.h"
#include "xsw_event_json.h"

static struct xsw_cpu_model spr;

/* --- a sink that records ----------------------------------------------------- */

#define REC_MAX 64

struct rec {
	unsigned int nr_events, nr_findings, nr_gone, closed;
	uint32_t types[REC_MAX];		/* every event, findings included, in order */
	struct xsw_event findings[REC_MAX];
	struct xsw_vcpu_state gone[REC_MAX];
	struct xsw_vcpu_state last_vcpu;	/* @vcpu passed with the last event */
	bool last_had_vcpu;
};

static void rec_event(void *ctx, struct xsw_engine *eng, const struct xsw_event *ev,
		      const struct xsw_vcpu_state *vcpu)
{
	struct rec *r = ctx;

	if (r->nr_events < REC_MAX)
		r->types[r->nr_events] = ev->type;
	r->nr_events++;
	if ((ev->type == XSW_EV_VIOLATION || ev->type == XSW_EV_LINT) && r->nr_findings < REC_MAX)
		r->findings[r->nr_findings++] = *ev;
	r->last_had_vcpu = vcpu != NULL;
	if (vcpu)
		r->last_vcpu = *vcpu;
}

static void rec_gone(void *ctx, struct xsw_engine *eng, const struct xsw_vcpu_state *vcpu)
{
	struct rec *r = ctx;

	if (r->nr_gone < REC_MAX)
		r->gone[r->nr_gone] = *vcpu;
	r->nr_gone++;
}

static void rec_close(void *ctx, struct xsw_engine *eng)
{
	((struct rec *)ctx)->closed++;
}

static struct xsw_engine *new_engine(struct rec *r, bool strict, uint32_t pid_filter)
{
	struct xsw_engine_opts o = {
		.cpu = &spr, .compacted = true, .lints_are_failures = strict,
		.pid_filter = pid_filter,
	};
	struct xsw_sink s = {
		.name = "rec", .ctx = r, .on_event = rec_event, .on_vcpu_gone = rec_gone,
		.close = rec_close,
	};
	struct xsw_engine *eng = xsw_engine_new(&o);

	memset(r, 0, sizeof(*r));
	assert_non_null(eng);
	assert_int_equal(xsw_engine_add_sink(eng, &s), 0);
	return eng;
}

/* --- event builders (Sapphire Rapids figures) -------------------------------- */

#define PID 4242
#define VM1 0xffff888104a20000ull
#define VM2 0xffff888104a28000ull

static uint64_t now;

static struct xsw_event base(uint32_t type, uint32_t pid, uint64_t vm, int32_t vcpu)
{
	struct xsw_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.ts_ns = ++now;
	ev.type = type;
	ev.source = XSW_SRC_REPLAY;
	ev.pid = ev.tid = pid;
	snprintf(ev.comm, sizeof(ev.comm), "qemu-system-x86");
	ev.vm = vm;
	ev.vcpu_id = vcpu;
	return ev;
}

static struct xsw_fpstate fps(uint32_t size, uint32_t user_size, uint64_t xf)
{
	struct xsw_fpstate f = { 0 };

	f.size = size;
	f.user_size = user_size;
	f.xfeatures = f.user_xfeatures = xf;
	f.is_guest = f.valid = 1;
	return f;
}

static struct xsw_perm perm(uint64_t mask, bool locked)
{
	struct xsw_perm p = { 0 };

	p.perm = mask;
	p.size = xsw_xstate_size(&spr, mask, true);
	p.user_size = xsw_xstate_size(&spr, mask, false);
	p.locked = locked;
	p.valid = 1;
	return p;
}

static void feed_perm_request(struct xsw_engine *eng, uint32_t pid, int ret, uint64_t before,
			      uint64_t after, bool locked)
{
	struct xsw_event ev = base(XSW_EV_PERM_REQUEST, pid, 0, -1);

	ev.ret = ret;
	ev.perm.option = 0x1025;
	ev.perm.guest = ev.perm.request = 1;
	ev.perm.arg = XSW_XF_XTILE_DATA;
	ev.perm.before = perm(before, locked);
	ev.perm.after = perm(after, locked);
	xsw_engine_feed(eng, &ev);
}

static void feed_supported(struct xsw_engine *eng, uint32_t pid, uint64_t perm_mask)
{
	struct xsw_event ev = base(XSW_EV_SUPPORTED_CPUID, pid, 0, -1);

	ev.supported.system = 1;
	ev.supported.cpuid.xcr0 = perm_mask;
	ev.supported.cpuid.has_leaf_d = 1;
	ev.supported.guest_perm = perm(perm_mask, false);
	xsw_engine_feed(eng, &ev);
}

static void feed_vm(struct xsw_engine *eng, uint32_t pid, uint64_t vm, const char *comm)
{
	struct xsw_event ev = base(XSW_EV_VM_CREATE, pid, vm, -1);

	if (comm)
		snprintf(ev.comm, sizeof(ev.comm), "%s", comm);
	xsw_engine_feed(eng, &ev);
}

static void feed_vcpu(struct xsw_engine *eng, uint32_t pid, uint64_t vm, int id, uint64_t perm_mask)
{
	struct xsw_event ev = base(XSW_EV_VCPU_CREATE, pid, vm, id);

	ev.duration_ns = 12345;
	ev.vcpu.fps = fps(2440, 2696, 0x2e7);
	ev.vcpu.guest_perm = perm(perm_mask, true);
	ev.vcpu.uabi_size = 2696;
	xsw_engine_feed(eng, &ev);
}

static void feed_realloc(struct xsw_engine *eng, uint32_t pid, uint64_t vm, int id, int ret,
			 uint32_t old_size, uint32_t new_size)
{
	struct xsw_event ev = base(XSW_EV_FPSTATE_REALLOC, pid, vm, id);

	ev.ret = ret;
	ev.realloc.xfeatures_added = 0x60000;
	ev.realloc.old_size = old_size;
	ev.realloc.new_size = new_size;
	ev.realloc.user_size = 11008;
	ev.realloc.guest = 1;
	ev.realloc.xfeatures = ev.realloc.user_xfeatures = 0x602e7;
	xsw_engine_feed(eng, &ev);
}

static void feed_set_cpuid(struct xsw_engine *eng, uint32_t pid, uint64_t vm, int id,
			   uint64_t xcr0, uint32_t fps_size, uint64_t perm_mask)
{
	struct xsw_event ev = base(XSW_EV_SET_CPUID, pid, vm, id);

	ev.duration_ns = 777;
	ev.set_cpuid.cpuid.xcr0 = xcr0;
	ev.set_cpuid.cpuid.size_std = xsw_xstate_size(&spr, xcr0, false);
	ev.set_cpuid.cpuid.size_max = ev.set_cpuid.cpuid.size_std;
	ev.set_cpuid.cpuid.has_leaf_d = 1;
	ev.set_cpuid.guest_supported_xcr0 = xcr0;
	ev.set_cpuid.guest_perm = perm(perm_mask, true);
	ev.set_cpuid.fps = fps(fps_size, xsw_xstate_size(&spr, xcr0, false), xcr0);
	xsw_engine_feed(eng, &ev);
}

static void feed_run(struct xsw_engine *eng, uint32_t type, uint32_t pid, uint64_t vm, int id,
		     uint64_t guest_xcr0)
{
	struct xsw_event ev = base(type, pid, vm, id);

	ev.run.guest_xcr0 = guest_xcr0;
	xsw_engine_feed(eng, &ev);
}

static void feed_simple(struct xsw_engine *eng, uint32_t type, uint32_t pid, uint64_t vm, int id)
{
	struct xsw_event ev = base(type, pid, vm, id);

	xsw_engine_feed(eng, &ev);
}

struct count_arg {
	unsigned int n;
	struct xsw_vcpu_state last;
};

static void count_vcpus(const struct xsw_vcpu_state *v, void *arg)
{
	struct count_arg *c = arg;

	c->n++;
	c->last = *v;
}

/* --- tests ------------------------------------------------------------------- */

static int setup(void **state)
{
	xsw_test_load_cpu(&spr, "sapphire-rapids-w9-3475x.cpu");
	return 0;
}

/* QEMU-like AMX lifecycle with two vCPUs: every state transition, no finding. */
static void test_full_lifecycle(void **state)
{
	const struct xsw_proc_state *p;
	const struct xsw_engine_totals *t;
	struct count_arg c = { 0 };
	struct rec r;
	struct xsw_engine *eng = new_engine(&r, true, 0);
	int i;

	feed_perm_request(eng, PID, 0, 0x2e7, 0x602e7, false);
	p = xsw_engine_proc(eng, PID);
	assert_non_null(p);
	assert_true(p->perm_requested);
	assert_false(p->perm_locked);
	assert_int_equal(p->guest_perm.perm, 0x602e7);
	feed_supported(eng, PID, 0x602e7);
	assert_true(p->supported_cpuid_read);
	feed_vm(eng, PID, VM1, NULL);
	assert_int_equal(p->nr_vms, 1);
	for (i = 0; i < 2; i++) {
		feed_vcpu(eng, PID, VM1, i, 0x602e7);
		assert_true(p->perm_locked);
		assert_true(r.last_had_vcpu);
		assert_int_equal(r.last_vcpu.vcpu_id, i);
		assert_true(r.last_vcpu.created_seen);
		assert_int_equal(r.last_vcpu.create_latency_ns, 12345);
		feed_realloc(eng, PID, VM1, i, 0, 2440, 10752);
		assert_int_equal(r.last_vcpu.fps.size, 10752);
		assert_int_equal(r.last_vcpu.uabi_size, 11008);
		assert_int_equal(r.last_vcpu.nr_reallocs, 1);
		feed_set_cpuid(eng, PID, VM1, i, 0x602e7, 10752, 0x602e7);
		assert_int_equal(r.last_vcpu.cpuid_generation, 1);
		assert_int_equal(r.last_vcpu.set_cpuid_latency_ns, 777);
		assert_int_equal(r.last_vcpu.required_size, 10752);
		assert_int_equal(r.last_vcpu.headroom, 0);
		assert_int_equal(r.last_vcpu.status, XSW_VCPU_OK);
		feed_run(eng, XSW_EV_FIRST_RUN, PID, VM1, i, 0x3);
		assert_true(r.last_vcpu.ran);
		feed_run(eng, XSW_EV_XCR0_CHANGE, PID, VM1, i, 0x602e7);
		assert_int_equal(r.last_vcpu.guest_xcr0, 0x602e7);
		assert_int_equal(r.last_vcpu.nr_xcr0_changes, 1);
	}
	assert_int_equal(p->nr_vcpus, 2);
	xsw_engine_foreach_vcpu(eng, count_vcpus, &c);
	assert_int_equal(c.n, 2);

	feed_simple(eng, XSW_EV_VCPU_DESTROY, PID, VM1, 0);
	assert_int_equal(r.nr_gone, 1);
	assert_true(r.gone[0].destroyed);
	assert_int_equal(r.gone[0].verdict[XSW_CHECK_I1], XSW_VERDICT_HOLDS);
	assert_int_equal(r.gone[0].verdict[XSW_CHECK_I2], XSW_VERDICT_HOLDS);
	assert_int_equal(r.gone[0].verdict[XSW_CHECK_I3], XSW_VERDICT_HOLDS);
	assert_int_equal(r.gone[0].verdict[XSW_CHECK_I4], XSW_VERDICT_HOLDS);
	assert_int_equal(r.gone[0].verdict[XSW_CHECK_I5], XSW_VERDICT_NA);
	feed_simple(eng, XSW_EV_VM_DESTROY, PID, VM1, -1);
	assert_int_equal(r.nr_gone, 2);	/* vCPU 1 went with its VM */
	assert_int_equal(p->nr_vms, 0);
	feed_simple(eng, XSW_EV_PROCESS_EXIT, PID, 0, -1);
	assert_null(xsw_engine_proc(eng, PID));

	t = xsw_engine_totals(eng);
	assert_int_equal(t->vcpus_seen, 2);
	assert_int_equal(t->vcpus_live, 0);
	assert_int_equal(t->violations, 0);
	assert_int_equal(t->lints, 0);
	assert_int_equal(r.nr_findings, 0);
	assert_int_equal(t->events[XSW_EV_SET_CPUID], 2);
	assert_false(xsw_engine_failed(eng));
	xsw_engine_free(eng);
	assert_int_equal(r.closed, 1);
}

/* Started mid-lifecycle: the first event about a vCPU is its KVM_SET_CPUID2. */
static void test_mid_lifecycle(void **state)
{
	struct rec r;
	struct xsw_engine *eng = new_engine(&r, false, 0);

	/* A run event alone says too little to check I2: status unknown. */
	feed_run(eng, XSW_EV_FIRST_RUN, PID, VM1, 3, 0x7);
	assert_true(r.last_had_vcpu);
	assert_false(r.last_vcpu.created_seen);
	assert_int_equal(r.last_vcpu.status, XSW_VCPU_UNKNOWN);
	assert_int_equal(r.last_vcpu.verdict[XSW_CHECK_I2], XSW_VERDICT_UNKNOWN);

	/* Its VM was never seen created: adopted with index 0. */
	feed_set_cpuid(eng, PID, VM1, 4, 0x2e7, 2440, 0x2e7);
	assert_int_equal(r.last_vcpu.vm_index, 0);
	assert_int_equal(r.last_vcpu.status, XSW_VCPU_OK);
	assert_int_equal(r.last_vcpu.verdict[XSW_CHECK_I2], XSW_VERDICT_HOLDS);
	assert_int_equal(xsw_engine_totals(eng)->vcpus_live, 2);
	assert_int_equal(r.nr_findings, 0);

	/* Destroy/exit of things never seen: no state, no crash, no finding. */
	feed_simple(eng, XSW_EV_VCPU_DESTROY, PID, VM1, 9);
	feed_simple(eng, XSW_EV_VM_DESTROY, PID, VM2, -1);
	feed_simple(eng, XSW_EV_PROCESS_EXIT, 777, 0, -1);
	assert_null(xsw_engine_proc(eng, 777));
	assert_int_equal(xsw_engine_totals(eng)->vcpus_live, 2);
	assert_int_equal(r.nr_findings, 0);

	/* A trace ending with live vCPUs: the sinks still see each one go. */
	xsw_engine_free(eng);
	assert_int_equal(r.nr_gone, 2);
	assert_false(r.gone[0].destroyed);
}

static void test_lost_events(void **state)
{
	struct xsw_event ev = base(XSW_EV_LOST, 0, 0, -1);
	struct rec r;
	struct xsw_engine *eng = new_engine(&r, false, PID);

	ev.lost.count = 5;
	xsw_engine_feed(eng, &ev);
	ev.lost.count = 7;
	xsw_engine_feed(eng, &ev);	/* the pid filter never hides drops */
	assert_int_equal(xsw_engine_totals(eng)->lost, 12);
	assert_int_equal(xsw_engine_totals(eng)->events[XSW_EV_LOST], 2);
	assert_int_equal(r.nr_events, 2);
	assert_false(r.last_had_vcpu);
	xsw_engine_free(eng);
}

/* A vcpu_create for an id that exists: its destroy was lost. */
static void test_stale_vcpu_replaced(void **state)
{
	struct rec r;
	struct xsw_engine *eng = new_engine(&r, false, 0);

	feed_vm(eng, PID, VM1, NULL);
	feed_vcpu(eng, PID, VM1, 0, 0x2e7);
	feed_set_cpuid(eng, PID, VM1, 0, 0x2e7, 2440, 0x2e7);
	feed_vcpu(eng, PID, VM1, 0, 0x2e7);
	assert_int_equal(r.nr_gone, 1);
	assert_int_equal(r.gone[0].cpuid_generation, 1);
	assert_int_equal(r.last_vcpu.cpuid_generation, 0);
	assert_int_equal(xsw_engine_totals(eng)->vcpus_live, 1);
	assert_int_equal(xsw_engine_totals(eng)->vcpus_seen, 2);
	assert_int_equal(xsw_engine_proc(eng, PID)->nr_vcpus, 1);

	/* The kernel reused a struct kvm address: the old VM is gone. */
	feed_vm(eng, PID, VM1, NULL);
	assert_int_equal(r.nr_gone, 2);
	assert_int_equal(xsw_engine_proc(eng, PID)->nr_vms, 1);
	assert_int_equal(xsw_engine_totals(eng)->vcpus_live, 0);
	xsw_engine_free(eng);
}

static void test_pid_reuse(void **state)
{
	const struct xsw_proc_state *p;
	struct xsw_event ev;
	struct rec r;
	struct xsw_engine *eng = new_engine(&r, false, 0);

	/* After a seen exit: the new process starts clean. */
	feed_perm_request(eng, PID, 0, 0x2e7, 0x602e7, false);
	feed_vm(eng, PID, VM1, NULL);
	feed_vcpu(eng, PID, VM1, 0, 0x602e7);
	feed_simple(eng, XSW_EV_PROCESS_EXIT, PID, 0, -1);
	assert_int_equal(r.nr_gone, 1);
	feed_vm(eng, PID, VM2, "crosvm");
	p = xsw_engine_proc(eng, PID);
	assert_non_null(p);
	assert_false(p->perm_requested);
	assert_false(p->perm_locked);
	assert_string_equal(p->comm, "crosvm");

	/* A vCPU thread with its own name does not rename the process. */
	ev = base(XSW_EV_VCPU_CREATE, PID, VM2, 0);
	ev.tid = PID + 1;
	snprintf(ev.comm, sizeof(ev.comm), "CPU 0/KVM");
	xsw_engine_feed(eng, &ev);
	assert_true(p->perm_locked);
	assert_string_equal(p->comm, "crosvm");
	feed_vm(eng, PID, VM1, "crosvm");
	assert_int_equal(p->nr_vms, 2);
	assert_int_equal(p->nr_vcpus, 1);

	/* Exit missed: a new VM from a different program is a new process. */
	feed_vm(eng, PID, VM2 + 0x1000, "qemu-system-x86");
	p = xsw_engine_proc(eng, PID);
	assert_non_null(p);
	assert_false(p->perm_locked);
	assert_int_equal(p->nr_vms, 1);
	assert_int_equal(p->nr_vcpus, 0);
	assert_int_equal(r.nr_gone, 2);
	assert_int_equal(xsw_engine_totals(eng)->vcpus_live, 0);

	/* The same program creating a second VM is not reuse. */
	feed_vm(eng, PID, VM2, "qemu-system-x86");
	assert_int_equal(xsw_engine_proc(eng, PID)->nr_vms, 2);
	xsw_engine_free(eng);
}

static void test_pid_filter(void **state)
{
	struct rec r;
	struct xsw_engine *eng = new_engine(&r, false, PID);

	feed_vm(eng, PID + 1, VM1, NULL);
	feed_vcpu(eng, PID + 1, VM1, 0, 0x2e7);
	assert_null(xsw_engine_proc(eng, PID + 1));
	assert_int_equal(r.nr_events, 0);
	feed_vm(eng, PID, VM1, NULL);
	assert_non_null(xsw_engine_proc(eng, PID));
	assert_int_equal(r.nr_events, 1);
	xsw_engine_free(eng);
}

/* Past XSW_ENGINE_MAX_VCPUS nothing new is tracked, but everything is counted. */
static void test_bounds(void **state)
{
	struct rec r;
	struct xsw_engine *eng = new_engine(&r, false, 0);
	int i;

	for (i = 0; i < XSW_ENGINE_MAX_VCPUS + 3; i++)
		feed_vcpu(eng, PID, VM1, i, 0x2e7);
	assert_int_equal(xsw_engine_totals(eng)->vcpus_live, XSW_ENGINE_MAX_VCPUS);
	assert_int_equal(xsw_engine_totals(eng)->untracked, 3);
	assert_int_equal(xsw_engine_totals(eng)->events[XSW_EV_VCPU_CREATE],
			 XSW_ENGINE_MAX_VCPUS + 3);
	feed_simple(eng, XSW_EV_PROCESS_EXIT, PID, 0, -1);
	assert_int_equal(xsw_engine_totals(eng)->vcpus_live, 0);
	assert_int_equal(r.nr_gone, XSW_ENGINE_MAX_VCPUS);
	xsw_engine_free(eng);
}

/* At the process bound, the longest-quiet process without vCPUs makes room. */
static void test_proc_bound(void **state)
{
	struct rec r;
	struct xsw_engine *eng = new_engine(&r, false, 0);
	uint32_t pid;

	feed_vm(eng, 1, VM1, NULL);
	feed_vcpu(eng, 1, VM1, 0, 0x2e7);		/* has a vCPU: kept */
	for (pid = 2; pid <= XSW_ENGINE_MAX_PROCS; pid++)
		feed_supported(eng, pid, 0x2e7);	/* e.g. their exits were lost */
	feed_vm(eng, XSW_ENGINE_MAX_PROCS + 1, VM2, NULL);
	assert_non_null(xsw_engine_proc(eng, XSW_ENGINE_MAX_PROCS + 1));
	assert_non_null(xsw_engine_proc(eng, 1));
	assert_null(xsw_engine_proc(eng, 2));		/* the quietest one */
	assert_non_null(xsw_engine_proc(eng, 3));
	assert_int_equal(xsw_engine_totals(eng)->untracked, 0);
	xsw_engine_free(eng);
}

/* Finding @i is @id about vCPU @vcpu, caused by @cause, right after it. */
static void assert_finding(const struct rec *r, unsigned int i, uint32_t type, const char *id,
			   int vcpu, uint32_t cause)
{
	const struct xsw_event *f = &r->findings[i];

	assert_true(i < r->nr_findings);
	assert_int_equal(f->type, type);
	assert_string_equal(f->finding.id, id);
	assert_int_equal(f->vcpu_id, vcpu);
	assert_int_equal(f->pid, PID);
	assert_string_equal(f->comm, "qemu-system-x86");
	assert_int_equal(f->source, XSW_SRC_CHECK);
	assert_int_equal(f->finding.cause_type, cause);
	assert_true(f->finding.text[0] != '\0');
}

static void test_violations(void **state)
{
	const struct xsw_engine_totals *t;
	struct rec r;
	struct xsw_engine *eng = new_engine(&r, false, 0);

	feed_vm(eng, PID, VM1, NULL);
	feed_vcpu(eng, PID, VM1, 0, 0x2e7);
	/* AMX in the CPUID without permission and without a bigger buffer. */
	feed_set_cpuid(eng, PID, VM1, 0, 0x602e7, 2440, 0x2e7);
	assert_int_equal(r.nr_findings, 4);
	assert_finding(&r, 0, XSW_EV_VIOLATION, "I1", 0, XSW_EV_SET_CPUID);
	assert_finding(&r, 1, XSW_EV_VIOLATION, "I2", 0, XSW_EV_SET_CPUID);
	assert_int_equal(r.findings[1].finding.have_size, 2440);
	assert_int_equal(r.findings[1].finding.need_size, 10752);
	assert_int_equal(r.findings[1].vm, VM1);
	/* guest_fpu.uabi_size is still the vcpu_create figure, 2696. */
	assert_finding(&r, 2, XSW_EV_VIOLATION, "I4", 0, XSW_EV_SET_CPUID);
	assert_int_equal(r.findings[2].finding.need_size, 11008);
	assert_finding(&r, 3, XSW_EV_VIOLATION, "I3", 0, XSW_EV_SET_CPUID);
	/* Order: the cause, then its findings. */
	assert_int_equal(r.types[r.nr_events - 5], XSW_EV_SET_CPUID);
	assert_int_equal(r.last_vcpu.status, XSW_VCPU_VIOLATION);
	assert_int_equal(r.last_vcpu.headroom, 2440 - 10752);

	/* The same problem at the first run: not reported twice ... */
	feed_run(eng, XSW_EV_FIRST_RUN, PID, VM1, 0, 0x7);
	assert_int_equal(r.nr_findings, 4);
	/* ... but a changed one is (the buffer shrank further). */
	feed_realloc(eng, PID, VM1, 0, 0, 2440, 1024);
	assert_true(r.nr_findings > 4);
	assert_finding(&r, 4, XSW_EV_VIOLATION, "I2", 0, XSW_EV_FPSTATE_REALLOC);
	assert_int_equal(r.findings[4].finding.have_size, 1024);

	t = xsw_engine_totals(eng);
	assert_int_equal(t->violations, r.nr_findings);
	assert_int_equal(t->events[XSW_EV_VIOLATION], r.nr_findings);
	assert_true(xsw_engine_failed(eng));
	feed_simple(eng, XSW_EV_PROCESS_EXIT, PID, 0, -1);
	assert_int_equal(r.gone[0].verdict[XSW_CHECK_I2], XSW_VERDICT_FAILS);
	assert_int_equal(r.gone[0].verdict[XSW_CHECK_I3], XSW_VERDICT_FAILS);
	assert_int_equal(r.gone[0].verdict[XSW_CHECK_I5], XSW_VERDICT_NA);
	xsw_engine_free(eng);
}

static void test_i4_uabi(void **state)
{
	struct rec r;
	struct xsw_engine *eng = new_engine(&r, false, 0);

	/* Permission, CPUID and buffer agree, but guest_fpu.uabi_size stayed 2696. */
	feed_vm(eng, PID, VM1, NULL);
	feed_vcpu(eng, PID, VM1, 0, 0x602e7);
	feed_set_cpuid(eng, PID, VM1, 0, 0x602e7, 10752, 0x602e7);
	assert_int_equal(r.nr_findings, 1);
	assert_finding(&r, 0, XSW_EV_VIOLATION, "I4", 0, XSW_EV_SET_CPUID);
	assert_int_equal(r.findings[0].finding.have_size, 2696);
	assert_int_equal(r.findings[0].finding.need_size, 11008);
	xsw_engine_free(eng);
}

static void test_i5_hypervisor(void **state)
{
	struct xsw_event ev = base(XSW_EV_SET_CPUID, PID, VM1, 0);
	struct rec r;
	struct xsw_engine *eng = new_engine(&r, false, 0);

	ev.source = XSW_SRC_MODEL;
	ev.set_cpuid.cpuid.xcr0 = ev.set_cpuid.guest_supported_xcr0 = 0x2e7;
	ev.set_cpuid.cpuid.size_std = ev.set_cpuid.cpuid.size_max = 2696;
	ev.set_cpuid.cpuid.has_leaf_d = 1;
	ev.set_cpuid.guest_perm = perm(0x2e7, true);
	ev.set_cpuid.fps = fps(2440, 2696, 0x2e7);
	ev.set_cpuid.hyp_buffer_size = 4096;
	ev.set_cpuid.hyp_xcr0 = 0x602e7;
	xsw_engine_feed(eng, &ev);
	assert_int_equal(r.nr_findings, 1);
	assert_finding(&r, 0, XSW_EV_VIOLATION, "I5", 0, XSW_EV_SET_CPUID);
	assert_int_equal(r.findings[0].finding.have_size, 4096);
	assert_int_equal(r.findings[0].finding.need_size, 10752);
	/* The hypervisor's realloc fails: a violation, not the host's error path. */
	feed_realloc(eng, PID, VM1, 0, -ENOMEM, 4096, 10752);
	assert_int_equal(r.nr_findings, 2);
	assert_finding(&r, 1, XSW_EV_VIOLATION, "I5", 0, XSW_EV_FPSTATE_REALLOC);
	assert_non_null(strstr(r.findings[1].finding.text, "ENOMEM"));
	/* The same ENOMEM for a host vCPU is KVM refusing: no finding. */
	feed_vm(eng, PID + 1, VM2, NULL);
	feed_vcpu(eng, PID + 1, VM2, 0, 0x602e7);
	feed_realloc(eng, PID + 1, VM2, 0, -ENOMEM, 2440, 10752);
	assert_int_equal(r.nr_findings, 2);
	xsw_engine_free(eng);
}

static void test_lints(void **state)
{
	struct rec r;
	struct xsw_engine *eng;
	struct xsw_event ev;
	int strict;

	for (strict = 0; strict < 2; strict++) {
		eng = new_engine(&r, strict, 0);
		feed_supported(eng, PID, 0x2e7);
		feed_perm_request(eng, PID, 0, 0x2e7, 0x602e7, false);
		assert_int_equal(r.nr_findings, 1);
		assert_finding(&r, 0, XSW_EV_LINT, "cpuid-pre-perm", -1, XSW_EV_PERM_REQUEST);
		feed_vm(eng, PID, VM1, NULL);
		feed_vcpu(eng, PID, VM1, 0, 0x602e7);
		feed_perm_request(eng, PID, -EBUSY, 0x602e7, 0x602e7, true);
		assert_int_equal(r.nr_findings, 2);
		assert_finding(&r, 1, XSW_EV_LINT, "perm-after-lock", -1, XSW_EV_PERM_REQUEST);
		feed_realloc(eng, PID, VM1, 0, 0, 2440, 10752);
		/* A CPUID whose 0xD.0 EBX understates its own xcr0. */
		ev = base(XSW_EV_SET_CPUID, PID, VM1, 0);
		ev.set_cpuid.cpuid.xcr0 = ev.set_cpuid.guest_supported_xcr0 = 0x602e7;
		ev.set_cpuid.cpuid.size_max = 2696;
		ev.set_cpuid.cpuid.has_leaf_d = 1;
		ev.set_cpuid.fps = fps(10752, 11008, 0x602e7);
		xsw_engine_feed(eng, &ev);
		assert_int_equal(r.nr_findings, 3);
		assert_finding(&r, 2, XSW_EV_LINT, "cpuid-size-low", 0, XSW_EV_SET_CPUID);
		feed_run(eng, XSW_EV_FIRST_RUN, PID, VM1, 0, 0x7);
		/* The same CPUID again after KVM_RUN: fine. AMX dropped: a lint. */
		feed_set_cpuid(eng, PID, VM1, 0, 0x602e7, 10752, 0x602e7);
		assert_int_equal(r.nr_findings, 3);
		feed_set_cpuid(eng, PID, VM1, 0, 0x2e7, 10752, 0x602e7);
		assert_int_equal(r.nr_findings, 4);
		assert_finding(&r, 3, XSW_EV_LINT, "cpuid-after-run", 0, XSW_EV_SET_CPUID);
		assert_int_equal(r.last_vcpu.cpuid_generation, 3);
		assert_int_equal(r.last_vcpu.status, XSW_VCPU_LINT);
		/* Process-level lints fire once per process. */
		feed_perm_request(eng, PID, -EBUSY, 0x602e7, 0x602e7, true);
		assert_int_equal(r.nr_findings, 4);
		assert_int_equal(xsw_engine_totals(eng)->lints, 4);
		assert_int_equal(xsw_engine_totals(eng)->violations, 0);
		assert_int_equal(xsw_engine_failed(eng), strict);
		xsw_engine_free(eng);
	}
}

/* KVM_GET_SUPPORTED_CPUID failing with E2BIG (buffer sizing) read no table. */
static void test_supported_e2big(void **state)
{
	struct xsw_event ev = base(XSW_EV_SUPPORTED_CPUID, PID, 0, -1);
	struct rec r;
	struct xsw_engine *eng = new_engine(&r, false, 0);

	ev.ret = -E2BIG;
	xsw_engine_feed(eng, &ev);
	assert_false(xsw_engine_proc(eng, PID)->supported_cpuid_read);
	feed_perm_request(eng, PID, 0, 0x2e7, 0x602e7, false);
	assert_int_equal(r.nr_findings, 0);
	xsw_engine_free(eng);
}

/* Violation/lint records in a replayed --json file are derived again, not trusted. */
static void test_input_findings_ignored(void **state)
{
	struct xsw_event ev = base(XSW_EV_VIOLATION, PID, VM1, 0);
	struct rec r;
	struct xsw_engine *eng = new_engine(&r, false, 0);

	snprintf(ev.finding.id, sizeof(ev.finding.id), "I2");
	xsw_engine_feed(eng, &ev);
	assert_int_equal(r.nr_events, 0);
	assert_int_equal(xsw_engine_totals(eng)->violations, 0);
	assert_int_equal(xsw_engine_totals(eng)->ignored, 1);
	assert_false(xsw_engine_failed(eng));
	xsw_engine_free(eng);
}

/* Count lines of @buf starting with @prefix. */
static unsigned int count_lines(const char *buf, const char *prefix)
{
	unsigned int n = 0;
	const char *p = buf;

	while (p && *p) {
		if (!strncmp(p, prefix, strlen(prefix)))
			n++;
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return n;
}

/* KTAP: the plan matches the points, the totals match the points. */
static void test_ktap_sink(void **state)
{
	struct xsw_engine_opts o = { .cpu = &spr, .compacted = true };
	struct xsw_engine *eng = xsw_engine_new(&o);
	struct xsw_sink sink;
	char *buf = NULL, plan[32], totals[128], last[64];
	unsigned int ok, not_ok, skip;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(xsw_ktap_sink_new(f, true, &sink), 0);
	assert_int_equal(xsw_engine_add_sink(eng, &sink), 0);
	feed_vm(eng, PID, VM1, NULL);
	feed_vcpu(eng, PID, VM1, 0, 0x602e7);
	feed_realloc(eng, PID, VM1, 0, 0, 2440, 10752);
	feed_set_cpuid(eng, PID, VM1, 0, 0x602e7, 10752, 0x602e7);	/* clean */
	feed_vcpu(eng, PID, VM1, 1, 0x602e7);
	feed_set_cpuid(eng, PID, VM1, 1, 0x602e7, 4096, 0x602e7);	/* I1, I2, I4 fail */
	xsw_engine_free(eng);	/* writes and closes */
	assert_non_null(buf);

	ok = count_lines(buf, "ok ");
	not_ok = count_lines(buf, "not ok ");
	skip = 0;
	for (const char *p = strstr(buf, "# SKIP"); p; p = strstr(p + 1, "# SKIP"))
		skip++;
	assert_int_equal(strncmp(buf, "KTAP version 1\n", 15), 0);
	snprintf(plan, sizeof(plan), "\n1..%u\n", ok + not_ok);
	assert_non_null(strstr(buf, plan));
	assert_int_equal(ok + not_ok, 2 * (1 + XSW_NR_INVARIANTS) + 1);
	assert_int_equal(not_ok, 3);
	assert_non_null(strstr(buf, "not ok 9 pid 4242 (qemu-system-x86) vm0 vcpu1 I2 guest coverage\n"
				    "# violation I2: have 4096 need 10752"));
	snprintf(totals, sizeof(totals), "# Totals: pass:%u fail:%u xfail:0 xpass:0 skip:%u error:0\n",
		 ok - skip, not_ok, skip);
	assert_non_null(strstr(buf, totals));
	snprintf(last, sizeof(last), "\n%u passed, %u failed\n", ok - skip, not_ok);
	assert_non_null(strstr(buf, last));
	assert_int_equal(strcmp(buf + strlen(buf) - strlen(last), last), 0);
	free(buf);
}

/* JSON sink: every event and finding, in order, readable by the codec. */
static void test_json_sink(void **state)
{
	struct xsw_engine_opts o = { .cpu = &spr, .compacted = true };
	struct xsw_engine *eng = xsw_engine_new(&o);
	struct xsw_err err = { 0 };
	struct xsw_event ev;
	struct xsw_sink sink;
	char *buf = NULL, *line, *save = NULL;
	size_t len = 0;
	unsigned int n = 0, findings = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(xsw_json_sink_new(f, true, &sink), 0);
	assert_int_equal(xsw_engine_add_sink(eng, &sink), 0);
	feed_vm(eng, PID, VM1, NULL);
	feed_vcpu(eng, PID, VM1, 0, 0x2e7);
	feed_set_cpuid(eng, PID, VM1, 0, 0x602e7, 2440, 0x2e7);
	xsw_engine_free(eng);
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		assert_int_equal(xsw_event_from_json(line, &ev, "json-sink", ++n, &err), 0);
		if (ev.type == XSW_EV_VIOLATION) {
			findings++;
			assert_int_equal(ev.finding.cause_type, XSW_EV_SET_CPUID);
		}
	}
	assert_int_equal(n, 3 + findings);
	assert_true(findings >= 3);	/* I1, I2, I3 (and I4) */
	free(buf);
}

/* The table: one row per vCPU, gone vCPUs shown once more. */
static void test_table_sink(void **state)
{
	struct xsw_engine_opts o = { .cpu = &spr, .compacted = true };
	struct xsw_engine *eng = xsw_engine_new(&o);
	struct xsw_table *t;
	struct xsw_sink sink;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	t = xsw_table_sink_new(f, false, &sink);
	assert_non_null(t);
	assert_int_equal(xsw_engine_add_sink(eng, &sink), 0);
	feed_vm(eng, PID, VM1, NULL);
	feed_vcpu(eng, PID, VM1, 0, 0x602e7);
	feed_realloc(eng, PID, VM1, 0, 0, 2440, 10752);
	feed_set_cpuid(eng, PID, VM1, 0, 0x602e7, 10752, 0x602e7);
	feed_vcpu(eng, PID, VM1, 1, 0x602e7);
	feed_simple(eng, XSW_EV_VCPU_DESTROY, PID, VM1, 1);
	xsw_table_render(t, eng, "hdr");
	fflush(f);
	assert_non_null(strstr(buf, "   4242 qemu-system-x86   0     0    0x602e7    0x602e7    10752    10752        0  ok\n"));
	assert_non_null(strstr(buf, "   4242 qemu-system-x86   0     1    0x602e7          -     2440        -        -  ok (gone)\n"));
	xsw_table_render(t, eng, "hdr");
	fflush(f);
	assert_int_equal(count_lines(buf, "   4242 qemu-system-x86   0     1 "), 1);	/* gone: once */
	assert_int_equal(count_lines(buf, "   4242 qemu-system-x86   0     0 "), 2);
	xsw_engine_free(eng);
	fclose(f);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_lifecycle),
		cmocka_unit_test(test_mid_lifecycle),
		cmocka_unit_test(test_lost_events),
		cmocka_unit_test(test_stale_vcpu_replaced),
		cmocka_unit_test(test_pid_reuse),
		cmocka_unit_test(test_pid_filter),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_proc_bound),
		cmocka_unit_test(test_violations),
		cmocka_unit_test(test_i4_uabi),
		cmocka_unit_test(test_i5_hypervisor),
		cmocka_unit_test(test_lints),
		cmocka_unit_test(test_supported_e2big),
		cmocka_unit_test(test_input_findings_ignored),
		cmocka_unit_test(test_ktap_sink),
		cmocka_unit_test(test_json_sink),
		cmocka_unit_test(test_table_sink),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
