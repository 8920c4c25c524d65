// SPDX-License-Identifier: GPL-2.0
/*
 * The lifecycle engine (engine.h): folds events into process -> VM -> vCPU
 * state, runs the checks, fans events and findings out to the sinks.
 *
 * The collector may start in the middle of a lifecycle, the ring buffer may
 * drop events, and pids are reused, so no event is assumed to have a
 * predecessor: an event about a vCPU the engine has never seen adopts it
 * (fields it cannot know stay unknown, status UNKNOWN until a check can
 * run), a vcpu_create for an id that already exists replaces the stale
 * vCPU, and a vm_create from a pid whose comm changed starts a new process.
 * State is freed at vcpu_destroy, vm_destroy and process_exit, and bounded
 * (XSW_ENGINE_MAX_PROCS, XSW_ENGINE_MAX_VCPUS): events past the bounds are
 * still passed to the sinks, unchecked, and counted.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "checks.h"
#include "engine.h"

#define PROC_BUCKETS 256
#define MAX_SINKS 8

struct vm;

/* What makes two findings of one check "the same problem". */
struct finding_sig {
	uint64_t have_size, need_size, have_mask, need_mask;
};

struct vcpu {
	struct xsw_vcpu_state st;
	struct vcpu *next;
	struct vm *vm;
	/* Last finding per check, so an unchanged problem is reported once. */
	bool reported[XSW_CHECK_MAX];
	struct finding_sig last[XSW_CHECK_MAX];
};

struct vm {
	uint64_t id;
	unsigned int index;
	struct vcpu *vcpus;
	struct vm *next;
};

struct proc {
	struct xsw_proc_state st;
	struct vm *vms;
	struct proc *next;
	unsigned int next_vm_index;
	bool reported[XSW_CHECK_MAX];	/* process-level lints fire once */
	bool leader_comm_known;		/* st.comm came from the main thread */
	uint64_t last_ts;		/* last event, for eviction at the bound */
};

struct xsw_engine {
	struct xsw_engine_opts opts;
	struct xsw_checker checker;
	struct xsw_sink sinks[MAX_SINKS];
	unsigned int nr_sinks;
	struct proc *procs[PROC_BUCKETS];
	unsigned int nr_procs;
	struct xsw_engine_totals totals;
};

struct xsw_engine *xsw_engine_new(const struct xsw_engine_opts *opts)
{
	struct xsw_engine *eng;

	if (!opts || !opts->cpu) {
		errno = EINVAL;
		return NULL;
	}
	eng = calloc(1, sizeof(*eng));
	if (!eng)
		return NULL;
	eng->opts = *opts;
	xsw_checker_init(&eng->checker, opts->cpu, opts->compacted);
	return eng;
}

int xsw_engine_add_sink(struct xsw_engine *eng, const struct xsw_sink *sink)
{
	if (eng->nr_sinks >= MAX_SINKS)
		return -ENOSPC;
	eng->sinks[eng->nr_sinks++] = *sink;
	return 0;
}

const struct xsw_engine_totals *xsw_engine_totals(const struct xsw_engine *eng)
{
	return &eng->totals;
}

const struct xsw_engine_opts *xsw_engine_opts(const struct xsw_engine *eng)
{
	return &eng->opts;
}

bool xsw_engine_failed(const struct xsw_engine *eng)
{
	return eng->totals.violations ||
	       (eng->opts.lints_are_failures && eng->totals.lints);
}

/* --- state ----------------------------------------------------------------- */

static struct proc **proc_slot(struct xsw_engine *eng, uint32_t pid)
{
	struct proc **pp = &eng->procs[pid % PROC_BUCKETS];

	while (*pp && (*pp)->st.pid != pid)
		pp = &(*pp)->next;
	return pp;
}

static void vcpu_free(struct xsw_engine *eng, struct proc *p, struct vcpu *v)
{
	unsigned int i;

	for (i = 0; i < eng->nr_sinks; i++)
		if (eng->sinks[i].on_vcpu_gone)
			eng->sinks[i].on_vcpu_gone(eng->sinks[i].ctx, eng, &v->st);
	if (p->st.nr_vcpus)
		p->st.nr_vcpus--;
	eng->totals.vcpus_live--;
	free(v);
}

