// SPDX-License-Identifier: GPL-2.0
/*
 * The /metrics sink: a synthetic event stream through the sink renders the
 * expected samples (types, escaping, cumulative histogram buckets with
 * _sum/_count, label sets removed when a vCPU goes away); every rendering
 * is parsed back line by line against the text exposition format 0.0.4;
 * the HTTP server answers on loopback, refuses a taken port and an address
 * this host does not have, and serves consistent output while another
 * thread feeds events as fast as it can.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "metrics.h"
#include "xsw_event_json.h"

#define P "xstate_watch_"

/* ---- a parser for the text exposition format ------------------------- */

enum family_type { FT_COUNTER, FT_GAUGE, FT_HISTOGRAM };

struct family {
	char name[128];
	enum family_type type;
	unsigned int samples;
};

struct parsed {
	struct family fams[64];
	unsigned int nr_fams;
	char **series;		/* "name{labels}" of every sample, for duplicates */
	unsigned int nr_series;
};

static bool is_name_start(int c)
{
	return isalpha(c) || c == '_' || c == ':';
}

static bool is_name_char(int c)
{
	return isalnum(c) || c == '_' || c == ':';
}

static struct family *family_of(struct parsed *p, const char *sample_name)
{
	static const char *const suffixes[] = { "_bucket", "_sum", "_count" };
	unsigned int i, s;

	for (i = 0; i < p->nr_fams; i++) {
		struct family *f = &p->fams[i];
		size_t fl = strlen(f->name);

		if (!strcmp(f->name, sample_name))
			return f->type == FT_HISTOGRAM ? NULL : f;
		if (f->type != FT_HISTOGRAM || strncmp(f->name, sample_name, fl))
			continue;
		for (s = 0; s < 3; s++)
			if (!strcmp(sample_name + fl, suffixes[s]))
				return f;
	}
	return NULL;
}

/*
 * Parse @text strictly: "# HELP name text", "# TYPE name type" before the
 * family's samples, each family declared once; samples
 * "name{label="value",...} value" with escapes \\ \" \n only, label values
 * valid UTF-8, a value Prometheus reads as a float; no series twice;
 * histogram buckets cumulative, ending in le="+Inf" equal to _count. Fails
 * the test with the offending line number on any deviation.
 */
