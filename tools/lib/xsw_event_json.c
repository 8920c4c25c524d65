// SPDX-License-Identifier: GPL-2.0
/*
 * JSON-lines codec for struct xsw_event (see xsw_event_json.h and
 * docs/event-schema.md).
 *
 * Every event type is described once, by a table of fields (JSON name,
 * kind, offset in struct xsw_event). The encoder and the decoder both walk
 * the same tables, so they cannot drift apart, and the output is
 * deterministic: fields are written in table order, nothing else.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "xsw_event_json.h"

static const char *const event_names[XSW_EV_MAX] = {
	[XSW_EV_PERM_REQUEST] = "perm_request",
	[XSW_EV_SUPPORTED_CPUID] = "supported_cpuid",
	[XSW_EV_VM_CREATE] = "vm_create",
	[XSW_EV_VCPU_CREATE] = "vcpu_create",
	[XSW_EV_PERM_SYNC] = "perm_sync",
	[XSW_EV_SET_CPUID] = "set_cpuid",
	[XSW_EV_FPSTATE_REALLOC] = "fpstate_realloc",
	[XSW_EV_FIRST_RUN] = "first_run",
	[XSW_EV_XCR0_CHANGE] = "xcr0_change",
	[XSW_EV_VCPU_DESTROY] = "vcpu_destroy",
	[XSW_EV_VM_DESTROY] = "vm_destroy",
	[XSW_EV_PROCESS_EXIT] = "process_exit",
	[XSW_EV_LOST] = "lost",
	[XSW_EV_VIOLATION] = "violation",
	[XSW_EV_LINT] = "lint",
};

static const char *const source_names[] = {
	[XSW_SRC_UNKNOWN] = "unknown",
	[XSW_SRC_TRACEPOINT] = "tracepoint",
	[XSW_SRC_FENTRY] = "fentry",
	[XSW_SRC_SYSCALL] = "syscall",
	[XSW_SRC_REPLAY] = "replay",
	[XSW_SRC_MODEL] = "model",
	[XSW_SRC_CHECK] = "check",
};

#define MAX_ERRNO 4095	/* as in include/linux/err.h */
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

const char *xsw_event_type_name(unsigned int type)
{
	/* XSW_EV_NONE has no name: it is never a valid event. */
	if (type >= XSW_EV_MAX)
		return NULL;
	return event_names[type];
}

int xsw_event_type_from_name(const char *name)
{
	unsigned int i;

	if (!name)
		return -1;
	for (i = 0; i < XSW_EV_MAX; i++)
		if (event_names[i] && !strcmp(event_names[i], name))
			return (int)i;
	return -1;
}

const char *xsw_source_name(unsigned int source)
{
	if (source >= ARRAY_SIZE(source_names))
		return NULL;
	return source_names[source];
}

int xsw_source_from_name(const char *name)
{
	unsigned int i;

	if (!name)
		return -1;
	for (i = 0; i < ARRAY_SIZE(source_names); i++)
		if (!strcmp(source_names[i], name))
			return (int)i;
	return -1;
}

/* --- field tables --------------------------------------------------------- */

enum field_kind {
	F_U32,		/* integer 0..UINT32_MAX */
	F_S32,		/* integer INT32_MIN..INT32_MAX */
	F_RET,		/* F_S32, followed on output by "errno" when negative */
	F_U64,		/* integer; hex string above INT64_MAX (jansson's limit) */
	F_HEX32,	/* __u32 written as "0x..." (option codes, CPUID registers) */
	F_HEX64,	/* __u64 written as "0x..." (masks, opaque ids) */
	F_BOOL,		/* __u8 flag written as true/false */
	F_STR,		/* NUL-terminated char[size] */
	F_EVTYPE,	/* __u32 event type written by name, omitted when 0 */
	F_OBJ,		/* nested object, omitted when its valid byte is 0 */
};

struct field {
	const char *name;
	enum field_kind kind;
	size_t off;			/* in the enclosing struct */
	size_t size;			/* F_STR: buffer size */
	const struct field *sub;	/* F_OBJ: the object's fields */
	size_t valid_off;		/* F_OBJ: offset of its valid byte */
	bool dflt_minus1;		/* absent on input means -1, not 0 */
};

