// SPDX-License-Identifier: GPL-2.0
/*
 * The JSON-lines event codec: every event type round-trips to an identical
 * struct, the output format is the documented one, bad input gets an error
 * naming file, line and field, and the reader skips comments and blank
 * lines and carries on after a bad line.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "xsw_event_json.h"

/* ---- events to encode --------------------------------------------------- */

static void set_str(char *dst, size_t size, const char *src)
{
	size_t len = strlen(src);

	assert_true(len < size);
	memset(dst, 0, size);
	memcpy(dst, src, len);
}

static void common(struct xsw_event *ev, unsigned int type)
{
	memset(ev, 0, sizeof(*ev));
	ev->type = type;
	ev->source = XSW_SRC_SYSCALL;
	ev->ts_ns = 81234567000000ULL + type * 125000ULL;	/* in type order */
	ev->pid = 4242;
	ev->tid = 4243;
	set_str(ev->comm, sizeof(ev->comm), "qemu-system-x86");
	ev->vm = 0xffff888100a2c000ULL;
	ev->vcpu_id = 0;
	ev->ret = 0;
	ev->duration_ns = 15230;
}

static void perm(struct xsw_perm *p, uint64_t mask, uint32_t size, uint32_t user_size,
		 uint8_t locked)
{
	p->perm = mask;
	p->size = size;
	p->user_size = user_size;
	p->locked = locked;
	p->valid = 1;
}

static void fpstate(struct xsw_fpstate *f, uint32_t size, uint32_t user_size,
		    uint64_t xfeatures)
{
	f->size = size;
	f->user_size = user_size;
	f->xfeatures = xfeatures;
	f->user_xfeatures = xfeatures;
	f->xfd = 0;
	f->is_guest = 1;
	f->in_use = 0;
	f->valid = 1;
}

static void cpuid(struct xsw_cpuid_xsave *c)
{
	c->xcr0 = 0x207;
	c->xss = 0;
	c->size_std = 2696;
	c->size_max = 2696;
	c->size_compacted = 840;
	c->leaf7_edx = 0x10;
	c->has_leaf_d = 1;
}

/*
 * One realistic event per type, as on this machine (AMD EPYC, no AMX, guest
 * permission 0x207, guest fpstate 880 bytes). These are also the lines of
 * tests/fixtures/traces/schema-examples.jsonl.
 */
static void realistic(struct xsw_event *ev, unsigned int type)
{
	common(ev, type);
	switch (type) {
	case XSW_EV_PERM_REQUEST:
		ev->source = XSW_SRC_SYSCALL;
		ev->vm = 0;
		ev->vcpu_id = -1;
		ev->duration_ns = 2310;
		ev->perm.option = 0x1025;	/* ARCH_REQ_XCOMP_GUEST_PERM */
		ev->perm.guest = 1;
		ev->perm.request = 1;
		ev->perm.arg = 18;		/* XFEATURE_XTILE_DATA */
		perm(&ev->perm.before, 0x207, 880, 2696, 0);
		perm(&ev->perm.after, 0x207, 880, 2696, 0);
		ev->ret = -EOPNOTSUPP;		/* no AMX here */
		break;
	case XSW_EV_SUPPORTED_CPUID:
		ev->vm = 0;
		ev->vcpu_id = -1;
		ev->supported.nent = 42;
		ev->supported.system = 1;
		cpuid(&ev->supported.cpuid);
		perm(&ev->supported.guest_perm, 0x207, 880, 2696, 0);
		break;
	case XSW_EV_VM_CREATE:
		ev->vcpu_id = -1;
		ev->duration_ns = 812000;
		ev->vm_create.type = 0;
		break;
	case XSW_EV_VCPU_CREATE:
	case XSW_EV_PERM_SYNC:
	case XSW_EV_VCPU_DESTROY:
		ev->source = XSW_SRC_TRACEPOINT;
		fpstate(&ev->vcpu.fps, 880, 2696, 0x207);
		perm(&ev->vcpu.guest_perm, 0x207, 880, 2696, 1);
		ev->vcpu.fpu_guest_perm = 0x207;
		ev->vcpu.fpu_guest_xfeatures = 0x207;
		ev->vcpu.uabi_size = 2696;
		ev->vcpu.locked_now = type == XSW_EV_PERM_SYNC;
		break;
	case XSW_EV_SET_CPUID:
		ev->set_cpuid.nent = 42;
		ev->set_cpuid.generation = 1;
		cpuid(&ev->set_cpuid.cpuid);
		ev->set_cpuid.guest_supported_xcr0 = 0x207;
		ev->set_cpuid.guest_supported_xss = 0;
		perm(&ev->set_cpuid.guest_perm, 0x207, 880, 2696, 1);
		fpstate(&ev->set_cpuid.fps, 880, 2696, 0x207);
		ev->set_cpuid.required_compacted = 840;
		ev->set_cpuid.required_std = 2696;
		break;
	case XSW_EV_FPSTATE_REALLOC:
		/* What an AMX host reports when a guest first enables tiles. */
		ev->source = XSW_SRC_REPLAY;
		ev->realloc.xfeatures_added = 0x40000;
		ev->realloc.old_size = 2696;
		ev->realloc.new_size = 11008;
		ev->realloc.user_size = 11008;
		ev->realloc.guest = 1;
		ev->realloc.in_use = 1;
		ev->realloc.xfeatures = 0x602e7;
		ev->realloc.user_xfeatures = 0x602e7;
		break;
	case XSW_EV_FIRST_RUN:
	case XSW_EV_XCR0_CHANGE:
		ev->run.guest_xcr0 = type == XSW_EV_FIRST_RUN ? 0x1 : 0x7;
		ev->run.guest_supported_xcr0 = 0x207;
		fpstate(&ev->run.fps, 880, 2696, 0x207);
		ev->run.fps.in_use = 1;
		break;
	case XSW_EV_VM_DESTROY:
		ev->vcpu_id = -1;
		break;
	case XSW_EV_PROCESS_EXIT:
		ev->vm = 0;
		ev->vcpu_id = -1;
		ev->exit.exit_code = 0;
		break;
	case XSW_EV_LOST:
		ev->vm = 0;
		ev->vcpu_id = -1;
		ev->pid = 0;
		ev->tid = 0;
		set_str(ev->comm, sizeof(ev->comm), "");
		ev->duration_ns = 0;
		ev->lost.count = 17;
		break;
	case XSW_EV_VIOLATION:
	case XSW_EV_LINT:
		ev->source = XSW_SRC_CHECK;
		ev->duration_ns = 0;
		if (type == XSW_EV_VIOLATION) {
			set_str(ev->finding.id, XSW_FINDING_ID_LEN, "I5");
			ev->finding.have_size = 4096;
			ev->finding.need_size = 10752;
			ev->finding.have_mask = 0x2e7;
			ev->finding.need_mask = 0x602e7;
			ev->finding.cause_type = XSW_EV_SET_CPUID;
			set_str(ev->finding.text, XSW_FINDING_TEXT_LEN,
				"hypervisor buffer 4096 < 10752 needed for xcr0 0x602e7 (compacted)");
		} else {
			set_str(ev->finding.id, XSW_FINDING_ID_LEN, "cpuid-after-run");
			ev->finding.cause_type = XSW_EV_SET_CPUID;
			set_str(ev->finding.text, XSW_FINDING_TEXT_LEN,
				"KVM_SET_CPUID2 after the first KVM_RUN of this vCPU");
		}
		break;
	}
}