static void vm_free(struct xsw_engine *eng, struct proc *p, struct vm *vm)
{
	struct vcpu *v, *next;

	for (v = vm->vcpus; v; v = next) {
		next = v->next;
		vcpu_free(eng, p, v);
	}
	if (p->st.nr_vms)
		p->st.nr_vms--;
	free(vm);
}

static void vm_remove(struct xsw_engine *eng, struct proc *p, struct vm *vm)
{
	struct vm **vp;

	for (vp = &p->vms; *vp; vp = &(*vp)->next)
		if (*vp == vm) {
			*vp = vm->next;
			break;
		}
	vm_free(eng, p, vm);
}

static void proc_free(struct xsw_engine *eng, struct proc *p)
{
	struct proc **pp = proc_slot(eng, p->st.pid);
	struct vm *vm, *next;

	for (vm = p->vms; vm; vm = next) {
		next = vm->next;
		vm_free(eng, p, vm);
	}
	if (*pp == p)
		*pp = p->next;
	eng->nr_procs--;
	free(p);
}

/*
 * At the process bound, forget the process without vCPUs that was quiet
 * longest: most likely one whose process_exit was lost. Processes with
 * vCPUs are never evicted (their vCPUs are bounded on their own).
 */
static bool evict_idle_proc(struct xsw_engine *eng)
{
	struct proc *p, *victim = NULL;
	unsigned int b;

	for (b = 0; b < PROC_BUCKETS; b++)
		for (p = eng->procs[b]; p; p = p->next)
			if (!p->st.nr_vcpus && (!victim || p->last_ts < victim->last_ts))
				victim = p;
	if (!victim)
		return false;
	proc_free(eng, victim);
	return true;
}

/*
 * The process's name: taken from its main thread (tid == pid). Other
 * threads rename themselves (QEMU's vCPU threads are "CPU 0/KVM"), and a
 * name that changes under a thread is no sign of a new process.
 */
static bool from_main_thread(const struct xsw_event *ev)
{
	return ev->comm[0] && (ev->tid == ev->pid || !ev->tid);
}

static struct proc *proc_get(struct xsw_engine *eng, const struct xsw_event *ev)
{
	struct proc **pp = proc_slot(eng, ev->pid), *p = *pp;

	/*
	 * A new VM from a main thread running a different program is pid
	 * reuse whose process_exit was lost: forget the old process.
	 */
	if (p && ev->type == XSW_EV_VM_CREATE && p->leader_comm_known && from_main_thread(ev) &&
	    strncmp(p->st.comm, ev->comm, sizeof(p->st.comm))) {
		proc_free(eng, p);
		p = NULL;
	}
	if (p) {
		if (from_main_thread(ev)) {
			memcpy(p->st.comm, ev->comm, sizeof(p->st.comm));
			p->st.comm[sizeof(p->st.comm) - 1] = '\0';
			p->leader_comm_known = true;
		}
		return p;
	}
	if (ev->type == XSW_EV_PROCESS_EXIT || ev->type == XSW_EV_VM_DESTROY ||
	    ev->type == XSW_EV_VCPU_DESTROY)
		return NULL;	/* nothing to forget */
	if (eng->nr_procs >= XSW_ENGINE_MAX_PROCS && !evict_idle_proc(eng))
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->st.pid = ev->pid;
	memcpy(p->st.comm, ev->comm, sizeof(p->st.comm));
	p->st.comm[sizeof(p->st.comm) - 1] = '\0';
	p->leader_comm_known = from_main_thread(ev);
	pp = proc_slot(eng, ev->pid);
	*pp = p;
	eng->nr_procs++;
	return p;
}

static struct vm *vm_find(struct proc *p, uint64_t id)
{
	struct vm *vm;

	for (vm = p->vms; vm; vm = vm->next)
		if (vm->id == id)
			return vm;
	return NULL;
}

static struct vm *vm_add(struct proc *p, uint64_t id)
{
	struct vm *vm = calloc(1, sizeof(*vm)), **tail;

	if (!vm)
		return NULL;
	vm->id = id;
	vm->index = p->next_vm_index++;
	/* Append: foreach walks VMs in creation order. */
	for (tail = &p->vms; *tail; tail = &(*tail)->next)
		;
	*tail = vm;
	p->st.nr_vms++;
	return vm;
}

static struct vcpu *vcpu_find(struct proc *p, uint64_t vm_id, int32_t id)
{
	struct vm *vm;
	struct vcpu *v;