#define EV(member) offsetof(struct xsw_event, member)
#define FLD(n, k, o) { .name = (n), .kind = (k), .off = (o) }
#define STR(n, o, s) { .name = (n), .kind = F_STR, .off = (o), .size = (s) }
#define OBJ(n, o, s, v) { .name = (n), .kind = F_OBJ, .off = (o), .sub = (s), .valid_off = (v) }
#define END { .name = NULL }

static const struct field fpstate_fields[] = {
	FLD("size", F_U32, offsetof(struct xsw_fpstate, size)),
	FLD("user_size", F_U32, offsetof(struct xsw_fpstate, user_size)),
	FLD("xfeatures", F_HEX64, offsetof(struct xsw_fpstate, xfeatures)),
	FLD("user_xfeatures", F_HEX64, offsetof(struct xsw_fpstate, user_xfeatures)),
	FLD("xfd", F_HEX64, offsetof(struct xsw_fpstate, xfd)),
	FLD("is_guest", F_BOOL, offsetof(struct xsw_fpstate, is_guest)),
	FLD("in_use", F_BOOL, offsetof(struct xsw_fpstate, in_use)),
	END
};

static const struct field perm_fields[] = {
	FLD("mask", F_HEX64, offsetof(struct xsw_perm, perm)),
	FLD("size", F_U32, offsetof(struct xsw_perm, size)),
	FLD("user_size", F_U32, offsetof(struct xsw_perm, user_size)),
	FLD("locked", F_BOOL, offsetof(struct xsw_perm, locked)),
	END
};

#define FPSTATE(n, o) OBJ(n, o, fpstate_fields, offsetof(struct xsw_fpstate, valid))
#define PERM(n, o) OBJ(n, o, perm_fields, offsetof(struct xsw_perm, valid))

/* Leaf 0xD as a CPUID table states it, flattened with a "cpuid_" prefix. */
#define CPUID_FIELDS(m)								\
	FLD("cpuid_xcr0", F_HEX64, EV(m.xcr0)),					\
	FLD("cpuid_xss", F_HEX64, EV(m.xss)),					\
	FLD("cpuid_size_std", F_U32, EV(m.size_std)),				\
	FLD("cpuid_size_max", F_U32, EV(m.size_max)),				\
	FLD("cpuid_size_compacted", F_U32, EV(m.size_compacted)),		\
	FLD("leaf7_edx", F_HEX32, EV(m.leaf7_edx)),				\
	FLD("has_leaf_d", F_BOOL, EV(m.has_leaf_d))

static const struct field common_fields[] = {
	/* "schema", "event" and "source" are handled by hand. */
	FLD("ts_ns", F_U64, EV(ts_ns)),
	FLD("pid", F_U32, EV(pid)),
	FLD("tid", F_U32, EV(tid)),
	STR("comm", EV(comm), sizeof(((struct xsw_event *)0)->comm)),
	FLD("vm", F_HEX64, EV(vm)),
	{ .name = "vcpu_id", .kind = F_S32, .off = EV(vcpu_id), .dflt_minus1 = true },
	FLD("ret", F_RET, EV(ret)),
	FLD("duration_ns", F_U64, EV(duration_ns)),
	END
};

static const struct field perm_request_fields[] = {
	FLD("option", F_HEX32, EV(perm.option)),
	FLD("guest", F_BOOL, EV(perm.guest)),
	FLD("request", F_BOOL, EV(perm.request)),
	FLD("arg", F_U64, EV(perm.arg)),
	PERM("before", EV(perm.before)),
	PERM("after", EV(perm.after)),
	END
};

static const struct field supported_cpuid_fields[] = {
	FLD("nent", F_U32, EV(supported.nent)),
	FLD("system", F_BOOL, EV(supported.system)),
	CPUID_FIELDS(supported.cpuid),
	PERM("perm", EV(supported.guest_perm)),
	END
};

static const struct field vm_create_fields[] = {
	FLD("vm_type", F_U32, EV(vm_create.type)),
	END
};

static const struct field vcpu_fields[] = {
	FPSTATE("fpstate", EV(vcpu.fps)),
	PERM("perm", EV(vcpu.guest_perm)),
	FLD("fpu_guest_perm", F_HEX64, EV(vcpu.fpu_guest_perm)),
	FLD("fpu_guest_xfeatures", F_HEX64, EV(vcpu.fpu_guest_xfeatures)),
	FLD("uabi_size", F_U32, EV(vcpu.uabi_size)),
	FLD("locked_now", F_BOOL, EV(vcpu.locked_now)),
	END
};