/* Every field at the edge of its range, to catch truncation and sign bugs. */
static void extreme(struct xsw_event *ev, unsigned int type)
{
	struct xsw_perm *p;
	struct xsw_fpstate *f;

	memset(ev, 0, sizeof(*ev));
	ev->type = type;
	ev->source = XSW_SRC_MODEL;
	ev->ts_ns = UINT64_MAX;			/* above jansson's INT64_MAX */
	ev->pid = UINT32_MAX;
	ev->tid = UINT32_MAX - 1;
	set_str(ev->comm, sizeof(ev->comm), "0123456789abcde");	/* 15: the most */
	ev->vm = UINT64_MAX;
	ev->vcpu_id = INT32_MIN;
	ev->ret = INT32_MIN;
	ev->duration_ns = (uint64_t)INT64_MAX;

	switch (type) {
	case XSW_EV_PERM_REQUEST:
		ev->perm.option = UINT32_MAX;
		ev->perm.guest = 1;
		ev->perm.request = 0;
		ev->perm.arg = (uint64_t)INT64_MAX + 1;
		perm(&ev->perm.before, UINT64_MAX, UINT32_MAX, 0, 1);
		perm(&ev->perm.after, 1, 0, UINT32_MAX, 0);
		break;
	case XSW_EV_SUPPORTED_CPUID:
		ev->supported.nent = UINT32_MAX;
		ev->supported.system = 0;
		ev->supported.cpuid.xcr0 = UINT64_MAX;
		ev->supported.cpuid.xss = 0x8000000000000000ULL;
		ev->supported.cpuid.size_std = UINT32_MAX;
		ev->supported.cpuid.size_max = 1;
		ev->supported.cpuid.size_compacted = UINT32_MAX;
		ev->supported.cpuid.leaf7_edx = UINT32_MAX;
		ev->supported.cpuid.has_leaf_d = 1;
		perm(&ev->supported.guest_perm, UINT64_MAX, UINT32_MAX, UINT32_MAX, 1);
		break;
	case XSW_EV_VM_CREATE:
		ev->vm_create.type = UINT32_MAX;
		break;
	case XSW_EV_VCPU_CREATE:
	case XSW_EV_PERM_SYNC:
	case XSW_EV_VCPU_DESTROY:
		f = &ev->vcpu.fps;
		f->size = UINT32_MAX;
		f->user_size = UINT32_MAX;
		f->xfeatures = UINT64_MAX;
		f->user_xfeatures = UINT64_MAX - 1;
		f->xfd = 0x8000000000000000ULL;
		f->is_guest = 1;
		f->in_use = 1;
		f->valid = 1;
		perm(&ev->vcpu.guest_perm, UINT64_MAX, UINT32_MAX, UINT32_MAX, 1);
		ev->vcpu.fpu_guest_perm = UINT64_MAX;
		ev->vcpu.fpu_guest_xfeatures = UINT64_MAX;
		ev->vcpu.uabi_size = UINT32_MAX;
		ev->vcpu.locked_now = 1;
		break;
	case XSW_EV_SET_CPUID:
		ev->set_cpuid.nent = UINT32_MAX;
		ev->set_cpuid.generation = UINT32_MAX;
		ev->set_cpuid.cpuid.xcr0 = UINT64_MAX;
		ev->set_cpuid.cpuid.xss = UINT64_MAX;
		ev->set_cpuid.cpuid.size_std = UINT32_MAX;
		ev->set_cpuid.cpuid.size_max = UINT32_MAX;
		ev->set_cpuid.cpuid.size_compacted = UINT32_MAX;
		ev->set_cpuid.cpuid.leaf7_edx = UINT32_MAX;
		ev->set_cpuid.cpuid.has_leaf_d = 1;
		ev->set_cpuid.guest_supported_xcr0 = UINT64_MAX;
		ev->set_cpuid.guest_supported_xss = UINT64_MAX;
		p = &ev->set_cpuid.guest_perm;
		perm(p, UINT64_MAX, UINT32_MAX, UINT32_MAX, 1);
		f = &ev->set_cpuid.fps;
		f->size = UINT32_MAX;
		f->xfd = UINT64_MAX;
		f->valid = 1;
		ev->set_cpuid.required_compacted = UINT32_MAX;
		ev->set_cpuid.required_std = UINT32_MAX;
		ev->set_cpuid.hyp_buffer_size = UINT32_MAX;
		ev->set_cpuid.hyp_xcr0 = UINT64_MAX;
		break;
	case XSW_EV_FPSTATE_REALLOC:
		ev->realloc.xfeatures_added = UINT64_MAX;
		ev->realloc.old_size = UINT32_MAX;
		ev->realloc.new_size = UINT32_MAX;
		ev->realloc.user_size = UINT32_MAX;
		ev->realloc.guest = 1;
		ev->realloc.in_use = 1;
		ev->realloc.xfeatures = UINT64_MAX;
		ev->realloc.user_xfeatures = UINT64_MAX;
		break;
	case XSW_EV_FIRST_RUN:
	case XSW_EV_XCR0_CHANGE:
		ev->run.guest_xcr0 = UINT64_MAX;
		ev->run.guest_supported_xcr0 = UINT64_MAX;
		ev->run.fps.size = UINT32_MAX;
		ev->run.fps.valid = 1;
		break;
	case XSW_EV_VM_DESTROY:
		break;
	case XSW_EV_PROCESS_EXIT:
		ev->exit.exit_code = INT32_MIN;
		break;
	case XSW_EV_LOST:
		ev->lost.count = UINT64_MAX;
		break;
	case XSW_EV_VIOLATION:
	case XSW_EV_LINT:
		memset(ev->finding.id, 'i', XSW_FINDING_ID_LEN - 1);
		ev->finding.have_size = UINT64_MAX;
		ev->finding.need_size = (uint64_t)INT64_MAX;
		ev->finding.have_mask = UINT64_MAX;
		ev->finding.need_mask = 1;
		ev->finding.cause_type = XSW_EV_MAX - 1;
		/* Quotes, backslashes and control characters need escaping. */
		memset(ev->finding.text, 'x', XSW_FINDING_TEXT_LEN - 1);
		memcpy(ev->finding.text, "\"\\\n\t\x01", 5);
		break;
	}
}