	for (vm = p->vms; vm; vm = vm->next) {
		/* vm 0: a source that cannot name the VM; match by vCPU id. */
		if (vm_id && vm->id != vm_id)
			continue;
		for (v = vm->vcpus; v; v = v->next)
			if (v->st.vcpu_id == id)
				return v;
	}
	return NULL;
}

static void vcpu_unlink(struct vm *vm, struct vcpu *v)
{
	struct vcpu **vp;

	for (vp = &vm->vcpus; *vp; vp = &(*vp)->next)
		if (*vp == v) {
			*vp = v->next;
			return;
		}
}

static struct vcpu *vcpu_add(struct xsw_engine *eng, struct proc *p, const struct xsw_event *ev)
{
	struct vm *vm = vm_find(p, ev->vm);
	struct vcpu *v, **tail;
	int i;

	if (eng->totals.vcpus_live >= XSW_ENGINE_MAX_VCPUS)
		return NULL;
	if (!vm)
		vm = vm_add(p, ev->vm);
	if (!vm)
		return NULL;
	v = calloc(1, sizeof(*v));
	if (!v)
		return NULL;
	v->vm = vm;
	v->st.pid = p->st.pid;
	memcpy(v->st.comm, p->st.comm, sizeof(v->st.comm));
	v->st.vm = ev->vm;
	v->st.vm_index = vm->index;
	v->st.vcpu_id = ev->vcpu_id;
	v->st.status = XSW_VCPU_UNKNOWN;
	for (i = 0; i < XSW_NR_INVARIANTS; i++)
		v->st.verdict[i] = XSW_VERDICT_UNKNOWN;
	for (tail = &vm->vcpus; *tail; tail = &(*tail)->next)
		;
	*tail = v;
	p->st.nr_vcpus++;
	eng->totals.vcpus_seen++;
	eng->totals.vcpus_live++;
	return v;
}

/* The vCPU an event is about; adopt it when first seen mid-lifecycle. */
static struct vcpu *vcpu_get(struct xsw_engine *eng, struct proc *p, const struct xsw_event *ev,
			     bool adopt)
{
	struct vcpu *v;

	if (ev->vcpu_id < 0)
		return NULL;
	v = vcpu_find(p, ev->vm, ev->vcpu_id);
	if (!v && adopt)
		v = vcpu_add(eng, p, ev);
	return v;
}

static void take_perm(struct proc *p, const struct xsw_perm *perm)
{
	if (!perm->valid)
		return;
	p->st.guest_perm = *perm;
	if (perm->locked)
		p->st.perm_locked = true;
}

static void take_fps(struct vcpu *v, const struct xsw_fpstate *fps)
{
	if (fps->valid)
		v->st.fps = *fps;
}

/* Apply @ev; returns the vCPU it is about (NULL if none), @prev its state before. */
static struct vcpu *apply(struct xsw_engine *eng, struct proc *p, const struct xsw_event *ev,
			  struct xsw_vcpu_state *prev, bool *had_prev)
{
	struct vcpu *v = NULL;
	struct vm *vm;