static const struct field set_cpuid_fields[] = {
	FLD("nent", F_U32, EV(set_cpuid.nent)),
	FLD("generation", F_U32, EV(set_cpuid.generation)),
	CPUID_FIELDS(set_cpuid.cpuid),
	FLD("guest_supported_xcr0", F_HEX64, EV(set_cpuid.guest_supported_xcr0)),
	FLD("guest_supported_xss", F_HEX64, EV(set_cpuid.guest_supported_xss)),
	PERM("perm", EV(set_cpuid.guest_perm)),
	FPSTATE("fpstate", EV(set_cpuid.fps)),
	FLD("required_compacted", F_U32, EV(set_cpuid.required_compacted)),
	FLD("required_std", F_U32, EV(set_cpuid.required_std)),
	FLD("hyp_buffer_size", F_U32, EV(set_cpuid.hyp_buffer_size)),
	FLD("hyp_xcr0", F_HEX64, EV(set_cpuid.hyp_xcr0)),
	END
};

static const struct field realloc_fields[] = {
	FLD("xfeatures_added", F_HEX64, EV(realloc.xfeatures_added)),
	FLD("old_size", F_U32, EV(realloc.old_size)),
	FLD("new_size", F_U32, EV(realloc.new_size)),
	FLD("user_size", F_U32, EV(realloc.user_size)),
	FLD("guest", F_BOOL, EV(realloc.guest)),
	FLD("in_use", F_BOOL, EV(realloc.in_use)),
	FLD("xfeatures", F_HEX64, EV(realloc.xfeatures)),
	FLD("user_xfeatures", F_HEX64, EV(realloc.user_xfeatures)),
	END
};

static const struct field run_fields[] = {
	FLD("guest_xcr0", F_HEX64, EV(run.guest_xcr0)),
	FLD("guest_supported_xcr0", F_HEX64, EV(run.guest_supported_xcr0)),
	FPSTATE("fpstate", EV(run.fps)),
	END
};

static const struct field no_fields[] = {
	END
};

static const struct field exit_fields[] = {
	FLD("exit_code", F_S32, EV(exit.exit_code)),
	END
};

static const struct field lost_fields[] = {
	FLD("count", F_U64, EV(lost.count)),
	FLD("skipped", F_BOOL, EV(lost.skipped)),
	END
};

static const struct field finding_fields[] = {
	STR("id", EV(finding.id), XSW_FINDING_ID_LEN),
	FLD("have_size", F_U64, EV(finding.have_size)),
	FLD("need_size", F_U64, EV(finding.need_size)),
	FLD("have_mask", F_HEX64, EV(finding.have_mask)),
	FLD("need_mask", F_HEX64, EV(finding.need_mask)),
	FLD("cause", F_EVTYPE, EV(finding.cause_type)),
	STR("text", EV(finding.text), XSW_FINDING_TEXT_LEN),
	END
};

static const struct field *const type_fields[XSW_EV_MAX] = {
	[XSW_EV_PERM_REQUEST] = perm_request_fields,
	[XSW_EV_SUPPORTED_CPUID] = supported_cpuid_fields,
	[XSW_EV_VM_CREATE] = vm_create_fields,
	[XSW_EV_VCPU_CREATE] = vcpu_fields,
	[XSW_EV_PERM_SYNC] = vcpu_fields,
	[XSW_EV_SET_CPUID] = set_cpuid_fields,
	[XSW_EV_FPSTATE_REALLOC] = realloc_fields,
	[XSW_EV_FIRST_RUN] = run_fields,
	[XSW_EV_XCR0_CHANGE] = run_fields,
	[XSW_EV_VCPU_DESTROY] = vcpu_fields,
	[XSW_EV_VM_DESTROY] = no_fields,
	[XSW_EV_PROCESS_EXIT] = exit_fields,
	[XSW_EV_LOST] = lost_fields,
	[XSW_EV_VIOLATION] = finding_fields,
	[XSW_EV_LINT] = finding_fields,
};

/* --- encoding --------------------------------------------------------------- */

static json_t *hex_string(uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "0x%" PRIx64, v);
	return json_string(buf);
}

/*
 * A fixed char buffer as a JSON string. At most size - 1 bytes, so that the
 * decoder (which needs room for the NUL) reads back whatever we write.
 * jansson only takes UTF-8; a comm is whatever bytes the task chose, so
 * when the bytes are not valid UTF-8, mask every non-ASCII byte with '?'
 * rather than lose the whole event.
 */