/* Encode, decode, compare bytes; the decoded event re-encodes to the same line. */
static void assert_round_trip(const struct xsw_event *ev)
{
	struct xsw_event back;
	struct xsw_err err;
	char *line, *again;
	char want[64];

	line = xsw_event_to_json(ev);
	assert_non_null(line);
	snprintf(want, sizeof(want), "\"event\":\"%s\"", xsw_event_type_name(ev->type));
	assert_non_null(strstr(line, want));
	assert_null(strchr(line, '\n'));

	memset(&back, 0xa5, sizeof(back));	/* the decoder must clear it all */
	assert_int_equal(xsw_event_from_json(line, &back, "rt", 1, &err), 0);
	assert_int_equal(err.code, 0);
	if (memcmp(ev, &back, sizeof(back)))
		fail_msg("%s: decoded event differs from the encoded one: %s",
			 xsw_event_type_name(ev->type), line);

	again = xsw_event_to_json(&back);
	assert_non_null(again);
	assert_string_equal(line, again);
	free(again);
	free(line);
}

static void test_round_trip_realistic(void **state)
{
	struct xsw_event ev;
	unsigned int type;

	for (type = 1; type < XSW_EV_MAX; type++) {
		realistic(&ev, type);
		assert_round_trip(&ev);
	}
}

static void test_round_trip_extremes(void **state)
{
	struct xsw_event ev;
	unsigned int type;

	for (type = 1; type < XSW_EV_MAX; type++) {
		extreme(&ev, type);
		assert_round_trip(&ev);
	}
}

/* A probe that could not read the fpstate or permission: objects are omitted. */
static void test_round_trip_unreadable_objects(void **state)
{
	struct xsw_event ev;
	char *line;

	realistic(&ev, XSW_EV_SET_CPUID);
	memset(&ev.set_cpuid.fps, 0, sizeof(ev.set_cpuid.fps));
	memset(&ev.set_cpuid.guest_perm, 0, sizeof(ev.set_cpuid.guest_perm));
	line = xsw_event_to_json(&ev);
	assert_non_null(line);
	assert_null(strstr(line, "\"fpstate\""));
	assert_null(strstr(line, "\"perm\""));
	free(line);
	assert_round_trip(&ev);

	/* Zeros are written, not dropped, when the object is valid. */
	ev.set_cpuid.fps.valid = 1;
	line = xsw_event_to_json(&ev);
	assert_non_null(strstr(line, "\"fpstate\":{\"size\":0,\"user_size\":0,"
			       "\"xfeatures\":\"0x0\",\"user_xfeatures\":\"0x0\",\"xfd\":\"0x0\","
			       "\"is_guest\":false,\"in_use\":false}"));
	free(line);
	assert_round_trip(&ev);
}

