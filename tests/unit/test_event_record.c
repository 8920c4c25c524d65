// SPDX-License-Identifier: GPL-2.0
/*
 * Ring buffer records: each event type's record holds the header and that
 * type's payload and no more than a struct xsw_event, and a reader turns a
 * record into a whole event with zeroes past it, refusing records too
 * short for their type or too long for an event.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "xsw_event.h"

#define END_OF(member) (offsetof(struct xsw_event, member) + \
			sizeof(((struct xsw_event *)0)->member))

/* The payload each type's fields live in (what the probes and sinks write). */
static size_t payload_end(unsigned int type)
{
	switch (type) {
	case XSW_EV_PERM_REQUEST: return END_OF(perm);
	case XSW_EV_SUPPORTED_CPUID: return END_OF(supported);
	case XSW_EV_VM_CREATE: return END_OF(vm_create);
	case XSW_EV_VCPU_CREATE:
	case XSW_EV_PERM_SYNC:
	case XSW_EV_VCPU_DESTROY: return END_OF(vcpu);
	case XSW_EV_SET_CPUID: return END_OF(set_cpuid);
	case XSW_EV_FPSTATE_REALLOC: return END_OF(realloc);
	case XSW_EV_FIRST_RUN:
	case XSW_EV_XCR0_CHANGE: return END_OF(run);
	case XSW_EV_VM_DESTROY: return offsetof(struct xsw_event, perm);
	case XSW_EV_PROCESS_EXIT: return END_OF(exit);
	case XSW_EV_LOST: return END_OF(lost);
	default: return sizeof(struct xsw_event);
	}
}

static void test_sizes_cover_payload(void **state)
{
	unsigned int type;

	(void)state;
	for (type = XSW_EV_NONE; type <= XSW_EV_MAX; type++) {
		__u32 bytes = xsw_event_bytes(type);

		assert_true(bytes >= XSW_EV_HEADER_BYTES);
		assert_true(bytes <= sizeof(struct xsw_event));
		assert_int_equal(bytes, payload_end(type));
	}
	/* The hot record, vcpu_create, is well under the whole struct. */
	assert_true(xsw_event_bytes(XSW_EV_VCPU_CREATE) < sizeof(struct xsw_event) * 2 / 3);
}

static void test_short_record_zero_filled(void **state)
{
	unsigned char rec[sizeof(struct xsw_event)];
	struct xsw_event in, out;
	size_t n = xsw_event_bytes(XSW_EV_VCPU_CREATE);

	(void)state;
	memset(&in, 0, sizeof(in));
	in.type = XSW_EV_VCPU_CREATE;
	in.vcpu_id = 7;
	in.vcpu.fps.size = 2496;
	in.vcpu.uabi_size = 4096;
	memcpy(rec, &in, n);
	memset(rec + n, 0x5a, sizeof(rec) - n);	/* what follows in the ring */
	memset(&out, 0xa5, sizeof(out));
	assert_true(xsw_record_event(rec, n, &out));
	assert_memory_equal(&out, &in, sizeof(out));
}

static void test_bad_lengths_refused(void **state)
{
	unsigned char rec[sizeof(struct xsw_event) + 8];
	struct xsw_event in, out;

	(void)state;
	memset(&in, 0, sizeof(in));
	in.type = XSW_EV_SET_CPUID;
	memcpy(rec, &in, sizeof(in));
	/* One byte short of its payload, shorter than a header, longer than an event. */
	assert_false(xsw_record_event(rec, xsw_event_bytes(XSW_EV_SET_CPUID) - 1, &out));
	assert_false(xsw_record_event(rec, XSW_EV_HEADER_BYTES - 1, &out));
	assert_false(xsw_record_event(rec, sizeof(rec), &out));
	/* An unknown type needs a whole event. */
	in.type = XSW_EV_MAX + 5;
	memcpy(rec, &in, sizeof(in));
	assert_false(xsw_record_event(rec, XSW_EV_HEADER_BYTES, &out));
	assert_true(xsw_record_event(rec, sizeof(struct xsw_event), &out));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes_cover_payload),
		cmocka_unit_test(test_short_record_zero_filled),
		cmocka_unit_test(test_bad_lengths_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