	*had_prev = false;
	switch (ev->type) {
	case XSW_EV_PERM_REQUEST:
		if (!ev->perm.guest)
			break;
		if (ev->ret == 0 && ev->perm.after.valid)
			take_perm(p, &ev->perm.after);
		else if (!p->st.guest_perm.valid)
			take_perm(p, &ev->perm.before);
		if (ev->perm.request && ev->ret == 0)
			p->st.perm_requested = true;
		if (ev->ret == -EBUSY)
			p->st.perm_locked = true;
		return NULL;
	case XSW_EV_SUPPORTED_CPUID:
		take_perm(p, &ev->supported.guest_perm);
		/* E2BIG is the VMM sizing its buffer: no table was read. */
		if (ev->ret == 0 && !p->st.supported_cpuid_read) {
			p->st.supported_cpuid_read = true;
			p->st.supported_cpuid_ts = ev->ts_ns;
			p->st.perm_at_supported_read = p->st.guest_perm;
		}
		if (ev->ret == 0 && ev->supported.cpuid.has_leaf_d) {
			p->st.kvm_xcr0_known = true;
			p->st.kvm_xcr0 = ev->supported.cpuid.xcr0;
			p->st.perm_at_kvm_xcr0 = p->st.guest_perm;
		}
		return NULL;
	case XSW_EV_VM_CREATE:
		if (ev->ret < 0)
			return NULL;
		vm = vm_find(p, ev->vm);
		if (vm)	/* the kernel reused the address of a VM whose destroy we missed */
			vm_remove(eng, p, vm);
		vm_add(p, ev->vm);
		return NULL;
	case XSW_EV_VCPU_CREATE:
		if (ev->ret < 0)
			return NULL;
		v = vcpu_find(p, ev->vm, ev->vcpu_id);
		if (v) {	/* stale: its destroy was lost */
			vcpu_unlink(v->vm, v);
			vcpu_free(eng, p, v);
		}
		v = vcpu_add(eng, p, ev);
		if (!v)
			return NULL;
		v->st.created_seen = true;
		v->st.create_ts = ev->ts_ns;
		v->st.create_latency_ns = ev->duration_ns;
		take_fps(v, &ev->vcpu.fps);
		v->st.uabi_size = ev->vcpu.uabi_size;
		take_perm(p, &ev->vcpu.guest_perm);
		/* fpu_alloc_guest_fpstate() locks the guest permission. */
		p->st.perm_locked = true;
		p->st.guest_perm.locked = p->st.guest_perm.valid;
		break;
	default:
		break;
	}

	v = vcpu_get(eng, p, ev, ev->type != XSW_EV_VCPU_DESTROY &&
			       ev->type != XSW_EV_VM_DESTROY && ev->type != XSW_EV_PROCESS_EXIT &&
			       ev->type != XSW_EV_VCPU_CREATE);
	if (!v)
		return NULL;
	if (ev->type != XSW_EV_VCPU_CREATE) {
		*prev = v->st;
		*had_prev = true;
	}
	v->st.nr_events++;

	switch (ev->type) {
	case XSW_EV_PERM_SYNC:
		take_fps(v, &ev->vcpu.fps);
		take_perm(p, &ev->vcpu.guest_perm);
		if (ev->vcpu.uabi_size)
			v->st.uabi_size = ev->vcpu.uabi_size;
		if (ev->vcpu.locked_now)
			p->st.perm_locked = true;
		break;
	case XSW_EV_SET_CPUID:
		v->st.set_cpuid_latency_ns = ev->duration_ns;
		if (ev->ret != 0)
			break;
		v->st.cpuid = ev->set_cpuid.cpuid;
		v->st.cpuid_generation = ev->set_cpuid.generation ?: v->st.cpuid_generation + 1;
		if (ev->set_cpuid.guest_supported_xcr0)
			v->st.guest_supported_xcr0 = ev->set_cpuid.guest_supported_xcr0;
		v->st.guest_supported_xss = ev->set_cpuid.guest_supported_xss;
		take_fps(v, &ev->set_cpuid.fps);
		take_perm(p, &ev->set_cpuid.guest_perm);
		v->st.hyp_buffer_size = ev->set_cpuid.hyp_buffer_size;
		v->st.hyp_xcr0 = ev->set_cpuid.hyp_xcr0;
		break;
	case XSW_EV_FPSTATE_REALLOC:
		if (ev->ret != 0 || !ev->realloc.guest)
			break;
		v->st.nr_reallocs++;
		v->st.fps.size = ev->realloc.new_size;
		if (ev->realloc.user_size) {
			v->st.fps.user_size = ev->realloc.user_size;
			/* fpstate_realloc() sets guest_fpu->uabi_size to the new user size. */
			v->st.uabi_size = ev->realloc.user_size;
		}
		if (ev->realloc.xfeatures)
			v->st.fps.xfeatures = ev->realloc.xfeatures;
		if (ev->realloc.user_xfeatures)
			v->st.fps.user_xfeatures = ev->realloc.user_xfeatures;
		v->st.fps.is_guest = 1;
		v->st.fps.valid = v->st.fps.xfeatures != 0;
		break;
	case XSW_EV_FIRST_RUN:
	case XSW_EV_XCR0_CHANGE:
		if (ev->type == XSW_EV_XCR0_CHANGE)
			v->st.nr_xcr0_changes++;
		if (!v->st.ran)
			v->st.first_run_ts = ev->ts_ns;
		v->st.ran = true;
		v->st.guest_xcr0 = ev->run.guest_xcr0;
		if (ev->run.guest_supported_xcr0)
			v->st.guest_supported_xcr0 = ev->run.guest_supported_xcr0;
		take_fps(v, &ev->run.fps);
		break;
	case XSW_EV_VCPU_DESTROY:
		take_fps(v, &ev->vcpu.fps);
		v->st.destroyed = true;
		break;
	default:
		break;
	}
	return v;
}