/* The exact line for a failed KVM_SET_CPUID2: field order, hex masks, errno. */
static void test_output_format(void **state)
{
	struct xsw_event ev;
	char *line;

	realistic(&ev, XSW_EV_SET_CPUID);
	ev.ret = -EBUSY;
	ev.set_cpuid.generation = 2;
	ev.set_cpuid.hyp_buffer_size = 4096;
	ev.set_cpuid.hyp_xcr0 = 0x602e7;
	line = xsw_event_to_json(&ev);
	assert_non_null(line);
	assert_string_equal(line,
		"{\"schema\":1,\"event\":\"set_cpuid\",\"source\":\"syscall\","
		"\"ts_ns\":81234567750000,\"pid\":4242,\"tid\":4243,\"comm\":\"qemu-system-x86\","
		"\"vm\":\"0xffff888100a2c000\",\"vcpu_id\":0,\"ret\":-16,\"errno\":\"EBUSY\","
		"\"duration_ns\":15230,"
		"\"nent\":42,\"generation\":2,\"cpuid_xcr0\":\"0x207\",\"cpuid_xss\":\"0x0\","
		"\"cpuid_size_std\":2696,\"cpuid_size_max\":2696,\"cpuid_size_compacted\":840,"
		"\"leaf7_edx\":\"0x10\",\"has_leaf_d\":true,"
		"\"guest_supported_xcr0\":\"0x207\",\"guest_supported_xss\":\"0x0\","
		"\"perm\":{\"mask\":\"0x207\",\"size\":880,\"user_size\":2696,\"locked\":true},"
		"\"fpstate\":{\"size\":880,\"user_size\":2696,\"xfeatures\":\"0x207\","
		"\"user_xfeatures\":\"0x207\",\"xfd\":\"0x0\",\"is_guest\":true,\"in_use\":false},"
		"\"required_compacted\":840,\"required_std\":2696,"
		"\"hyp_buffer_size\":4096,\"hyp_xcr0\":\"0x602e7\"}");
	free(line);

	/* u64 counters beyond jansson's signed range fall back to hex strings. */
	realistic(&ev, XSW_EV_LOST);
	ev.lost.count = 0x8000000000000001ULL;
	line = xsw_event_to_json(&ev);
	assert_non_null(strstr(line, "\"count\":\"0x8000000000000001\""));
	assert_null(strstr(line, "errno"));	/* ret == 0 */
	free(line);

	/* Only the kernel's errno range (-4095..-1) gets a name. */
	ev.ret = -4095;
	line = xsw_event_to_json(&ev);
	assert_non_null(strstr(line, "\"ret\":-4095,\"errno\":\"E4095\","));
	free(line);
	ev.ret = -4096;
	line = xsw_event_to_json(&ev);
	assert_non_null(strstr(line, "\"ret\":-4096,\"duration_ns\""));
	free(line);
}

static void test_output_rejects_bad_events(void **state)
{
	struct xsw_event ev;

	realistic(&ev, XSW_EV_LOST);
	ev.type = XSW_EV_NONE;
	errno = 0;
	assert_null(xsw_event_to_json(&ev));
	assert_int_equal(errno, EINVAL);
	ev.type = XSW_EV_MAX;
	assert_null(xsw_event_to_json(&ev));
	ev.type = XSW_EV_LOST;
	ev.source = 99;
	assert_null(xsw_event_to_json(&ev));
	assert_int_equal(xsw_event_write_json(stdout, &ev), -EINVAL);
}

/* Bytes that are not UTF-8 in a comm become '?', and the event still encodes. */
static void test_output_non_utf8_comm(void **state)
{
	struct xsw_event ev, back;
	struct xsw_err err;
	char *line;

	realistic(&ev, XSW_EV_VM_CREATE);
	set_str(ev.comm, sizeof(ev.comm), "vmm\xff\xfe_1");
	line = xsw_event_to_json(&ev);
	assert_non_null(line);
	assert_non_null(strstr(line, "\"comm\":\"vmm??_1\""));
	assert_int_equal(xsw_event_from_json(line, &back, "t", 1, &err), 0);
	assert_string_equal(back.comm, "vmm??_1");
	free(line);

	/* A buffer without its NUL is cut to what the decoder can take back. */
	memset(ev.comm, 'c', sizeof(ev.comm));
	line = xsw_event_to_json(&ev);
	assert_non_null(strstr(line, "\"comm\":\"ccccccccccccccc\","));
	assert_int_equal(xsw_event_from_json(line, &back, "t", 1, &err), 0);
	free(line);
}