static void parse_exposition(const char *text, struct parsed *p)
{
	const char *line = text;
	unsigned int lineno = 0;
	char last_bucket_family[128] = "", last_help[128] = "";
	double last_bucket = -1, inf_bucket = -1;

	memset(p, 0, sizeof(*p));
	assert_true(strlen(text) > 0);
	assert_int_equal(text[strlen(text) - 1], '\n');
	while (*line) {
		const char *end = strchr(line, '\n');
		char buf[1024], name[128], series[1024], le[64] = "";
		size_t len;
		char *q, *vend;
		struct family *f;
		double value;
		unsigned int i;

		assert_non_null(end);
		len = end - line;
		lineno++;
		assert_true(len < sizeof(buf));
		memcpy(buf, line, len);
		buf[len] = '\0';
		line = end + 1;
		if (!len)
			fail_msg("line %u: empty line", lineno);

		if (buf[0] == '#') {
			char kind[8], fname[128], rest[512] = "";

			if (sscanf(buf, "# %7s %127s %511[^\n]", kind, fname, rest) < 3)
				fail_msg("line %u: comment is not HELP or TYPE: %s", lineno, buf);
			for (i = 0; i < p->nr_fams; i++)
				if (!strcmp(p->fams[i].name, fname))
					break;
			if (!strcmp(kind, "TYPE")) {
				if (i < p->nr_fams)
					fail_msg("line %u: second TYPE for %s", lineno, fname);
				assert_true(p->nr_fams < 64);
				f = &p->fams[p->nr_fams++];
				snprintf(f->name, sizeof(f->name), "%s", fname);
				if (!strcmp(rest, "counter"))
					f->type = FT_COUNTER;
				else if (!strcmp(rest, "gauge"))
					f->type = FT_GAUGE;
				else if (!strcmp(rest, "histogram"))
					f->type = FT_HISTOGRAM;
				else
					fail_msg("line %u: unknown type '%s'", lineno, rest);
				/* This exposition writes HELP right before TYPE. */
				if (strcmp(last_help, fname))
					fail_msg("line %u: TYPE %s without its HELP", lineno, fname);
			} else if (!strcmp(kind, "HELP")) {
				snprintf(last_help, sizeof(last_help), "%s", fname);
			} else {
				fail_msg("line %u: comment is not HELP or TYPE: %s", lineno, buf);
			}
			continue;
		}

		/* Metric name. */
		q = buf;
		if (!is_name_start((unsigned char)*q))
			fail_msg("line %u: bad metric name: %s", lineno, buf);
		while (is_name_char((unsigned char)*q))
			q++;
		snprintf(name, sizeof(name), "%.*s", (int)(q - buf), buf);
		f = family_of(p, name);
		if (!f)
			fail_msg("line %u: sample %s has no TYPE before it", lineno, name);
		f->samples++;
		snprintf(series, sizeof(series), "%s", name);

		/* Labels. */
		if (*q == '{') {
			q++;
			while (*q != '}') {
				const char *ls = q;
				char lname[64];

				if (!is_name_start((unsigned char)*q) || *q == ':')
					fail_msg("line %u: bad label name at '%s'", lineno, q);
				while (isalnum((unsigned char)*q) || *q == '_')
					q++;
				snprintf(lname, sizeof(lname), "%.*s", (int)(q - ls), ls);
				if (q[0] != '=' || q[1] != '"')
					fail_msg("line %u: label %s without =\"", lineno, lname);
				q += 2;
				{
					char val[256];
					size_t vl = 0;

					while (*q != '"') {
						if (!*q)
							fail_msg("line %u: unterminated label value", lineno);
						if (*q == '\\') {
							q++;
							if (*q != '\\' && *q != '"' && *q != 'n')
								fail_msg("line %u: bad escape \\%c", lineno, *q);
						}
						assert_true(vl < sizeof(val) - 1);
						val[vl++] = *q++;
					}
					val[vl] = '\0';
					/* mbstowcs-free UTF-8 check: no 0xff, 0xfe, lone continuation. */
					for (i = 0; i < vl; i++) {
						unsigned char c = val[i];

						if (c == 0xff || c == 0xfe)
							fail_msg("line %u: label %s is not UTF-8", lineno, lname);
						if (c >= 0x80 && c < 0xc0 &&
						    (i == 0 || (unsigned char)val[i - 1] < 0x80))
							fail_msg("line %u: label %s is not UTF-8", lineno, lname);
					}
					if (!strcmp(lname, "le"))
						snprintf(le, sizeof(le), "%s", val);
				}
				q++;
				if (*q == ',')
					q++;
				else if (*q != '}')
					fail_msg("line %u: expected , or } after a label", lineno);
			}
			q++;
			snprintf(series, sizeof(series), "%.*s", (int)(q - buf), buf);
		}
		if (*q != ' ')
			fail_msg("line %u: expected one space before the value: %s", lineno, buf);
		q++;
		errno = 0;
		if (!strcmp(q, "+Inf") || !strcmp(q, "-Inf") || !strcmp(q, "NaN"))
			value = strcmp(q, "NaN") ? INFINITY : NAN;
		else
			value = strtod(q, &vend);
		if (strcmp(q, "+Inf") && strcmp(q, "-Inf") && strcmp(q, "NaN") &&
		    (vend == q || *vend || errno))
			fail_msg("line %u: value '%s' is not a number (timestamps unused)", lineno, q);
		if (f->type == FT_COUNTER && value < 0)
			fail_msg("line %u: negative counter", lineno);

		for (i = 0; i < p->nr_series; i++)
			if (!strcmp(p->series[i], series))
				fail_msg("line %u: series %s twice", lineno, series);
		p->series = realloc(p->series, (p->nr_series + 1) * sizeof(*p->series));
		assert_non_null(p->series);
		p->series[p->nr_series++] = strdup(series);

		/* Histogram structure. */
		if (f->type == FT_HISTOGRAM) {
			size_t fl = strlen(f->name);

			if (!strcmp(name + fl, "_bucket")) {
				double bound;

				if (!le[0])
					fail_msg("line %u: bucket without le", lineno);
				if (strcmp(last_bucket_family, f->name)) {
					snprintf(last_bucket_family, sizeof(last_bucket_family), "%s",
						 f->name);
					last_bucket = -1;
					inf_bucket = -1;
				}
				if (value < last_bucket)
					fail_msg("line %u: buckets not cumulative", lineno);
				last_bucket = value;
				bound = strtod(le, NULL);
				if (!strcmp(le, "+Inf"))
					inf_bucket = value;
				else if (!(bound > 0))
					fail_msg("line %u: bad le '%s'", lineno, le);
			} else if (!strcmp(name + fl, "_count")) {
				if (inf_bucket < 0)
					fail_msg("line %u: _count before the +Inf bucket", lineno);
				if (value != inf_bucket)
					fail_msg("line %u: _count %g != +Inf bucket %g", lineno, value,
						 inf_bucket);
			}
		}
	}
}

static void free_parsed(struct parsed *p)
{
	unsigned int i;

	for (i = 0; i < p->nr_series; i++)
		free(p->series[i]);
	free(p->series);
}

/* ---- helpers ------------------------------------------------------------ */