static json_t *fixed_string(const char *s, size_t size)
{
	size_t len = strnlen(s, size - 1);
	char buf[XSW_FINDING_TEXT_LEN];
	size_t i;
	json_t *j;

	if (len >= sizeof(buf))
		len = sizeof(buf) - 1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	j = json_stringn(buf, len);
	if (j)
		return j;
	/* Invalid UTF-8: keep ASCII, mask the rest. */
	for (i = 0; i < len; i++)
		if ((unsigned char)buf[i] >= 0x80)
			buf[i] = '?';
	return json_stringn(buf, len);
}

static int set_new(json_t *obj, const char *name, json_t *v)
{
	/* json_object_set_new() frees @v on failure, NULL included. */
	return json_object_set_new(obj, name, v) ? -ENOMEM : 0;
}

static int encode_fields(json_t *obj, const void *base, const struct field *f);

static int encode_field(json_t *obj, const void *base, const struct field *f)
{
	const char *p = (const char *)base + f->off;
	uint32_t u32;
	int32_t s32;
	uint64_t u64;
	json_t *sub;
	int err;

	switch (f->kind) {
	case F_U32:
		memcpy(&u32, p, sizeof(u32));
		return set_new(obj, f->name, json_integer(u32));
	case F_S32:
		memcpy(&s32, p, sizeof(s32));
		return set_new(obj, f->name, json_integer(s32));
	case F_RET:
		/*
		 * The name is for humans; the decoder ignores it. Only the
		 * kernel's errno range (-MAX_ERRNO..-1) has one.
		 */
		memcpy(&s32, p, sizeof(s32));
		err = set_new(obj, f->name, json_integer(s32));
		if (!err && s32 < 0 && s32 >= -MAX_ERRNO)
			err = set_new(obj, "errno", json_string(xsw_errno_name(s32)));
		return err;
	case F_U64:
		memcpy(&u64, p, sizeof(u64));
		if (u64 > INT64_MAX)
			return set_new(obj, f->name, hex_string(u64));
		return set_new(obj, f->name, json_integer((json_int_t)u64));
	case F_HEX32:
		memcpy(&u32, p, sizeof(u32));
		return set_new(obj, f->name, hex_string(u32));
	case F_HEX64:
		memcpy(&u64, p, sizeof(u64));
		return set_new(obj, f->name, hex_string(u64));
	case F_BOOL:
		return set_new(obj, f->name, json_boolean(*(const uint8_t *)p));
	case F_STR:
		return set_new(obj, f->name, fixed_string(p, f->size));
	case F_EVTYPE:
		memcpy(&u32, p, sizeof(u32));
		if (!u32)
			return 0;
		if (!xsw_event_type_name(u32))
			return -EINVAL;
		return set_new(obj, f->name, json_string(xsw_event_type_name(u32)));
	case F_OBJ:
		if (!p[f->valid_off])
			return 0;
		sub = json_object();
		if (!sub)
			return -ENOMEM;
		err = encode_fields(sub, p, f->sub);
		if (err) {
			json_decref(sub);
			return err;
		}
		return set_new(obj, f->name, sub);
	}
	return -EINVAL;
}

static int encode_fields(json_t *obj, const void *base, const struct field *f)
{
	int err;

	for (; f->name; f++) {
		err = encode_field(obj, base, f);
		if (err)
			return err;
	}
	return 0;
}

char *xsw_event_to_json(const struct xsw_event *ev)
{
	const char *type = xsw_event_type_name(ev->type);
	const char *source = xsw_source_name(ev->source);
	json_t *obj;
	char *line = NULL;
	int err;

	if (!type || !source) {
		errno = EINVAL;
		return NULL;
	}
	obj = json_object();
	if (!obj) {
		errno = ENOMEM;
		return NULL;
	}
	err = set_new(obj, "schema", json_integer(XSW_SCHEMA_VERSION));
	err = err ?: set_new(obj, "event", json_string(type));
	err = err ?: set_new(obj, "source", json_string(source));
	err = err ?: encode_fields(obj, ev, common_fields);
	err = err ?: encode_fields(obj, ev, type_fields[ev->type]);
	if (!err) {
		line = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (!line)
			err = -ENOMEM;
	}
	json_decref(obj);
	if (err)
		errno = -err;
	return line;
}