static void test_write_json(void **state)
{
	struct xsw_event ev;
	char buf[4096], *line;
	FILE *f = tmpfile();

	assert_non_null(f);
	realistic(&ev, XSW_EV_FIRST_RUN);
	assert_int_equal(xsw_event_write_json(f, &ev), 0);
	rewind(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	line = xsw_event_to_json(&ev);
	assert_int_equal(strlen(buf), strlen(line) + 1);
	assert_memory_equal(buf, line, strlen(line));
	assert_int_equal(buf[strlen(line)], '\n');
	free(line);
	fclose(f);
}

static void test_names(void **state)
{
	unsigned int i;

	assert_null(xsw_event_type_name(XSW_EV_NONE));
	assert_null(xsw_event_type_name(XSW_EV_MAX));
	for (i = 1; i < XSW_EV_MAX; i++) {
		assert_non_null(xsw_event_type_name(i));
		assert_int_equal(xsw_event_type_from_name(xsw_event_type_name(i)), i);
	}
	assert_string_equal(xsw_event_type_name(XSW_EV_SET_CPUID), "set_cpuid");
	assert_string_equal(xsw_event_type_name(XSW_EV_FPSTATE_REALLOC), "fpstate_realloc");
	assert_int_equal(xsw_event_type_from_name("none"), -1);
	assert_int_equal(xsw_event_type_from_name("SET_CPUID"), -1);
	assert_int_equal(xsw_event_type_from_name(NULL), -1);

	for (i = XSW_SRC_UNKNOWN; i <= XSW_SRC_CHECK; i++)
		assert_int_equal(xsw_source_from_name(xsw_source_name(i)), i);
	assert_null(xsw_source_name(XSW_SRC_CHECK + 1));
	assert_string_equal(xsw_source_name(XSW_SRC_SYSCALL), "syscall");
	assert_int_equal(xsw_source_from_name("kprobe"), -1);
}

/* ---- input --------------------------------------------------------------- */

static void test_input_lenient_forms(void **state)
{
	struct xsw_event ev;
	struct xsw_err err;
	const char *line =
		"{\"schema\":1,\"event\":\"set_cpuid\",\"cpuid_xcr0\":519,\"cpuid_xss\":\"0X800\","
		"\"leaf7_edx\":16,\"has_leaf_d\":1,\"nent\":\"0x2a\",\"ret\":-16,\"errno\":\"bogus\","
		"\"fpstate\":{\"size\":880,\"is_guest\":0,\"added_in_schema_1_1\":[1,2]},"
		"\"perm\":null,\"future_field\":{\"x\":1}}";

	assert_int_equal(xsw_event_from_json(line, &ev, "t.jsonl", 7, &err), 0);
	assert_int_equal(err.code, 0);
	assert_int_equal(ev.type, XSW_EV_SET_CPUID);
	assert_int_equal(ev.source, XSW_SRC_UNKNOWN);
	assert_int_equal(ev.vcpu_id, -1);		/* absent: not about one vCPU */
	assert_int_equal(ev.ret, -16);			/* errno is ignored on input */
	assert_int_equal(ev.set_cpuid.cpuid.xcr0, 0x207);
	assert_int_equal(ev.set_cpuid.cpuid.xss, 0x800);
	assert_int_equal(ev.set_cpuid.cpuid.leaf7_edx, 16);
	assert_int_equal(ev.set_cpuid.cpuid.has_leaf_d, 1);
	assert_int_equal(ev.set_cpuid.nent, 42);
	assert_int_equal(ev.set_cpuid.fps.valid, 1);
	assert_int_equal(ev.set_cpuid.fps.size, 880);
	assert_int_equal(ev.set_cpuid.fps.is_guest, 0);
	assert_int_equal(ev.set_cpuid.guest_perm.valid, 0);
	assert_int_equal(ev.ts_ns, 0);
	assert_int_equal(ev.comm[0], '\0');
}

struct bad_case {
	const char *line;
	const char *msg;
};

/*
 * Each class of bad input, with the whole message it must produce: file,
 * line, field, what was expected, what was found.
 */
static const struct bad_case bad_cases[] = {
	/* not JSON: GNU-style file:line:column */
	{ "{\"schema\":1,\"event\":\"lost\",",
	  "trace.jsonl:12:27: not JSON: string or '}' expected near end of file" },
	{ "{\"schema\":1 \"event\":\"lost\"}",
	  "trace.jsonl:12:19: not JSON: '}' expected near '\"event\"'" },
	{ "{\"schema\":1,\"event\":\"lost\"} {}",
	  "trace.jsonl:12:29: not JSON: end of file expected near '{'" },
	{ "{\"schema\":1,\"schema\":1,\"event\":\"lost\"}",
	  "trace.jsonl:12:20: not JSON: duplicate object key near '\"schema\"'" },
	{ "",
	  "trace.jsonl:12:0: not JSON: unexpected token near end of file" },
	/* not an object */
	{ "[{\"schema\":1}]", "trace.jsonl:12: expected a JSON object, got array" },
	{ "\"set_cpuid\"", "trace.jsonl:12: expected a JSON object, got string" },
	/* schema */
	{ "{\"event\":\"lost\",\"count\":1}",
	  "trace.jsonl:12: field 'schema': missing (this reader understands schema 1)" },
	{ "{\"schema\":2,\"event\":\"lost\"}",
	  "trace.jsonl:12: field 'schema': version 2 is newer than this reader's 1: "
	  "use a newer xstate-watch" },
	{ "{\"schema\":0,\"event\":\"lost\"}",
	  "trace.jsonl:12: field 'schema': unsupported version 0 (this reader understands 1)" },
	{ "{\"schema\":\"1\",\"event\":\"lost\"}",
	  "trace.jsonl:12: field 'schema': expected integer, got string" },
	/* event */
	{ "{\"schema\":1}", "trace.jsonl:12: field 'event': missing" },
	{ "{\"schema\":1,\"event\":\"set_cpuid2\"}",
	  "trace.jsonl:12: field 'event': unknown event type \"set_cpuid2\"" },
	{ "{\"schema\":1,\"event\":6}",
	  "trace.jsonl:12: field 'event': expected string, got integer" },
	/* wrong type */
	{ "{\"schema\":1,\"event\":\"first_run\",\"vcpu_id\":\"0\"}",
	  "trace.jsonl:12: field 'vcpu_id': expected integer, got string" },
	{ "{\"schema\":1,\"event\":\"lost\",\"ts_ns\":1.5}",
	  "trace.jsonl:12: field 'ts_ns': expected integer, got real" },
	{ "{\"schema\":1,\"event\":\"set_cpuid\",\"cpuid_xcr0\":true}",
	  "trace.jsonl:12: field 'cpuid_xcr0': expected hex string or integer, got boolean" },
	{ "{\"schema\":1,\"event\":\"set_cpuid\",\"fpstate\":{\"size\":\"big\"}}",
	  "trace.jsonl:12: field 'fpstate.size': \"big\" is not a 64-bit hex number like \"0x207\"" },
	{ "{\"schema\":1,\"event\":\"set_cpuid\",\"fpstate\":[880]}",
	  "trace.jsonl:12: field 'fpstate': expected object, got array" },
	{ "{\"schema\":1,\"event\":\"set_cpuid\",\"has_leaf_d\":\"yes\"}",
	  "trace.jsonl:12: field 'has_leaf_d': expected boolean, got string" },
	{ "{\"schema\":1,\"event\":\"lost\",\"comm\":42}",
	  "trace.jsonl:12: field 'comm': expected string, got integer" },
	{ "{\"schema\":1,\"event\":\"lost\",\"source\":1}",
	  "trace.jsonl:12: field 'source': expected string, got integer" },
	{ "{\"schema\":1,\"event\":\"lint\",\"cause\":6}",
	  "trace.jsonl:12: field 'cause': expected event name (string), got integer" },
	/* out of range */
	{ "{\"schema\":1,\"event\":\"perm_sync\",\"fpstate\":{\"size\":-1}}",
	  "trace.jsonl:12: field 'fpstate.size': -1 out of range 0..4294967295" },
	{ "{\"schema\":1,\"event\":\"vm_create\",\"pid\":4294967296}",
	  "trace.jsonl:12: field 'pid': 4294967296 out of range 0..4294967295" },
	{ "{\"schema\":1,\"event\":\"vm_create\",\"vcpu_id\":2147483648}",
	  "trace.jsonl:12: field 'vcpu_id': 2147483648 out of range -2147483648..2147483647" },
	{ "{\"schema\":1,\"event\":\"process_exit\",\"exit_code\":-2147483649}",
	  "trace.jsonl:12: field 'exit_code': -2147483649 out of range -2147483648..2147483647" },
	{ "{\"schema\":1,\"event\":\"first_run\",\"guest_xcr0\":\"0x2g7\"}",
	  "trace.jsonl:12: field 'guest_xcr0': \"0x2g7\" is not a 64-bit hex number like \"0x207\"" },
	{ "{\"schema\":1,\"event\":\"first_run\",\"guest_xcr0\":\"519\"}",
	  "trace.jsonl:12: field 'guest_xcr0': \"519\" is not a 64-bit hex number like \"0x207\"" },
	{ "{\"schema\":1,\"event\":\"first_run\",\"guest_xcr0\":\"0x\"}",
	  "trace.jsonl:12: field 'guest_xcr0': \"0x\" is not a 64-bit hex number like \"0x207\"" },
	{ "{\"schema\":1,\"event\":\"first_run\",\"guest_xcr0\":\"0x10000000000000000\"}",
	  "trace.jsonl:12: field 'guest_xcr0': \"0x10000000000000000\" is not a 64-bit hex "
	  "number like \"0x207\"" },
	{ "{\"schema\":1,\"event\":\"first_run\",\"guest_xcr0\":-1}",
	  "trace.jsonl:12: field 'guest_xcr0': -1 out of range 0..0xffffffffffffffff" },
	{ "{\"schema\":1,\"event\":\"set_cpuid\",\"leaf7_edx\":\"0x100000000\"}",
	  "trace.jsonl:12: field 'leaf7_edx': 0x100000000 out of range 0..0xffffffff" },
	{ "{\"schema\":1,\"event\":\"set_cpuid\",\"perm\":{\"locked\":2}}",
	  "trace.jsonl:12: field 'perm.locked': 2 is not a boolean (true, false, 1 or 0)" },
	{ "{\"schema\":1,\"event\":\"vm_create\",\"comm\":\"qemu-system-x86_64\"}",
	  "trace.jsonl:12: field 'comm': \"qemu-system-x86_64\" is 18 bytes long, at most 15 fit" },
	{ "{\"schema\":1,\"event\":\"violation\",\"id\":\"lint-cpuid-after-first-run\"}",
	  "trace.jsonl:12: field 'id': \"lint-cpuid-after-first-run\" is 26 bytes long, "
	  "at most 15 fit" },
	{ "{\"schema\":1,\"event\":\"lint\",\"cause\":\"kvm_run\"}",
	  "trace.jsonl:12: field 'cause': unknown event type \"kvm_run\"" },
	{ "{\"schema\":1,\"event\":\"lost\",\"source\":\"kprobe\"}",
	  "trace.jsonl:12: field 'source': unknown source \"kprobe\" (expected tracepoint, "
	  "fentry, syscall, replay, model, check or unknown)" },
};

static void test_bad_input(void **state)
{
	struct xsw_event ev, zero;
	struct xsw_err err;
	unsigned int mismatches = 0;
	size_t i;

	memset(&zero, 0, sizeof(zero));
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];

		memset(&ev, 0xa5, sizeof(ev));
		assert_int_equal(xsw_event_from_json(c->line, &ev, "trace.jsonl", 12, &err),
				 -EINVAL);
		assert_int_equal(err.code, -EINVAL);
		if (strcmp(err.msg, c->msg)) {
			/* Report every mismatch, then fail. */
			print_error("input: %s\n  got:  %s\n  want: %s\n", c->line, err.msg, c->msg);
			mismatches++;
		}
		/* A failed decode leaves no half-filled event behind. */
		assert_memory_equal(&ev, &zero, sizeof(ev));
	}
	assert_int_equal(mismatches, 0);
}