static char *render(struct xsw_metrics *m)
{
	struct parsed p;
	size_t len;
	char *text = xsw_metrics_render(m, &len);

	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	parse_exposition(text, &p);
	free_parsed(&p);
	return text;
}

/* @line must appear as a whole line of @text. */
static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	const char *s = text;

	while ((s = strstr(s, line))) {
		if ((s == text || s[-1] == '\n') && s[n] == '\n')
			return true;
		s++;
	}
	return false;
}

#define assert_line(text, ...) do {						\
	char _want[512];							\
	snprintf(_want, sizeof(_want), __VA_ARGS__);				\
	if (!has_line(text, _want))						\
		fail_msg("missing line: %s\n--- exposition ---\n%s", _want, text);	\
} while (0)

#define assert_no_line_prefix(text, prefix) do {				\
	if (strstr(text, "\n" prefix))						\
		fail_msg("unexpected: %s\n--- exposition ---\n%s", prefix, text);	\
} while (0)

static unsigned int count_prefix(const char *text, const char *prefix)
{
	unsigned int n = 0;
	const char *s = text;
	size_t pl = strlen(prefix);

	for (;;) {
		if (!strncmp(s, prefix, pl))
			n++;
		s = strchr(s, '\n');
		if (!s || !*++s)
			return n;
	}
}

struct stream {
	struct xsw_metrics *m;
	struct xsw_sink sink;
	struct xsw_vcpu_state vcpus[4];
};

static void stream_init(struct stream *st)
{
	struct xsw_err err;
	unsigned int i;

	memset(st, 0, sizeof(*st));
	st->m = xsw_metrics_start(NULL, "syscall", &err);
	assert_non_null(st->m);
	xsw_metrics_sink(st->m, &st->sink);
	assert_non_null(st->sink.on_event);
	assert_non_null(st->sink.on_vcpu_gone);
	for (i = 0; i < 4; i++) {
		struct xsw_vcpu_state *v = &st->vcpus[i];

		v->pid = 4242;
		snprintf(v->comm, sizeof(v->comm), "qemu-system-x86");
		v->vm = 0xffff888100a2c000ULL;
		v->vm_index = 0;
		v->vcpu_id = i;
	}
}

static void stream_done(struct stream *st)
{
	if (st->sink.close)
		st->sink.close(st->sink.ctx, NULL);
	xsw_metrics_stop(st->m);
}

static void feed(struct stream *st, unsigned int type, int vcpu, uint64_t ts, uint64_t dur,
		 int ret)
{
	struct xsw_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = type;
	ev.source = XSW_SRC_SYSCALL;
	ev.ts_ns = ts;
	ev.pid = 4242;
	ev.tid = 4243;
	snprintf(ev.comm, sizeof(ev.comm), "qemu-system-x86");
	ev.vm = 0xffff888100a2c000ULL;
	ev.vcpu_id = vcpu;
	ev.ret = ret;
	ev.duration_ns = dur;
	if (type == XSW_EV_PERM_REQUEST) {
		ev.perm.guest = 1;
		ev.perm.request = 1;
	}
	st->sink.on_event(st->sink.ctx, NULL, &ev, vcpu >= 0 ? &st->vcpus[vcpu] : NULL);
}

static void feed_finding(struct stream *st, unsigned int type, const char *id, int vcpu)
{
	struct xsw_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = type;
	ev.source = XSW_SRC_CHECK;
	ev.pid = 4242;
	ev.vcpu_id = vcpu;
	memcpy(ev.finding.id, id, strnlen(id, sizeof(ev.finding.id)));
	st->sink.on_event(st->sink.ctx, NULL, &ev, vcpu >= 0 ? &st->vcpus[vcpu] : NULL);
}

/* ---- tests -------------------------------------------------------------- */