int xsw_event_write_json(FILE *f, const struct xsw_event *ev)
{
	char *line = xsw_event_to_json(ev);
	int err = 0;

	if (!line)
		return -errno;
	if (fputs(line, f) == EOF || fputc('\n', f) == EOF)
		err = -(errno ?: EIO);
	free(line);
	return err;
}

/* --- decoding --------------------------------------------------------------- */

/* Where a decode error happened: "trace.jsonl:12". */
struct decode_ctx {
	const char *fname;
	unsigned long lineno;
	struct xsw_err *err;
};

static const char *json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "object";
	case JSON_ARRAY: return "array";
	case JSON_STRING: return "string";
	case JSON_INTEGER: return "integer";
	case JSON_REAL: return "real";
	case JSON_TRUE:
	case JSON_FALSE: return "boolean";
	case JSON_NULL: return "null";
	}
	return "?";
}

static int where(const struct decode_ctx *c, char *buf, size_t size)
{
	const char *fname = c->fname ?: "<input>";

	if (c->lineno)
		return snprintf(buf, size, "%s:%lu", fname, c->lineno);
	return snprintf(buf, size, "%s", fname);
}

/* "trace.jsonl:12: field 'vcpu_id': <problem>", always -EINVAL. */
__attribute__((format(printf, 3, 4)))
static int field_error(const struct decode_ctx *c, const char *path, const char *fmt, ...)
{
	char loc[256], problem[384];
	va_list ap;

	where(c, loc, sizeof(loc));
	va_start(ap, fmt);
	vsnprintf(problem, sizeof(problem), fmt, ap);
	va_end(ap);
	return xsw_err_set(c->err, EINVAL, "%s: field '%s': %s", loc, path, problem);
}

static int type_error(const struct decode_ctx *c, const char *path, const char *expected,
		      const json_t *v)
{
	return field_error(c, path, "expected %s, got %s", expected, json_type_name(v));
}

/*
 * "0x" followed by 1 to 16 hex digits. Decimal strings are not accepted:
 * a mask written "519" is more likely a mistake than an intent.
 */
static bool parse_hex(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	size_t n = 0;

	if (s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
		return false;
	for (s += 2; *s; s++, n++) {
		int d;

		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (*s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			return false;
		if (v >> 60)
			return false;	/* more than 64 bits */
		v = (v << 4) | (uint64_t)d;
	}
	if (!n)
		return false;
	*out = v;
	return true;
}

/* An unsigned value from an integer, or (when @hex_ok) a "0x..." string. */
static int get_unsigned(const struct decode_ctx *c, const char *path, const json_t *v,
			uint64_t max, bool hex_ok, bool hex_output, uint64_t *out)
{
	uint64_t u;

	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);

		if (i < 0 || (uint64_t)i > max)
			goto range;
		*out = (uint64_t)i;
		return 0;
	}
	if (hex_ok && json_is_string(v)) {
		const char *s = json_string_value(v);

		if (!parse_hex(s, &u))
			return field_error(c, path, "\"%s\" is not a 64-bit hex number like \"0x207\"", s);
		if (u > max)
			return field_error(c, path, "%s out of range 0..0x%" PRIx64, s, max);
		*out = u;
		return 0;
	}
	return type_error(c, path, hex_output ? "hex string or integer" : "integer", v);
range:
	if (hex_output)
		return field_error(c, path, "%" JSON_INTEGER_FORMAT " out of range 0..0x%" PRIx64,
				   json_integer_value(v), max);
	return field_error(c, path, "%" JSON_INTEGER_FORMAT " out of range 0..%" PRIu64,
			   json_integer_value(v), max);
}

static int decode_fields(const struct decode_ctx *c, const json_t *obj, const char *prefix,
			 void *base, const struct field *f);