/* Without a line number (a single object, not a file) the label is just the name. */
static void test_bad_input_labels(void **state)
{
	struct xsw_event ev;
	struct xsw_err err;

	assert_int_equal(xsw_event_from_json("{\"schema\":1,\"event\":\"x\"}", &ev, NULL, 0,
					     &err), -EINVAL);
	assert_string_equal(err.msg, "<input>: field 'event': unknown event type \"x\"");
	/* err may be NULL: the code still says what happened. */
	assert_int_equal(xsw_event_from_json("[]", &ev, "f", 1, NULL), -EINVAL);
}

/* ---- reader -------------------------------------------------------------- */

static char *write_temp(const char *text)
{
	char *path = strdup("/tmp/test_event_json.XXXXXX");
	int fd;

	assert_non_null(path);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void test_reader(void **state)
{
	struct xsw_event_reader *r;
	struct xsw_event ev, want;
	struct xsw_err err;
	char msg[600];
	char *text, *path, *good, *p;
	size_t big = 200000;	/* far beyond any fixed line buffer */

	realistic(&want, XSW_EV_SET_CPUID);
	good = xsw_event_to_json(&want);
	assert_non_null(good);

	/*
	 * 1 comment, 2 blank, 3 event, 4 indented comment, 5 bad, 6 whitespace,
	 * 7 long event (a huge unknown field), 8 event without a final newline.
	 */
	text = malloc(big + 3 * strlen(good) + 256);
	assert_non_null(text);
	p = text;
	p += sprintf(p, "# recorded by test_event_json\n\n%s\n   # indented comment\n", good);
	p += sprintf(p, "{\"schema\":1,\"event\":\"first_run\",\"vcpu_id\":\"zero\"}\n \t \n");
	p += sprintf(p, "%.*s,\"padding\":\"", (int)strlen(good) - 1, good);
	memset(p, 'z', big);
	p += big;
	p += sprintf(p, "\"}\n%s", good);
	path = write_temp(text);
	free(text);

	r = xsw_event_reader_open(path, &err);
	assert_non_null(r);

	assert_int_equal(xsw_event_reader_next(r, &ev, &err), 1);
	assert_memory_equal(&ev, &want, sizeof(ev));

	assert_int_equal(xsw_event_reader_next(r, &ev, &err), -EINVAL);
	snprintf(msg, sizeof(msg), "%s:5: field 'vcpu_id': expected integer, got string", path);
	assert_string_equal(err.msg, msg);

	/* The reader carries on after a bad line. */
	assert_int_equal(xsw_event_reader_next(r, &ev, &err), 1);
	assert_int_equal(err.code, 0);
	assert_memory_equal(&ev, &want, sizeof(ev));
	assert_int_equal(xsw_event_reader_next(r, &ev, &err), 1);
	assert_memory_equal(&ev, &want, sizeof(ev));
	assert_int_equal(xsw_event_reader_next(r, &ev, &err), 0);
	assert_int_equal(xsw_event_reader_next(r, &ev, &err), 0);	/* stays at EOF */
	xsw_event_reader_close(r);

	/* Errors after the long line still count lines right. */
	text = malloc(strlen(good) * 2 + 64);
	sprintf(text, "%s\n\n%s\nnot json\n", good, good);
	unlink(path);
	free(path);
	path = write_temp(text);
	free(text);
	r = xsw_event_reader_open(path, &err);
	assert_non_null(r);
	assert_int_equal(xsw_event_reader_next(r, &ev, &err), 1);
	assert_int_equal(xsw_event_reader_next(r, &ev, &err), 1);
	assert_int_equal(xsw_event_reader_next(r, &ev, &err), -EINVAL);
	snprintf(msg, sizeof(msg), "%s:4:3: not JSON: invalid token near 'not'", path);
	assert_string_equal(err.msg, msg);
	/* Closing before the end of the file leaks nothing (ASan checks). */
	xsw_event_reader_close(r);
	xsw_event_reader_close(NULL);

	unlink(path);
	free(path);
	free(good);
}

static void test_reader_missing_file(void **state)
{
	struct xsw_err err;

	assert_null(xsw_event_reader_open("/nonexistent/trace.jsonl", &err));
	assert_int_equal(err.code, -ENOENT);
	assert_string_equal(err.msg,
			    "/nonexistent/trace.jsonl: cannot open: No such file or directory");
}

static void test_reader_nul_byte(void **state)
{
	struct xsw_event_reader *r;
	struct xsw_event ev;
	struct xsw_err err;
	char msg[300];
	char path[] = "/tmp/test_event_json.XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "{\"schema\":1,\0\"event\":\"lost\"}\n", 29), 29);
	close(fd);
	r = xsw_event_reader_open(path, &err);
	assert_non_null(r);
	assert_int_equal(xsw_event_reader_next(r, &ev, &err), -EINVAL);
	snprintf(msg, sizeof(msg), "%s:1: line contains a NUL byte", path);
	assert_string_equal(err.msg, msg);
	assert_int_equal(xsw_event_reader_next(r, &ev, &err), 0);
	xsw_event_reader_close(r);
	unlink(path);
}