static void test_empty_registry(void **state)
{
	struct stream st;
	unsigned int t;
	char *text;

	stream_init(&st);
	text = render(st.m);
	assert_non_null(strstr(text, P "info{version=\""));
	assert_non_null(strstr(text, ",tier=\"syscall\",kernel=\""));
	/* Every known event type has a series from the first scrape on. */
	for (t = 1; t < XSW_EV_MAX; t++)
		assert_line(text, P "events_total{type=\"%s\"} 0", xsw_event_type_name(t));
	assert_line(text, P "lost_events_total 0");
	/* Known invariants and lints start at 0, so increase() sees the first one. */
	for (t = 1; t <= 5; t++)
		assert_line(text, P "violations_total{invariant=\"I%u\"} 0", t);
	assert_line(text, P "lint_warnings_total{lint=\"cpuid-after-run\"} 0");
	assert_line(text, P "lint_warnings_total{lint=\"perm-after-lock\"} 0");
	assert_line(text, P "fpstate_reallocs_total 0");
	assert_line(text, P "vcpus 0");
	assert_line(text, P "vcpu_create_duration_seconds_bucket{le=\"+Inf\"} 0");
	assert_line(text, P "vcpu_create_duration_seconds_sum 0");
	assert_line(text, P "vcpu_create_duration_seconds_count 0");
	assert_line(text, "# TYPE " P "vcpu_headroom_bytes gauge");
	assert_line(text, "# TYPE " P "violations_total counter");
	assert_line(text, "# TYPE " P "set_cpuid_duration_seconds histogram");
	assert_int_equal(count_prefix(text, P "vcpu_headroom_bytes{"), 0);
	assert_non_null(strstr(text, "\n" P "collector_cpu_seconds_total "));
	free(text);
	xsw_metrics_set_tier(st.m, "tracepoint");
	text = render(st.m);
	assert_non_null(strstr(text, ",tier=\"tracepoint\",kernel=\""));
	assert_non_null(strstr(text, "\n" P "collector_resident_memory_bytes "));
	free(text);
	stream_done(&st);
}

static void test_event_stream(void **state)
{
	const uint64_t t0 = 81234567000000ULL;
	struct stream st;
	char *text;

	stream_init(&st);
	feed(&st, XSW_EV_PERM_REQUEST, -1, t0, 2100, 0);
	feed(&st, XSW_EV_PERM_REQUEST, -1, t0 + 10, 1900, -EBUSY);
	feed(&st, XSW_EV_VM_CREATE, -1, t0 + 20, 0, 0);

	/* vCPU 0: created (15.23 us), CPUID set (3 us), first run 2 ms later. */
	st.vcpus[0].fps.valid = 1;
	st.vcpus[0].fps.size = 880;
	st.vcpus[0].create_ts = t0 + 1000;
	feed(&st, XSW_EV_VCPU_CREATE, 0, t0 + 1000, 15230, 0);
	text = render(st.m);
	assert_line(text, P "vcpu_fpstate_size_bytes{pid=\"4242\",comm=\"qemu-system-x86\",vm=\"0\",vcpu=\"0\"} 880");
	/* Required size unknown yet: no required/headroom series, not a 0. */
	assert_int_equal(count_prefix(text, P "vcpu_headroom_bytes{"), 0);
	assert_int_equal(count_prefix(text, P "vcpu_required_size_bytes{"), 0);
	free(text);

	st.vcpus[0].required_size = 832;
	st.vcpus[0].headroom = 48;
	feed(&st, XSW_EV_SET_CPUID, 0, t0 + 5000, 3000, 0);
	feed(&st, XSW_EV_FIRST_RUN, 0, t0 + 1000 + 2000000, 0, 0);
	feed(&st, XSW_EV_FPSTATE_REALLOC, 0, t0 + 2500000, 0, 0);

	/* vCPU 1: a buffer 64 bytes short, which the checks flag. */
	st.vcpus[1].fps.valid = 1;
	st.vcpus[1].fps.size = 832;
	st.vcpus[1].required_size = 896;
	st.vcpus[1].headroom = -64;
	st.vcpus[1].vm_index = 1;
	st.vcpus[1].vm = 0xffff888100a3d000ULL;
	feed(&st, XSW_EV_SET_CPUID, 1, t0 + 3000000, 1000, 0);
	feed_finding(&st, XSW_EV_VIOLATION, "I2", 1);
	feed_finding(&st, XSW_EV_LINT, "cpuid-after-run", -1);

	{
		struct xsw_event lost = { .type = XSW_EV_LOST, .vcpu_id = -1 };

		lost.lost.count = 7;
		st.sink.on_event(st.sink.ctx, NULL, &lost, NULL);
		lost.lost.count = 5;
		st.sink.on_event(st.sink.ctx, NULL, &lost, NULL);
	}

	text = render(st.m);
	assert_line(text, P "vcpu_fpstate_size_bytes{pid=\"4242\",comm=\"qemu-system-x86\",vm=\"0\",vcpu=\"0\"} 880");
	assert_line(text, P "vcpu_required_size_bytes{pid=\"4242\",comm=\"qemu-system-x86\",vm=\"0\",vcpu=\"0\"} 832");
	assert_line(text, P "vcpu_headroom_bytes{pid=\"4242\",comm=\"qemu-system-x86\",vm=\"0\",vcpu=\"0\"} 48");
	assert_line(text, P "vcpu_headroom_bytes{pid=\"4242\",comm=\"qemu-system-x86\",vm=\"1\",vcpu=\"1\"} -64");
	assert_line(text, P "vcpus 2");
	assert_line(text, P "events_total{type=\"perm_request\"} 2");
	assert_line(text, P "events_total{type=\"vm_create\"} 1");
	assert_line(text, P "events_total{type=\"vcpu_create\"} 1");
	assert_line(text, P "events_total{type=\"set_cpuid\"} 2");
	assert_line(text, P "events_total{type=\"first_run\"} 1");
	assert_line(text, P "events_total{type=\"violation\"} 1");
	assert_line(text, P "events_total{type=\"lint\"} 1");
	assert_line(text, P "events_total{type=\"lost\"} 2");
	assert_line(text, P "events_total{type=\"vcpu_destroy\"} 0");
	assert_line(text, P "violations_total{invariant=\"I2\"} 1");
	assert_line(text, P "lint_warnings_total{lint=\"cpuid-after-run\"} 1");
	assert_line(text, P "lost_events_total 12");
	assert_line(text, P "fpstate_reallocs_total 1");
	assert_line(text, P "perm_requests_total{op=\"req_guest\",result=\"ok\"} 1");
	assert_line(text, P "perm_requests_total{op=\"req_guest\",result=\"EBUSY\"} 1");

	/* 15230 ns lands in the 16 us bucket, not the 8 us one. */
	assert_line(text, P "vcpu_create_duration_seconds_bucket{le=\"0.000008\"} 0");
	assert_line(text, P "vcpu_create_duration_seconds_bucket{le=\"0.000016\"} 1");
	assert_line(text, P "vcpu_create_duration_seconds_bucket{le=\"16.777216\"} 1");
	assert_line(text, P "vcpu_create_duration_seconds_sum 0.00001523");
	assert_line(text, P "vcpu_create_duration_seconds_count 1");
	/* 1 us and 3 us: cumulative 1 at le=1us, 1 at 2us, 2 at 4us. */
	assert_line(text, P "set_cpuid_duration_seconds_bucket{le=\"0.000001\"} 1");
	assert_line(text, P "set_cpuid_duration_seconds_bucket{le=\"0.000002\"} 1");
	assert_line(text, P "set_cpuid_duration_seconds_bucket{le=\"0.000004\"} 2");
	assert_line(text, P "set_cpuid_duration_seconds_sum 0.000004");
	assert_line(text, P "set_cpuid_duration_seconds_count 2");
	/* First run 2 ms after creation: le=2.048 ms. */
	assert_line(text, P "vcpu_create_to_first_run_seconds_bucket{le=\"0.001024\"} 0");
	assert_line(text, P "vcpu_create_to_first_run_seconds_bucket{le=\"0.002048\"} 1");
	assert_line(text, P "vcpu_create_to_first_run_seconds_sum 0.002");
	free(text);
	stream_done(&st);
}