static int decode_field(const struct decode_ctx *c, const json_t *v, const char *path,
			void *base, const struct field *f)
{
	char *p = (char *)base + f->off;
	uint64_t u;
	uint32_t u32;
	int32_t s32;
	json_int_t i;
	const char *s;
	size_t len;
	int type, err;

	switch (f->kind) {
	case F_U32:
	case F_HEX32:
		err = get_unsigned(c, path, v, UINT32_MAX, true, f->kind == F_HEX32, &u);
		if (err)
			return err;
		u32 = (uint32_t)u;
		memcpy(p, &u32, sizeof(u32));
		return 0;
	case F_U64:
	case F_HEX64:
		err = get_unsigned(c, path, v, UINT64_MAX, true, f->kind == F_HEX64, &u);
		if (err)
			return err;
		memcpy(p, &u, sizeof(u));
		return 0;
	case F_S32:
	case F_RET:
		if (!json_is_integer(v))
			return type_error(c, path, "integer", v);
		i = json_integer_value(v);
		if (i < INT32_MIN || i > INT32_MAX)
			return field_error(c, path, "%" JSON_INTEGER_FORMAT " out of range %d..%d",
					   i, INT32_MIN, INT32_MAX);
		s32 = (int32_t)i;
		memcpy(p, &s32, sizeof(s32));
		return 0;
	case F_BOOL:
		if (json_is_boolean(v)) {
			*(uint8_t *)p = json_is_true(v);
			return 0;
		}
		if (json_is_integer(v)) {
			i = json_integer_value(v);
			if (i != 0 && i != 1)
				return field_error(c, path, "%" JSON_INTEGER_FORMAT
						   " is not a boolean (true, false, 1 or 0)", i);
			*(uint8_t *)p = (uint8_t)i;
			return 0;
		}
		return type_error(c, path, "boolean", v);
	case F_STR:
		if (!json_is_string(v))
			return type_error(c, path, "string", v);
		s = json_string_value(v);
		len = json_string_length(v);
		if (len >= f->size)
			return field_error(c, path, "\"%.40s%s\" is %zu bytes long, at most %zu fit",
					   s, len > 40 ? "..." : "", len, f->size - 1);
		memset(p, 0, f->size);
		memcpy(p, s, len);
		return 0;
	case F_EVTYPE:
		if (!json_is_string(v))
			return type_error(c, path, "event name (string)", v);
		type = xsw_event_type_from_name(json_string_value(v));
		if (type < 0)
			return field_error(c, path, "unknown event type \"%s\"", json_string_value(v));
		u32 = (uint32_t)type;
		memcpy(p, &u32, sizeof(u32));
		return 0;
	case F_OBJ:
		if (!json_is_object(v))
			return type_error(c, path, "object", v);
		p[f->valid_off] = 1;
		return decode_fields(c, v, path, p, f->sub);
	}
	return field_error(c, path, "internal error: unknown field kind %d", (int)f->kind);
}

/* Absent (or null) fields are 0, or -1 for vcpu_id; objects stay invalid. */
static int decode_fields(const struct decode_ctx *c, const json_t *obj, const char *prefix,
			 void *base, const struct field *f)
{
	char path[64];
	const json_t *v;
	int err;

	for (; f->name; f++) {
		v = json_object_get(obj, f->name);
		if (!v || json_is_null(v)) {
			if (f->dflt_minus1) {
				int32_t minus1 = -1;

				memcpy((char *)base + f->off, &minus1, sizeof(minus1));
			}
			continue;
		}
		if (prefix)
			snprintf(path, sizeof(path), "%s.%s", prefix, f->name);
		else
			snprintf(path, sizeof(path), "%s", f->name);
		err = decode_field(c, v, path, base, f);
		if (err)
			return err;
	}
	return 0;
}

static int decode_object(const struct decode_ctx *c, const json_t *obj, struct xsw_event *ev)
{
	const json_t *v;
	json_int_t schema;
	int type, source;
	int err;

	v = json_object_get(obj, "schema");
	if (!v)
		return field_error(c, "schema", "missing (this reader understands schema %d)",
				   XSW_SCHEMA_VERSION);
	if (!json_is_integer(v))
		return type_error(c, "schema", "integer", v);
	schema = json_integer_value(v);
	if (schema > XSW_SCHEMA_VERSION)
		return field_error(c, "schema", "version %" JSON_INTEGER_FORMAT
				   " is newer than this reader's %d: use a newer xstate-watch",
				   schema, XSW_SCHEMA_VERSION);
	if (schema < 1)
		return field_error(c, "schema", "unsupported version %" JSON_INTEGER_FORMAT
				   " (this reader understands %d)", schema, XSW_SCHEMA_VERSION);

	v = json_object_get(obj, "event");
	if (!v)
		return field_error(c, "event", "missing");
	if (!json_is_string(v))
		return type_error(c, "event", "string", v);
	type = xsw_event_type_from_name(json_string_value(v));
	if (type < 0)
		return field_error(c, "event", "unknown event type \"%s\"", json_string_value(v));
	ev->type = (uint32_t)type;

	v = json_object_get(obj, "source");
	if (v && !json_is_null(v)) {
		if (!json_is_string(v))
			return type_error(c, "source", "string", v);
		source = xsw_source_from_name(json_string_value(v));
		if (source < 0)
			return field_error(c, "source", "unknown source \"%s\" (expected "
					   "tracepoint, fentry, syscall, replay, model, check or unknown)",
					   json_string_value(v));
		ev->source = (uint32_t)source;
	}

	err = decode_fields(c, obj, NULL, ev, common_fields);
	if (err)
		return err;
	return decode_fields(c, obj, NULL, ev, type_fields[type]);
}