/* "-" reads standard input, labelled <stdin> in errors. */
static void test_reader_stdin(void **state)
{
	struct xsw_event_reader *r;
	struct xsw_event ev, want;
	struct xsw_err err;
	char *good, *text, *path;
	int fd, saved;

	realistic(&want, XSW_EV_LOST);
	good = xsw_event_to_json(&want);
	text = malloc(strlen(good) + 64);
	sprintf(text, "%s\n{\"schema\":1,\"event\":\"lost\",\"count\":-1}\n", good);
	path = write_temp(text);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	saved = dup(STDIN_FILENO);
	assert_true(dup2(fd, STDIN_FILENO) == STDIN_FILENO);
	close(fd);
	clearerr(stdin);

	r = xsw_event_reader_open("-", &err);
	assert_non_null(r);
	assert_int_equal(xsw_event_reader_next(r, &ev, &err), 1);
	assert_memory_equal(&ev, &want, sizeof(ev));
	assert_int_equal(xsw_event_reader_next(r, &ev, &err), -EINVAL);
	assert_string_equal(err.msg,
			    "<stdin>:2: field 'count': -1 out of range 0..18446744073709551615");
	assert_int_equal(xsw_event_reader_next(r, &ev, &err), 0);
	xsw_event_reader_close(r);	/* must not close stdin */
	assert_int_equal(fcntl(STDIN_FILENO, F_GETFD), 0);

	assert_true(dup2(saved, STDIN_FILENO) == STDIN_FILENO);
	close(saved);
	clearerr(stdin);
	unlink(path);
	free(path);
	free(text);
	free(good);
}