static void test_histogram_edges(void **state)
{
	static const uint64_t durations[] = {
		1000,			/* exactly the first bound: le is inclusive */
		1001,
		999,
		16777216000ULL,		/* exactly the last bound */
		16777216001ULL,		/* only in +Inf */
		123456789012ULL,	/* 123.456789012 s */
	};
	uint64_t sum = 0;
	struct stream st;
	unsigned int i;
	char *text;

	stream_init(&st);
	for (i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
		feed(&st, XSW_EV_SET_CPUID, 0, 1, durations[i], -EINVAL);
		sum += durations[i];
	}
	/* duration 0 means unknown: not observed. */
	feed(&st, XSW_EV_SET_CPUID, 0, 1, 0, 0);
	text = render(st.m);
	assert_line(text, P "set_cpuid_duration_seconds_bucket{le=\"0.000001\"} 2");
	assert_line(text, P "set_cpuid_duration_seconds_bucket{le=\"0.000002\"} 3");
	assert_line(text, P "set_cpuid_duration_seconds_bucket{le=\"8.388608\"} 3");
	assert_line(text, P "set_cpuid_duration_seconds_bucket{le=\"16.777216\"} 4");
	assert_line(text, P "set_cpuid_duration_seconds_bucket{le=\"+Inf\"} 6");
	assert_line(text, P "set_cpuid_duration_seconds_count 6");
	assert_int_equal(sum, 157011224013ULL);
	assert_line(text, P "set_cpuid_duration_seconds_sum 157.011224013");
	assert_int_equal(count_prefix(text, P "set_cpuid_duration_seconds_bucket{"), 26);
	free(text);
	stream_done(&st);
}