int xsw_event_from_json(const char *line, struct xsw_event *ev, const char *fname,
			unsigned long lineno, struct xsw_err *err)
{
	struct decode_ctx c = { .fname = fname, .lineno = lineno, .err = err };
	json_error_t jerr;
	char loc[256];
	json_t *obj;
	int ret;

	/* Zero everything, padding and unused union bytes included: decoding is deterministic. */
	memset(ev, 0, sizeof(*ev));
	xsw_err_clear(err);

	obj = json_loads(line, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
	if (!obj) {
		where(&c, loc, sizeof(loc));
		return xsw_err_set(err, EINVAL, "%s:%d: not JSON: %s", loc, jerr.column, jerr.text);
	}
	if (!json_is_object(obj)) {
		where(&c, loc, sizeof(loc));
		ret = xsw_err_set(err, EINVAL, "%s: expected a JSON object, got %s", loc,
				  json_type_name(obj));
	} else {
		ret = decode_object(&c, obj, ev);
	}
	json_decref(obj);
	if (ret)
		memset(ev, 0, sizeof(*ev));
	return ret;
}

/* --- reader ----------------------------------------------------------------- */

struct xsw_event_reader {
	FILE *f;
	bool close_f;		/* false for stdin */
	char *path;		/* label for errors */
	char *line;		/* getline() buffer */
	size_t cap;
	unsigned long lineno;
};

struct xsw_event_reader *xsw_event_reader_open(const char *path, struct xsw_err *err)
{
	struct xsw_event_reader *r;

	xsw_err_clear(err);
	r = calloc(1, sizeof(*r));
	if (!r) {
		xsw_err_set(err, ENOMEM, "%s: out of memory", path);
		return NULL;
	}
	if (!strcmp(path, "-")) {
		r->f = stdin;
		r->path = strdup("<stdin>");
	} else {
		r->f = fopen(path, "re");
		if (!r->f) {
			xsw_err_set(err, errno, "%s: cannot open: %s", path, strerror(errno));
			free(r);
			return NULL;
		}
		r->close_f = true;
		r->path = strdup(path);
	}
	if (!r->path) {
		xsw_err_set(err, ENOMEM, "%s: out of memory", path);
		xsw_event_reader_close(r);
		return NULL;
	}
	return r;
}

static bool skippable(const char *line)
{
	while (isspace((unsigned char)*line))
		line++;
	return *line == '\0' || *line == '#';
}

int xsw_event_reader_next(struct xsw_event_reader *r, struct xsw_event *ev,
			  struct xsw_err *err)
{
	ssize_t n;

	xsw_err_clear(err);
	for (;;) {
		errno = 0;
		n = getline(&r->line, &r->cap, r->f);
		if (n < 0) {
			if (ferror(r->f))
				return xsw_err_set(err, errno ?: EIO, "%s:%lu: read error: %s",
						   r->path, r->lineno + 1,
						   strerror(errno ?: EIO));
			return 0;
		}
		r->lineno++;
		if (strlen(r->line) != (size_t)n)
			return xsw_err_set(err, EINVAL, "%s:%lu: line contains a NUL byte",
					   r->path, r->lineno);
		if (skippable(r->line))
			continue;
		return xsw_event_from_json(r->line, ev, r->path, r->lineno, err) ?: 1;
	}
}

void xsw_event_reader_close(struct xsw_event_reader *r)
{
	if (!r)
		return;
	if (r->close_f && r->f)
		fclose(r->f);
	free(r->line);
	free(r->path);
	free(r);
}