/* ---- the shipped examples ------------------------------------------------ */

/* The source tree: $XSW_TOP, else where this file was compiled from. */
static void source_path(char *buf, size_t size, const char *rel)
{
	const char *top = getenv("XSW_TOP");

	if (top && *top) {
		snprintf(buf, size, "%s/%s", top, rel);
	} else {
		const char *marker = strstr(__FILE__, "tests/unit/");

		snprintf(buf, size, "%.*s%s", marker ? (int)(marker - __FILE__) : 0,
			 __FILE__, rel);
	}
}

/*
 * tests/fixtures/traces/schema-examples.jsonl holds one line per event type:
 * exactly what the encoder writes for the realistic() events. A change of
 * the output format breaks this test on purpose: the schema is a contract.
 */
static void test_fixture_examples(void **state)
{
	struct xsw_event_reader *r;
	struct xsw_event ev, want;
	struct xsw_err err;
	unsigned int seen[XSW_EV_MAX] = { 0 };
	unsigned int type;
	char path[4096];
	char *line;
	int ret;

	source_path(path, sizeof(path), "tests/fixtures/traces/schema-examples.jsonl");
	r = xsw_event_reader_open(path, &err);
	if (!r)
		fail_msg("%s", err.msg);
	while ((ret = xsw_event_reader_next(r, &ev, &err)) != 0) {
		if (ret < 0)
			fail_msg("%s", err.msg);
		seen[ev.type]++;
		realistic(&want, ev.type);
		line = xsw_event_to_json(&want);
		if (memcmp(&ev, &want, sizeof(ev)))
			fail_msg("%s: the %s example differs from the encoder's output:\n%s",
				 path, xsw_event_type_name(ev.type), line);
		free(line);
	}
	xsw_event_reader_close(r);
	for (type = 1; type < XSW_EV_MAX; type++)
		if (seen[type] != 1)
			fail_msg("%s: %u examples of %s, want 1", path, seen[type],
				 xsw_event_type_name(type));
}

/* Every example line in docs/event-schema.md decodes, and every type has one. */
static void test_doc_examples(void **state)
{
	unsigned int seen[XSW_EV_MAX] = { 0 };
	struct xsw_event ev;
	struct xsw_err err;
	char path[4096];
	char *line = NULL;
	size_t cap = 0;
	unsigned long lineno = 0;
	unsigned int type;
	FILE *f;

	source_path(path, sizeof(path), "docs/event-schema.md");
	f = fopen(path, "r");
	if (!f)
		fail_msg("%s: %s", path, strerror(errno));
	while (getline(&line, &cap, f) > 0) {
		lineno++;
		if (strncmp(line, "{\"schema\":", 10))
			continue;
		if (xsw_event_from_json(line, &ev, path, lineno, &err))
			fail_msg("%s", err.msg);
		seen[ev.type]++;
	}
	free(line);
	fclose(f);
	for (type = 1; type < XSW_EV_MAX; type++)
		if (!seen[type])
			fail_msg("%s: no example of %s", path, xsw_event_type_name(type));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_round_trip_realistic),
		cmocka_unit_test(test_round_trip_extremes),
		cmocka_unit_test(test_round_trip_unreadable_objects),
		cmocka_unit_test(test_output_format),
		cmocka_unit_test(test_output_rejects_bad_events),
		cmocka_unit_test(test_output_non_utf8_comm),
		cmocka_unit_test(test_write_json),
		cmocka_unit_test(test_input_lenient_forms),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_bad_input_labels),
		cmocka_unit_test(test_reader),
		cmocka_unit_test(test_reader_missing_file),
		cmocka_unit_test(test_reader_nul_byte),
		cmocka_unit_test(test_reader_stdin),
		cmocka_unit_test(test_fixture_examples),
		cmocka_unit_test(test_doc_examples),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