static void test_escaping(void **state)
{
	struct stream st;
	char *text;

	stream_init(&st);
	/* A task may name itself anything, including bytes that are not UTF-8. */
	memcpy(st.vcpus[2].comm, "a\"b\\c\nd\xff\xc3\xa9z", 11);
	memset(st.vcpus[2].comm + 11, 'x', 5);	/* 16 bytes, no NUL */
	st.vcpus[2].fps.valid = 1;
	st.vcpus[2].fps.size = 2696;
	st.vcpus[2].vcpu_id = 2;
	feed(&st, XSW_EV_VCPU_CREATE, 2, 1, 0, 0);
	feed_finding(&st, XSW_EV_VIOLATION, "I\"5\\", 2);
	feed_finding(&st, XSW_EV_LINT, "0123456789abcdefOVERFLOW", -1);
	feed_finding(&st, XSW_EV_VIOLATION, "", -1);
	text = render(st.m);
	assert_line(text, P "vcpu_fpstate_size_bytes{pid=\"4242\",comm=\"a\\\"b\\\\c\\nd\xef\xbf\xbd\xc3\xa9zxxxxx\",vm=\"0\",vcpu=\"2\"} 2696");
	assert_line(text, P "violations_total{invariant=\"I\\\"5\\\\\"} 1");
	/* An id fills its 16 bytes without a NUL: read no further. */
	assert_line(text, P "lint_warnings_total{lint=\"0123456789abcdef\"} 1");
	assert_line(text, P "violations_total{invariant=\"unknown\"} 1");
	free(text);
	stream_done(&st);
}

static void test_vcpu_gone(void **state)
{
	struct stream st;
	unsigned int i;
	char *text;

	stream_init(&st);
	for (i = 0; i < 3; i++) {
		st.vcpus[i].fps.valid = 1;
		st.vcpus[i].fps.size = 880;
		st.vcpus[i].required_size = 832 + i;
		st.vcpus[i].headroom = 48 - i;
		feed(&st, XSW_EV_SET_CPUID, i, 1, 0, 0);
	}
	text = render(st.m);
	assert_int_equal(count_prefix(text, P "vcpu_headroom_bytes{"), 3);
	free(text);

	st.sink.on_vcpu_gone(st.sink.ctx, NULL, &st.vcpus[0]);
	/* A vCPU the sink never saw going away is harmless. */
	st.sink.on_vcpu_gone(st.sink.ctx, NULL, &st.vcpus[3]);
	text = render(st.m);
	assert_int_equal(count_prefix(text, P "vcpu_headroom_bytes{"), 2);
	assert_int_equal(count_prefix(text, P "vcpu_fpstate_size_bytes{"), 2);
	assert_int_equal(count_prefix(text, P "vcpu_required_size_bytes{"), 2);
	assert_null(strstr(text, "vcpu=\"0\""));
	assert_line(text, P "vcpu_headroom_bytes{pid=\"4242\",comm=\"qemu-system-x86\",vm=\"0\",vcpu=\"1\"} 47");
	assert_line(text, P "vcpu_headroom_bytes{pid=\"4242\",comm=\"qemu-system-x86\",vm=\"0\",vcpu=\"2\"} 46");
	assert_line(text, P "vcpus 2");
	free(text);

	/* Many vCPUs come and go: the registry ends where it started. */
	for (i = 0; i < 1000; i++) {
		struct xsw_vcpu_state v = st.vcpus[1];

		v.vcpu_id = 100 + i;
		st.sink.on_event(st.sink.ctx, NULL,
				 &(struct xsw_event){ .type = XSW_EV_VCPU_CREATE, .vcpu_id = v.vcpu_id },
				 &v);
		if (i % 2)
			st.sink.on_vcpu_gone(st.sink.ctx, NULL, &v);
	}
	for (i = 0; i < 1000; i += 2) {
		struct xsw_vcpu_state v = st.vcpus[1];

		v.vcpu_id = 100 + i;
		st.sink.on_vcpu_gone(st.sink.ctx, NULL, &v);
	}
	st.sink.on_vcpu_gone(st.sink.ctx, NULL, &st.vcpus[1]);
	st.sink.on_vcpu_gone(st.sink.ctx, NULL, &st.vcpus[2]);
	text = render(st.m);
	assert_line(text, P "vcpus 0");
	assert_int_equal(count_prefix(text, P "vcpu_fpstate_size_bytes{"), 0);
	free(text);
	stream_done(&st);
}

static void test_label_cap(void **state)
{
	struct stream st;
	unsigned int i, series;
	char id[16], *text, *s;
	uint64_t total = 0;

	stream_init(&st);
	for (i = 0; i < 200; i++) {
		snprintf(id, sizeof(id), "X%u", i);
		feed_finding(&st, XSW_EV_VIOLATION, id, -1);
	}
	text = render(st.m);
	series = count_prefix(text, P "violations_total{");
	assert_true(series <= 64);
	assert_true(series >= 60);
	assert_line(text, P "violations_total{invariant=\"X0\"} 1");
	assert_non_null(strstr(text, P "violations_total{invariant=\"other\"} "));
	/* Nothing is lost: the series add up to every finding. */
	for (s = text; (s = strstr(s, "\n" P "violations_total{")); s++)
		total += strtoull(strchr(strchr(s, '}'), ' ') + 1, NULL, 10);
	assert_int_equal(total, 200);
	assert_line(text, P "events_total{type=\"violation\"} 200");
	free(text);
	stream_done(&st);
}