static void update_derived(struct xsw_engine *eng, struct vcpu *v)
{
	struct xsw_vcpu_state *st = &v->st;

	if (st->guest_supported_xcr0 && st->fps.valid) {
		uint64_t mask = st->guest_supported_xcr0 |
				(st->fps.xfeatures & eng->checker.supervisor);

		st->required_size = xsw_xstate_size(eng->opts.cpu, mask, eng->opts.compacted);
		st->headroom = (int64_t)st->fps.size - st->required_size;
	}
	if (st->nr_violations)
		st->status = XSW_VCPU_VIOLATION;
	else if (st->nr_lints)
		st->status = XSW_VCPU_LINT;
	else if (st->created_seen || st->required_size)
		st->status = XSW_VCPU_OK;
	else
		st->status = XSW_VCPU_UNKNOWN;
}

/* --- findings --------------------------------------------------------------- */

#define MAX_FINDINGS XSW_CHECK_MAX

struct pending {
	struct xsw_engine *eng;
	struct proc *proc;
	struct vcpu *vcpu;
	const struct xsw_event *cause;
	unsigned int nr;
	struct xsw_event findings[MAX_FINDINGS];
};

static void on_finding(void *arg, enum xsw_check check, const struct xsw_ev_finding *f)
{
	struct pending *pd = arg;
	const struct xsw_check_info *info = xsw_check_info(check);
	struct xsw_event *out;

	if (pd->vcpu) {
		struct finding_sig sig = {
			f->have_size, f->need_size, f->have_mask, f->need_mask,
		};

		/* The same problem with the same sizes: reported already. */
		if (pd->vcpu->reported[check] &&
		    !memcmp(&pd->vcpu->last[check], &sig, sizeof(sig)))
			return;
		pd->vcpu->reported[check] = true;
		pd->vcpu->last[check] = sig;
	} else if (pd->proc) {
		if (pd->proc->reported[check])
			return;
		pd->proc->reported[check] = true;
	}
	if (pd->nr >= MAX_FINDINGS)
		return;
	out = &pd->findings[pd->nr++];
	memset(out, 0, sizeof(*out));
	out->ts_ns = pd->cause->ts_ns;
	out->type = info->lint ? XSW_EV_LINT : XSW_EV_VIOLATION;
	out->source = XSW_SRC_CHECK;
	out->pid = pd->cause->pid;
	out->tid = pd->cause->tid;
	memcpy(out->comm, pd->proc ? pd->proc->st.comm : pd->cause->comm, sizeof(out->comm));
	out->vm = pd->cause->vm;
	out->vcpu_id = pd->vcpu ? pd->vcpu->st.vcpu_id : pd->cause->vcpu_id;
	out->ret = pd->cause->ret;
	out->finding = *f;
}

static void fan_out(struct xsw_engine *eng, const struct xsw_event *ev,
		    const struct xsw_vcpu_state *vcpu)
{
	unsigned int i;

	for (i = 0; i < eng->nr_sinks; i++)
		if (eng->sinks[i].on_event)
			eng->sinks[i].on_event(eng->sinks[i].ctx, eng, ev, vcpu);
}