static void test_unknown_event_type(void **state)
{
	struct stream st;
	char *text;

	stream_init(&st);
	feed(&st, XSW_EV_MAX + 3, -1, 1, 0, 0);
	text = render(st.m);
	assert_line(text, P "events_total{type=\"unknown\"} 1");
	free(text);
	stream_done(&st);
}

/* ---- HTTP --------------------------------------------------------------- */

/* GET @path from 127.0.0.1:@port; returns the whole response (headers too). */
static char *http_get(unsigned int port, const char *path, const char *method)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	char req[256], *resp = NULL;
	size_t len = 0;
	ssize_t n;
	int fd;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)))
		fail_msg("connect 127.0.0.1:%u: %s", port, strerror(errno));
	snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", method, path);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	for (;;) {
		resp = realloc(resp, len + 65536 + 1);
		assert_non_null(resp);
		n = read(fd, resp + len, 65536);
		assert_true(n >= 0);
		if (!n)
			break;
		len += n;
	}
	resp[len] = '\0';
	close(fd);
	return resp;
}

static void test_http(void **state)
{
	struct xsw_metrics *m;
	struct xsw_err err;
	struct parsed p;
	char *resp, *body;
	unsigned int port;

	m = xsw_metrics_start("127.0.0.1:0", "tracepoint", &err);
	if (!m)
		fail_msg("start: %s", err.msg);
	port = xsw_metrics_port(m);
	assert_true(port > 0);

	resp = http_get(port, "/metrics", "GET");
	assert_non_null(strstr(resp, "HTTP/1.0 200") ? resp : strstr(resp, "HTTP/1.1 200"));
	assert_non_null(strstr(resp, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
	body = strstr(resp, "\r\n\r\n");
	assert_non_null(body);
	parse_exposition(body + 4, &p);
	assert_true(p.nr_series > 50);
	free_parsed(&p);
	assert_non_null(strstr(body, ",tier=\"tracepoint\","));
	free(resp);

	resp = http_get(port, "/nope", "GET");
	assert_non_null(strstr(resp, " 404 "));
	free(resp);
	resp = http_get(port, "/metrics", "POST");
	assert_non_null(strstr(resp, " 405 "));
	free(resp);
	xsw_metrics_stop(m);
}

static void test_listen_errors(void **state)
{
	static const struct {
		const char *addr;
		const char *says;
	} bad[] = {
		{ "9464", "expected ADDR:PORT or :PORT" },
		{ ":99999", "port '99999' is not 0..65535" },
		{ ":", "port '' is not 0..65535" },
		{ ":-1", "port '-1' is not 0..65535" },
		{ "host.example:9464", "'host.example' is not an IPv4 address" },
		{ "::1:9464", "write an IPv6 address as [ADDR]:PORT" },
		{ "[::1]9464", "expected [IPV6]:PORT" },
	};
	struct xsw_metrics *m, *m2;
	struct xsw_err err;
	char addr[64];
	unsigned int i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		m = xsw_metrics_start(bad[i].addr, "syscall", &err);
		assert_null(m);
		assert_int_equal(err.code, -EINVAL);
		if (!strstr(err.msg, bad[i].addr) || !strstr(err.msg, bad[i].says))
			fail_msg("'%s': message '%s' does not say '%s'", bad[i].addr, err.msg,
				 bad[i].says);
	}

	/* ":PORT" is loopback; the same port again is refused with its name. */
	m = xsw_metrics_start(":0", "syscall", &err);
	if (!m)
		fail_msg("start :0: %s", err.msg);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", xsw_metrics_port(m));
	free(http_get(xsw_metrics_port(m), "/metrics", "GET"));
	m2 = xsw_metrics_start(addr, "syscall", &err);
	assert_null(m2);
	assert_int_equal(err.code, -EADDRINUSE);
	if (!strstr(err.msg, addr) || !strstr(err.msg, "EADDRINUSE"))
		fail_msg("port in use: message '%s'", err.msg);
	xsw_metrics_stop(m);

	/* TEST-NET-1: on no interface here; bound to, never sent to. */
	m = xsw_metrics_start("192.0.2.1:9464", "syscall", &err);
	assert_null(m);
	assert_int_equal(err.code, -EADDRNOTAVAIL);
	if (!strstr(err.msg, "192.0.2.1:9464") || !strstr(err.msg, "EADDRNOTAVAIL"))
		fail_msg("foreign address: message '%s'", err.msg);
}

/* "[::1]:0" binds IPv6 loopback, when this host has IPv6 at all. */
static void test_listen_ipv6(void **state)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	struct xsw_metrics *m;
	struct xsw_err err;
	char buf[256];
	ssize_t n;
	int fd;

	m = xsw_metrics_start("[::1]:0", "syscall", &err);
	if (!m && (err.code == -EAFNOSUPPORT || err.code == -EADDRNOTAVAIL)) {
		print_message("# skip reason: no IPv6 loopback here: %s\n", err.msg);
		skip();
	}
	if (!m)
		fail_msg("start [::1]:0: %s", err.msg);
	sin6.sin6_port = htons(xsw_metrics_port(m));
	fd = socket(AF_INET6, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	if (connect(fd, (struct sockaddr *)&sin6, sizeof(sin6)))
		fail_msg("connect [::1]:%u: %s", xsw_metrics_port(m), strerror(errno));
	assert_true(write(fd, "GET /metrics HTTP/1.0\r\n\r\n", 25) == 25);
	n = read(fd, buf, sizeof(buf) - 1);
	assert_true(n > 12);
	buf[n] = '\0';
	assert_non_null(strstr(buf, " 200 "));
	close(fd);
	xsw_metrics_stop(m);
}

/* ---- concurrency -------------------------------------------------------- */

struct burst {
	struct stream *st;
	bool stop;
	unsigned long fed;
};

static void *burst_thread(void *arg)
{
	struct burst *b = arg;
	struct xsw_vcpu_state v = b->st->vcpus[0];
	struct xsw_event ev = { .type = XSW_EV_VCPU_CREATE, .duration_ns = 20000 };

	v.fps.valid = 1;
	v.fps.size = 880;
	while (!__atomic_load_n(&b->stop, __ATOMIC_RELAXED)) {
		v.vcpu_id = b->fed % 512;
		ev.vcpu_id = v.vcpu_id;
		ev.type = b->fed % 3 ? XSW_EV_VCPU_CREATE : XSW_EV_SET_CPUID;
		b->st->sink.on_event(b->st->sink.ctx, NULL, &ev, &v);
		if (b->fed % 5 == 4)
			b->st->sink.on_vcpu_gone(b->st->sink.ctx, NULL, &v);
		b->fed++;
	}
	return NULL;
}

static uint64_t sample_u64(const char *text, const char *line_prefix)
{
	const char *s = strstr(text, line_prefix);

	assert_non_null(s);
	return strtoull(s + strlen(line_prefix), NULL, 10);
}

/* Scrapes over HTTP while another thread feeds: each one whole and consistent. */
static void test_scrape_during_burst(void **state)
{
	struct stream st;
	struct burst b = { 0 };
	struct xsw_err err;
	pthread_t thr;
	uint64_t prev = 0, now;
	unsigned int i;

	memset(&st, 0, sizeof(st));
	st.m = xsw_metrics_start("127.0.0.1:0", "syscall", &err);
	if (!st.m)
		fail_msg("start: %s", err.msg);
	xsw_metrics_sink(st.m, &st.sink);
	st.vcpus[0].pid = 1;
	snprintf(st.vcpus[0].comm, sizeof(st.vcpus[0].comm), "burst");
	b.st = &st;
	assert_int_equal(pthread_create(&thr, NULL, burst_thread, &b), 0);
	for (i = 0; i < 50; i++) {
		char *resp = http_get(xsw_metrics_port(st.m), "/metrics", "GET");
		char *body = strstr(resp, "\r\n\r\n");
		struct parsed p;

		assert_non_null(body);
		parse_exposition(body + 4, &p);
		free_parsed(&p);
		now = sample_u64(body, "\n" P "events_total{type=\"vcpu_create\"} ");
		assert_true(now >= prev);
		/* One lock for the whole render: the histogram agrees with the counter. */
		assert_int_equal(sample_u64(body, "\n" P "vcpu_create_duration_seconds_count "),
				 now);
		assert_true(sample_u64(body, "\n" P "vcpus ") <= 512);
		prev = now;
		free(resp);
	}
	__atomic_store_n(&b.stop, true, __ATOMIC_RELAXED);
	pthread_join(thr, NULL);
	assert_true(b.fed > 0);
	assert_true(prev > 0);
	print_message("# %lu events fed during 50 scrapes\n", b.fed);
	xsw_metrics_stop(st.m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_registry),
		cmocka_unit_test(test_event_stream),
		cmocka_unit_test(test_histogram_edges),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_vcpu_gone),
		cmocka_unit_test(test_label_cap),
		cmocka_unit_test(test_unknown_event_type),
		cmocka_unit_test(test_http),
		cmocka_unit_test(test_listen_errors),
		cmocka_unit_test(test_listen_ipv6),
		cmocka_unit_test(test_scrape_during_burst),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