void xsw_engine_feed(struct xsw_engine *eng, const struct xsw_event *ev)
{
	enum xsw_verdict verdicts[XSW_NR_INVARIANTS];
	struct xsw_vcpu_state prev;
	struct pending *pd;
	struct proc *p;
	struct vcpu *v;
	bool had_prev;
	unsigned int i;

	if (ev->type == XSW_EV_NONE || ev->type >= XSW_EV_MAX)
		return;
	if (ev->type == XSW_EV_VIOLATION || ev->type == XSW_EV_LINT) {
		/* Findings in the input (a replayed --json file) are re-derived. */
		eng->totals.ignored++;
		return;
	}
	if (ev->type == XSW_EV_LOST) {
		eng->totals.events[ev->type]++;
		eng->totals.lost += ev->lost.count;
		if (ev->lost.skipped)
			eng->totals.lost_skipped += ev->lost.count;
		fan_out(eng, ev, NULL);
		return;
	}
	if (eng->opts.pid_filter && ev->pid != eng->opts.pid_filter)
		return;
	eng->totals.events[ev->type]++;

	p = proc_get(eng, ev);
	if (p)
		p->last_ts = ev->ts_ns;
	if (!p) {
		if (ev->type != XSW_EV_PROCESS_EXIT && ev->type != XSW_EV_VM_DESTROY &&
		    ev->type != XSW_EV_VCPU_DESTROY)
			eng->totals.untracked++;
		fan_out(eng, ev, NULL);
		return;
	}

	v = apply(eng, p, ev, &prev, &had_prev);
	if (!v && ev->vcpu_id >= 0 && ev->type != XSW_EV_VCPU_DESTROY &&
	    ev->type != XSW_EV_FPSTATE_REALLOC && ev->ret >= 0)
		eng->totals.untracked++;

	pd = calloc(1, sizeof(*pd));
	if (pd) {
		pd->eng = eng;
		pd->proc = p;
		pd->vcpu = v;
		pd->cause = ev;
		xsw_checks_run(&eng->checker, ev, &p->st, v ? &v->st : NULL,
			       had_prev ? &prev : NULL, verdicts, on_finding, pd);
		if (v)
			for (i = 0; i < XSW_NR_INVARIANTS; i++) {
				if (verdicts[i] == XSW_VERDICT_UNKNOWN ||
				    v->st.verdict[i] == XSW_VERDICT_FAILS)
					continue;
				if (verdicts[i] == XSW_VERDICT_NA &&
				    v->st.verdict[i] == XSW_VERDICT_HOLDS)
					continue;
				v->st.verdict[i] = verdicts[i];
			}
		for (i = 0; i < pd->nr; i++) {
			const struct xsw_event *f = &pd->findings[i];

			eng->totals.events[f->type]++;
			if (f->type == XSW_EV_VIOLATION) {
				eng->totals.violations++;
				if (v)
					v->st.nr_violations++;
			} else {
				eng->totals.lints++;
				if (v)
					v->st.nr_lints++;
			}
			if (!v)
				p->st.nr_findings++;
		}
	}
	if (v)
		update_derived(eng, v);

	fan_out(eng, ev, v ? &v->st : NULL);
	for (i = 0; pd && i < pd->nr; i++)
		fan_out(eng, &pd->findings[i], v ? &v->st : NULL);
	free(pd);

	switch (ev->type) {
	case XSW_EV_VCPU_DESTROY:
		if (v) {
			vcpu_unlink(v->vm, v);
			vcpu_free(eng, p, v);
		}
		break;
	case XSW_EV_VM_DESTROY: {
		struct vm *vm = vm_find(p, ev->vm);

		if (vm)
			vm_remove(eng, p, vm);
		break;
	}
	case XSW_EV_PROCESS_EXIT:
		proc_free(eng, p);
		break;
	default:
		break;
	}
}

void xsw_engine_foreach_vcpu(const struct xsw_engine *eng, xsw_vcpu_cb cb, void *arg)
{
	const struct proc *p;
	const struct vm *vm;
	const struct vcpu *v;
	unsigned int b;

	for (b = 0; b < PROC_BUCKETS; b++)
		for (p = eng->procs[b]; p; p = p->next)
			for (vm = p->vms; vm; vm = vm->next)
				for (v = vm->vcpus; v; v = v->next)
					cb(&v->st, arg);
}

const struct xsw_proc_state *xsw_engine_proc(const struct xsw_engine *eng, uint32_t pid)
{
	const struct proc *p;

	for (p = eng->procs[pid % PROC_BUCKETS]; p; p = p->next)
		if (p->st.pid == pid)
			return &p->st;
	return NULL;
}

void xsw_engine_free(struct xsw_engine *eng)
{
	unsigned int b, i;

	if (!eng)
		return;
	/* Sinks see every vCPU go, then close (KTAP writes its plan there). */
	for (b = 0; b < PROC_BUCKETS; b++)
		while (eng->procs[b])
			proc_free(eng, eng->procs[b]);
	for (i = 0; i < eng->nr_sinks; i++)
		if (eng->sinks[i].close)
			eng->sinks[i].close(eng->sinks[i].ctx, eng);
	free(eng);
}
