// SPDX-License-Identifier: GPL-2.0
/*
 * The /metrics sink: a small Prometheus registry fed by the engine and
 * served by libmicrohttpd (text exposition format 0.0.4).
 *
 * libmicrohttpd is not linked but dlopen()ed when a server is started:
 * see "libmicrohttpd, loaded on demand" below.
 *
 * Everything the registry holds is integral (byte sizes, counts, and
 * histogram observations in nanoseconds), so the exposition prints
 * integers as integers and converts nanoseconds to seconds exactly, from
 * integers, instead of going through printf("%g").
 *
 * Locking: one mutex around the registry. The engine thread takes it for
 * a few field updates per event; a scrape takes it for one copy of the
 * registry (a memcpy), then formats and sends the copy without it, so
 * neither a large registry nor a slow or stuck scraper holds the engine up.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <microhttpd.h>

#include "metrics.h"
#include "../checks.h"
#include "xsw_event_json.h"

#ifndef XSW_VERSION
#define XSW_VERSION "0.1"
#endif

#ifndef XSW_MHD_SONAME
#error "XSW_MHD_SONAME: the libmicrohttpd soname, set by tools/xstate-watch/build.mk"
#endif

#define PREFIX "xstate_watch_"
#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/*
 * Histogram buckets: 1 us * 2^k for k = 0..24, i.e. 1 us to 16.777216 s.
 * Powers of two of a microsecond are exact in decimal, so every "le" label
 * is an exact, stable string. That range spans a KVM_CREATE_VCPU (tens of
 * microseconds) and a VMM's whole set-up before the first KVM_RUN.
 */
#define HIST_BUCKETS 25
#define HIST_FIRST_NS ((uint64_t)1000)

/*
 * Label sets keyed by strings that come from the event stream (finding
 * ids, errno names) are capped so a hostile or broken trace cannot grow the
 * registry without bound; the excess is counted under the label "other".
 */
#define MAX_KEYED 64
#define KEY_LEN 24

struct histogram {
	uint64_t buckets[HIST_BUCKETS];	/* non-cumulative; rendered cumulative */
	uint64_t count;
	uint64_t sum_ns;
};

struct keyed_counter {
	char key[KEY_LEN];
	char key2[KEY_LEN];		/* second label value, "" when unused */
	uint64_t value;
};

struct keyed_set {
	struct keyed_counter items[MAX_KEYED];
	unsigned int nr;
};

struct vcpu_series {
	uint32_t pid;
	uint64_t vm;			/* the engine's opaque id: the key */
	unsigned int vm_index;		/* the "vm" label: stable, small, readable */
	int32_t vcpu_id;
	char comm[16];
	bool fps_valid;
	uint32_t fps_size;
	uint32_t required_size;		/* 0: not known yet, no required/headroom series */
	int64_t headroom;
};

/* What a scrape shows; copied out under the lock, formatted outside it. */
struct registry {
	uint64_t events[XSW_EV_MAX + 1];	/* [XSW_EV_MAX]: types this build does not know */
	struct keyed_set violations;
	struct keyed_set lints;
	struct keyed_set perm_requests;	/* key: op, key2: result */
	uint64_t lost;
	uint64_t reallocs;
	struct histogram create_latency;
	struct histogram set_cpuid_latency;
	struct histogram create_to_run;
	struct vcpu_series *vcpus;
	size_t nr_vcpus, cap_vcpus;
	uint64_t scrapes;
	char tier[32];			/* xsw_metrics_set_tier() */
	char kernel[65];
};

struct xsw_metrics {
	pthread_mutex_t lock;
	struct registry reg;		/* under @lock */

	/* Server. */
	struct MHD_Daemon *daemon;
	unsigned int port;
};

/* ---- output buffer ------------------------------------------------------ */

struct outbuf {
	char *buf;
	size_t len, cap;
	bool oom;
};

static void out_reserve(struct outbuf *o, size_t more)
{
	size_t cap;
	char *nb;

	if (o->oom || o->len + more + 1 <= o->cap)
		return;
	cap = o->cap ? o->cap : 4096;
	while (cap < o->len + more + 1)
		cap *= 2;
	nb = realloc(o->buf, cap);
	if (!nb) {
		o->oom = true;
		return;
	}
	o->buf = nb;
	o->cap = cap;
}

__attribute__((format(printf, 2, 3)))
static void out_printf(struct outbuf *o, const char *fmt, ...)
{
	va_list ap;
	size_t room;
	int n;

	if (o->oom)
		return;
	/* Format straight into the free space; only a miss formats twice. */
	room = o->cap - o->len;
	va_start(ap, fmt);
	n = vsnprintf(o->buf ? o->buf + o->len : NULL, room, fmt, ap);
	va_end(ap);
	if (n < 0) {
		o->oom = true;
		return;
	}
	if ((size_t)n >= room) {
		out_reserve(o, n);
		if (o->oom)
			return;
		va_start(ap, fmt);
		vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
	}
	o->len += n;
}

static void out_bytes(struct outbuf *o, const char *s, size_t n)
{
	out_reserve(o, n);
	if (o->oom)
		return;
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

static void out_char(struct outbuf *o, char c)
{
	out_bytes(o, &c, 1);
}

/* Length of the valid UTF-8 sequence at @s (at most @n bytes), 0 if invalid. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
	size_t len, i;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0)
		len = 2, cp = s[0] & 0x1f;
	else if ((s[0] & 0xf0) == 0xe0)
		len = 3, cp = s[0] & 0x0f;
	else if ((s[0] & 0xf8) == 0xf0)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates and values past U+10FFFF are invalid. */
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
	    (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/*
 * A label value, quoted, from at most @max bytes of @s (comm and finding
 * ids are fixed arrays that need not be NUL-terminated). The format asks
 * for backslash, double quote and line feed to be escaped; Prometheus also
 * rejects a scrape whose label values are not UTF-8, and a task's comm is
 * whatever bytes the task put there, so invalid bytes become U+FFFD.
 */
static void out_label_value(struct outbuf *o, const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strnlen(s, max), i = 0, l;

	out_char(o, '"');
	while (i < n) {
		switch (p[i]) {
		case '\\':
			out_bytes(o, "\\\\", 2);
			i++;
			continue;
		case '"':
			out_bytes(o, "\\\"", 2);
			i++;
			continue;
		case '\n':
			out_bytes(o, "\\n", 2);
			i++;
			continue;
		}
		l = utf8_seq_len(p + i, n - i);
		if (l)
			out_bytes(o, s + i, l);
		else
			out_bytes(o, "\xef\xbf\xbd", 3);	/* U+FFFD for a byte that is not UTF-8 */
		i += l ? l : 1;
	}
	out_char(o, '"');
}

/* Nanoseconds as exact decimal seconds: 1024000 -> "0.001024", 0 -> "0". */
static void out_seconds(struct outbuf *o, uint64_t ns)
{
	char frac[10];
	int end;

	snprintf(frac, sizeof(frac), "%09" PRIu64, ns % (uint64_t)1000000000);
	for (end = 9; end > 0 && frac[end - 1] == '0'; end--)
		;
	frac[end] = '\0';
	if (end)
		out_printf(o, "%" PRIu64 ".%s", ns / (uint64_t)1000000000, frac);
	else
		out_printf(o, "%" PRIu64, ns / (uint64_t)1000000000);
}

static void out_header(struct outbuf *o, const char *name, const char *type,
		       const char *help)
{
	out_printf(o, "# HELP " PREFIX "%s %s\n# TYPE " PREFIX "%s %s\n", name, help,
		   name, type);
}

/* ---- registry updates (engine thread, under the lock) ----------------- */

static void keyed_inc(struct keyed_set *set, const char *key, size_t key_max,
		      const char *key2, uint64_t by)
{
	char k[KEY_LEN] = "", k2[KEY_LEN] = "";
	unsigned int i;

	snprintf(k, sizeof(k), "%.*s", (int)strnlen(key, key_max), key);
	if (!k[0])
		snprintf(k, sizeof(k), "unknown");
	if (key2)
		snprintf(k2, sizeof(k2), "%s", key2);
again:
	for (i = 0; i < set->nr; i++) {
		if (!strcmp(set->items[i].key, k) && !strcmp(set->items[i].key2, k2)) {
			set->items[i].value += by;
			return;
		}
	}
	if (set->nr >= MAX_KEYED - 1 && strcmp(k, "other")) {
		/* The last slots are kept for "other". */
		snprintf(k, sizeof(k), "other");
		goto again;
	}
	if (set->nr == MAX_KEYED)
		return;		/* only with many distinct key2 values past the cap */
	memcpy(set->items[set->nr].key, k, sizeof(k));
	memcpy(set->items[set->nr].key2, k2, sizeof(k2));
	set->items[set->nr].value = by;
	set->nr++;
}

static void hist_observe(struct histogram *h, uint64_t ns)
{
	uint64_t bound = HIST_FIRST_NS;
	unsigned int i;

	h->count++;
	h->sum_ns += ns;
	for (i = 0; i < HIST_BUCKETS; i++, bound <<= 1) {
		if (ns <= bound) {
			h->buckets[i]++;
			return;
		}
	}
	/* Past the last bound: only in +Inf, which is _count. */
}

static struct vcpu_series *vcpu_find(struct xsw_metrics *m, uint32_t pid, uint64_t vm,
				     int32_t vcpu_id)
{
	size_t i;

	for (i = 0; i < m->reg.nr_vcpus; i++) {
		struct vcpu_series *s = &m->reg.vcpus[i];

		if (s->pid == pid && s->vm == vm && s->vcpu_id == vcpu_id)
			return s;
	}
	return NULL;
}

static void vcpu_update(struct xsw_metrics *m, const struct xsw_vcpu_state *v)
{
	struct vcpu_series *s = vcpu_find(m, v->pid, v->vm, v->vcpu_id);

	if (!s) {
		if (m->reg.nr_vcpus == m->reg.cap_vcpus) {
			size_t cap = m->reg.cap_vcpus ? m->reg.cap_vcpus * 2 : 16;
			struct vcpu_series *nv = realloc(m->reg.vcpus, cap * sizeof(*nv));

			if (!nv)
				return;	/* the series appears with the next event */
			m->reg.vcpus = nv;
			m->reg.cap_vcpus = cap;
		}
		s = &m->reg.vcpus[m->reg.nr_vcpus++];
		memset(s, 0, sizeof(*s));
		s->pid = v->pid;
		s->vm = v->vm;
		s->vcpu_id = v->vcpu_id;
	}
	memcpy(s->comm, v->comm, sizeof(s->comm));
	s->vm_index = v->vm_index;
	s->fps_valid = v->fps.valid;
	s->fps_size = v->fps.size;
	s->required_size = v->required_size;
	s->headroom = v->headroom;
}

static void metrics_on_event(void *ctx, struct xsw_engine *eng, const struct xsw_event *ev,
			     const struct xsw_vcpu_state *vcpu)
{
	struct xsw_metrics *m = ctx;
	unsigned int type = ev->type < XSW_EV_MAX ? ev->type : XSW_EV_MAX;

	pthread_mutex_lock(&m->lock);
	m->reg.events[type]++;
	switch (ev->type) {
	case XSW_EV_VIOLATION:
		keyed_inc(&m->reg.violations, ev->finding.id, sizeof(ev->finding.id), NULL, 1);
		break;
	case XSW_EV_LINT:
		keyed_inc(&m->reg.lints, ev->finding.id, sizeof(ev->finding.id), NULL, 1);
		break;
	case XSW_EV_LOST:
		m->reg.lost += ev->lost.count;
		break;
	case XSW_EV_FPSTATE_REALLOC:
		m->reg.reallocs++;
		break;
	case XSW_EV_PERM_REQUEST: {
		const char *op = ev->perm.request ?
			(ev->perm.guest ? "req_guest" : "req") :
			(ev->perm.guest ? "get_guest" : "get");

		keyed_inc(&m->reg.perm_requests, op, KEY_LEN,
			  ev->ret ? xsw_errno_name(ev->ret) : "ok", 1);
		break;
	}
	case XSW_EV_VCPU_CREATE:
		if (ev->duration_ns)
			hist_observe(&m->reg.create_latency, ev->duration_ns);
		break;
	case XSW_EV_SET_CPUID:
		if (ev->duration_ns)
			hist_observe(&m->reg.set_cpuid_latency, ev->duration_ns);
		break;
	case XSW_EV_FIRST_RUN:
		if (vcpu && vcpu->create_ts && ev->ts_ns >= vcpu->create_ts)
			hist_observe(&m->reg.create_to_run, ev->ts_ns - vcpu->create_ts);
		break;
	default:
		break;
	}
	if (vcpu)
		vcpu_update(m, vcpu);
	pthread_mutex_unlock(&m->lock);
}

static void metrics_on_vcpu_gone(void *ctx, struct xsw_engine *eng,
				 const struct xsw_vcpu_state *vcpu)
{
	struct xsw_metrics *m = ctx;
	struct vcpu_series *s;

	pthread_mutex_lock(&m->lock);
	s = vcpu_find(m, vcpu->pid, vcpu->vm, vcpu->vcpu_id);
	if (s) {
		/* Order is irrelevant to the exposition: move the last one here. */
		*s = m->reg.vcpus[m->reg.nr_vcpus - 1];
		m->reg.nr_vcpus--;
	}
	pthread_mutex_unlock(&m->lock);
}

/*
 * The engine calls close() from xsw_engine_free(). The registry must stay
 * readable after that (a final scrape, the exit summary), so this does
 * nothing: xsw_metrics_stop() frees it, in either order.
 */
static void metrics_close(void *ctx, struct xsw_engine *eng)
{
}

void xsw_metrics_sink(struct xsw_metrics *m, struct xsw_sink *out)
{
	memset(out, 0, sizeof(*out));
	out->name = "metrics";
	out->ctx = m;
	out->on_event = metrics_on_event;
	out->on_vcpu_gone = metrics_on_vcpu_gone;
	out->close = metrics_close;
}

/* ---- rendering ---------------------------------------------------------- */

static void render_vcpu_labels(struct outbuf *o, const struct vcpu_series *s)
{
	out_printf(o, "{pid=\"%" PRIu32 "\",comm=", s->pid);
	out_label_value(o, s->comm, sizeof(s->comm));
	out_printf(o, ",vm=\"%u\",vcpu=\"%" PRId32 "\"}", s->vm_index, s->vcpu_id);
}

static void render_keyed(struct outbuf *o, const char *name, const char *label,
			 const char *label2, const struct keyed_set *set)
{
	unsigned int i;

	for (i = 0; i < set->nr; i++) {
		out_printf(o, PREFIX "%s{%s=", name, label);
		out_label_value(o, set->items[i].key, KEY_LEN);
		if (label2) {
			out_printf(o, ",%s=", label2);
			out_label_value(o, set->items[i].key2, KEY_LEN);
		}
		out_printf(o, "} %" PRIu64 "\n", set->items[i].value);
	}
}

static void render_histogram(struct outbuf *o, const char *name, const char *help,
			     const struct histogram *h)
{
	uint64_t bound = HIST_FIRST_NS, cumulative = 0;
	unsigned int i;

	out_header(o, name, "histogram", help);
	for (i = 0; i < HIST_BUCKETS; i++, bound <<= 1) {
		cumulative += h->buckets[i];
		out_printf(o, PREFIX "%s_bucket{le=\"", name);
		out_seconds(o, bound);
		out_printf(o, "\"} %" PRIu64 "\n", cumulative);
	}
	out_printf(o, PREFIX "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, h->count);
	out_printf(o, PREFIX "%s_sum ", name);
	out_seconds(o, h->sum_ns);
	out_printf(o, "\n" PREFIX "%s_count %" PRIu64 "\n", name, h->count);
}

/* The collector's own resources, read outside the lock. */
struct self_usage {
	uint64_t cpu_ns;
	uint64_t rss_bytes;
	bool have_rss;
};

static void read_self_usage(struct self_usage *u)
{
	struct rusage ru;
	unsigned long size, resident;
	FILE *f;

	memset(u, 0, sizeof(*u));
	if (!getrusage(RUSAGE_SELF, &ru))
		u->cpu_ns = (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ULL +
			    (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ULL;
	f = fopen("/proc/self/statm", "re");
	if (f) {
		if (fscanf(f, "%lu %lu", &size, &resident) == 2) {
			u->rss_bytes = (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
			u->have_rss = true;
		}
		fclose(f);
	}
}

static void render_registry(const struct registry *r, struct outbuf *o,
			    const struct self_usage *u)
{
	unsigned int t;
	size_t i;

	out_header(o, "info", "gauge",
		   "Always 1; labels: collector version, probe tier, kernel release.");
	out_printf(o, PREFIX "info{version=");
	out_label_value(o, XSW_VERSION, sizeof(XSW_VERSION));
	out_printf(o, ",tier=");
	out_label_value(o, r->tier, sizeof(r->tier));
	out_printf(o, ",kernel=");
	out_label_value(o, r->kernel, sizeof(r->kernel));
	out_printf(o, "} 1\n");

	out_header(o, "vcpu_fpstate_size_bytes", "gauge",
		   "Size of the vCPU's guest fpstate buffer (fpstate->size).");
	for (i = 0; i < r->nr_vcpus; i++) {
		if (!r->vcpus[i].fps_valid)
			continue;
		out_printf(o, PREFIX "vcpu_fpstate_size_bytes");
		render_vcpu_labels(o, &r->vcpus[i]);
		out_printf(o, " %" PRIu32 "\n", r->vcpus[i].fps_size);
	}
	out_header(o, "vcpu_required_size_bytes", "gauge",
		   "Buffer size the vCPU's guest state needs (invariant I2).");
	for (i = 0; i < r->nr_vcpus; i++) {
		if (!r->vcpus[i].required_size)
			continue;
		out_printf(o, PREFIX "vcpu_required_size_bytes");
		render_vcpu_labels(o, &r->vcpus[i]);
		out_printf(o, " %" PRIu32 "\n", r->vcpus[i].required_size);
	}
	out_header(o, "vcpu_headroom_bytes", "gauge",
		   "fpstate size minus required size; negative means the buffer is too small.");
	for (i = 0; i < r->nr_vcpus; i++) {
		if (!r->vcpus[i].required_size)
			continue;
		out_printf(o, PREFIX "vcpu_headroom_bytes");
		render_vcpu_labels(o, &r->vcpus[i]);
		out_printf(o, " %" PRId64 "\n", r->vcpus[i].headroom);
	}
	out_header(o, "vcpus", "gauge", "vCPUs the collector currently follows.");
	out_printf(o, PREFIX "vcpus %zu\n", r->nr_vcpus);

	out_header(o, "events_total", "counter",
		   "Events processed, by type (findings of the checks included).");
	for (t = 1; t <= XSW_EV_MAX; t++) {
		const char *name = t < XSW_EV_MAX ? xsw_event_type_name(t) : "unknown";

		if (!name)
			name = "unknown";
		/* Every known type, zeros included, so rate() has a series from the start. */
		if (t == XSW_EV_MAX && !r->events[t])
			continue;
		out_printf(o, PREFIX "events_total{type=\"%s\"} %" PRIu64 "\n", name,
			   r->events[t]);
	}
	out_header(o, "violations_total", "counter", "Invariant violations, by invariant id.");
	render_keyed(o, "violations_total", "invariant", NULL, &r->violations);
	out_header(o, "lint_warnings_total", "counter", "Lint warnings, by lint id.");
	render_keyed(o, "lint_warnings_total", "lint", NULL, &r->lints);
	out_header(o, "lost_events_total", "counter",
		   "Events the probes dropped (ring buffer full), or program runs the kernel "
		   "skipped.");
	out_printf(o, PREFIX "lost_events_total %" PRIu64 "\n", r->lost);
	out_header(o, "fpstate_reallocs_total", "counter", "fpstate_realloc() calls seen.");
	out_printf(o, PREFIX "fpstate_reallocs_total %" PRIu64 "\n", r->reallocs);
	out_header(o, "perm_requests_total", "counter",
		   "arch_prctl XCOMP permission calls, by operation and result.");
	render_keyed(o, "perm_requests_total", "op", "result", &r->perm_requests);

	render_histogram(o, "vcpu_create_duration_seconds",
			 "KVM_CREATE_VCPU ioctl duration.", &r->create_latency);
	render_histogram(o, "set_cpuid_duration_seconds",
			 "KVM_SET_CPUID2 ioctl duration, whatever its result.",
			 &r->set_cpuid_latency);
	render_histogram(o, "vcpu_create_to_first_run_seconds",
			 "Time from KVM_CREATE_VCPU to the vCPU's first KVM_RUN.",
			 &r->create_to_run);

	out_header(o, "collector_cpu_seconds_total", "counter",
		   "User and system CPU time the collector used.");
	out_printf(o, PREFIX "collector_cpu_seconds_total ");
	out_seconds(o, u->cpu_ns);
	out_char(o, '\n');
	if (u->have_rss) {
		out_header(o, "collector_resident_memory_bytes", "gauge",
			   "The collector's resident set size.");
		out_printf(o, PREFIX "collector_resident_memory_bytes %" PRIu64 "\n",
			   u->rss_bytes);
	}
	out_header(o, "scrapes_total", "counter", "Renders of this exposition.");
	out_printf(o, PREFIX "scrapes_total %" PRIu64 "\n", r->scrapes);
}

char *xsw_metrics_render(struct xsw_metrics *m, size_t *len)
{
	struct outbuf o = { 0 };
	struct self_usage u;
	struct registry snap;
	struct vcpu_series *vcpus = NULL;
	size_t want = 0;

	read_self_usage(&u);
	/*
	 * Copy the registry under the lock and format it after: the engine
	 * thread waits at most for a memcpy, however many vCPUs there are and
	 * however slow formatting is. The vCPU array is sized outside the lock
	 * and the copy retried in the rare case it grew in between.
	 */
	for (;;) {
		pthread_mutex_lock(&m->lock);
		if (m->reg.nr_vcpus <= want) {
			snap = m->reg;
			if (snap.nr_vcpus)
				memcpy(vcpus, m->reg.vcpus, snap.nr_vcpus * sizeof(*vcpus));
			m->reg.scrapes++;
			pthread_mutex_unlock(&m->lock);
			break;
		}
		want = m->reg.nr_vcpus + 16;
		pthread_mutex_unlock(&m->lock);
		free(vcpus);
		vcpus = malloc(want * sizeof(*vcpus));
		if (!vcpus)
			return NULL;
	}
	snap.vcpus = vcpus;
	snap.scrapes++;		/* this one counts */

	out_reserve(&o, 16384 + snap.nr_vcpus * 3 * 100);	/* ~100 bytes a vCPU line */
	render_registry(&snap, &o, &u);
	free(vcpus);
	if (o.oom) {
		free(o.buf);
		return NULL;
	}
	if (len)
		*len = o.len;
	return o.buf;
}

/* ---- libmicrohttpd, loaded on demand ----------------------------------- */

/*
 * Most runs serve no /metrics, and linking libmicrohttpd would map it and
 * its TLS stack (gnutls, nettle, gmp, p11-kit, ...) and run their
 * constructors in every one of them: over 2 MB of resident pages against
 * the collector's RSS budget. So the few functions used come from dlopen()
 * when a server is started; the types and constants still come from the
 * header, and __typeof__ keeps the pointers' types the header's. The
 * library stays loaded for the life of the process: its server thread
 * runs its code until xsw_metrics_stop(), and loading it twice is waste.
 */
static struct {
	__typeof__(MHD_start_daemon) *start_daemon;
	__typeof__(MHD_stop_daemon) *stop_daemon;
	__typeof__(MHD_create_response_from_buffer) *create_response_from_buffer;
	__typeof__(MHD_add_response_header) *add_response_header;
	__typeof__(MHD_queue_response) *queue_response;
	__typeof__(MHD_destroy_response) *destroy_response;
} mhd;

static pthread_once_t mhd_once = PTHREAD_ONCE_INIT;
static char mhd_error[256];	/* why mhd_load() failed, "" when it did not */

static void mhd_load(void)
{
	/* POSIX's way to store dlsym()'s void * in a function pointer. */
	static const struct {
		const char *name;
		void **slot;
	} syms[] = {
		{ "MHD_start_daemon", (void **)&mhd.start_daemon },
		{ "MHD_stop_daemon", (void **)&mhd.stop_daemon },
		{ "MHD_create_response_from_buffer", (void **)&mhd.create_response_from_buffer },
		{ "MHD_add_response_header", (void **)&mhd.add_response_header },
		{ "MHD_queue_response", (void **)&mhd.queue_response },
		{ "MHD_destroy_response", (void **)&mhd.destroy_response },
	};
	void *lib;
	size_t i;

	lib = dlopen(XSW_MHD_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		snprintf(mhd_error, sizeof(mhd_error), "%s", dlerror());
		return;
	}
	for (i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		*syms[i].slot = dlsym(lib, syms[i].name);
		if (!*syms[i].slot) {
			snprintf(mhd_error, sizeof(mhd_error), "%s", dlerror());
			dlclose(lib);
			return;
		}
	}
}

/* The first call loads the library; every call reports how that went. */
static int mhd_open(const char *addr, struct xsw_err *err)
{
	pthread_once(&mhd_once, mhd_load);
	if (mhd_error[0])
		return xsw_err_set(err, ELIBACC,
				   "--listen '%s': cannot load " XSW_MHD_SONAME
				   ", which serves /metrics: %s", addr, mhd_error);
	return 0;
}

/* ---- HTTP server -------------------------------------------------------- */

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int status,
			     const char *type, char *body, size_t len, bool must_free)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = mhd.create_response_from_buffer(len, body, must_free ? MHD_RESPMEM_MUST_FREE :
					       MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		if (must_free)
			free(body);
		return MHD_NO;
	}
	mhd.add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		mhd.add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = mhd.queue_response(conn, status, resp);
	mhd.destroy_response(resp);
	return ret;
}

static enum MHD_Result handle_request(void *cls, struct MHD_Connection *conn, const char *url,
				      const char *method, const char *version,
				      const char *upload_data, size_t *upload_data_size,
				      void **con_cls)
{
	static char index_page[] = "xstate-watch: metrics at /metrics\n";
	static char not_found[] = "not found: try /metrics\n";
	static char bad_method[] = "only GET and HEAD\n";
	struct xsw_metrics *m = cls;
	size_t len;
	char *body;

	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", bad_method,
			     strlen(bad_method), false);
	if (!strcmp(url, "/"))
		return reply(conn, MHD_HTTP_OK, "text/plain", index_page, strlen(index_page),
			     false);
	if (strcmp(url, "/metrics"))
		return reply(conn, MHD_HTTP_NOT_FOUND, "text/plain", not_found,
			     strlen(not_found), false);
	body = xsw_metrics_render(m, &len);
	if (!body)
		return MHD_NO;	/* libmicrohttpd answers 500 */
	return reply(conn, MHD_HTTP_OK, CONTENT_TYPE, body, len, true);
}

/*
 * Split "HOST:PORT", "[V6]:PORT" or ":PORT" into a socket address. An empty
 * host means 127.0.0.1: serving beyond loopback needs an explicit address.
 */
static int parse_listen(const char *addr, struct sockaddr_storage *ss, socklen_t *sslen,
			struct xsw_err *err)
{
	char host[64];
	const char *colon, *port_s;
	char *end;
	unsigned long port;
	size_t hlen;

	if (addr[0] == '[') {
		const char *close = strchr(addr, ']');

		if (!close || close[1] != ':')
			return xsw_err_set(err, EINVAL,
					   "--listen '%s': expected [IPV6]:PORT", addr);
		hlen = close - addr - 1;
		if (hlen >= sizeof(host))
			return xsw_err_set(err, EINVAL, "--listen '%s': address too long", addr);
		memcpy(host, addr + 1, hlen);
		host[hlen] = '\0';
		port_s = close + 2;
	} else {
		colon = strrchr(addr, ':');
		if (!colon)
			return xsw_err_set(err, EINVAL,
					   "--listen '%s': expected ADDR:PORT or :PORT", addr);
		hlen = colon - addr;
		if (hlen >= sizeof(host))
			return xsw_err_set(err, EINVAL, "--listen '%s': address too long", addr);
		memcpy(host, addr, hlen);
		host[hlen] = '\0';
		if (strchr(host, ':'))
			return xsw_err_set(err, EINVAL,
					   "--listen '%s': write an IPv6 address as [ADDR]:PORT",
					   addr);
		port_s = colon + 1;
	}
	errno = 0;
	port = strtoul(port_s, &end, 10);
	if (!*port_s || *end || errno || port > 65535 || *port_s == '-' || *port_s == '+')
		return xsw_err_set(err, EINVAL, "--listen '%s': port '%s' is not 0..65535",
				   addr, port_s);

	memset(ss, 0, sizeof(*ss));
	if (!host[0] || addr[0] != '[') {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		if (!host[0])
			sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		else if (!strcmp(host, "localhost"))
			sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		else if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return xsw_err_set(err, EINVAL,
					   "--listen '%s': '%s' is not an IPv4 address", addr,
					   host);
		*sslen = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return xsw_err_set(err, EINVAL,
					   "--listen '%s': '%s' is not an IPv6 address", addr,
					   host);
		*sslen = sizeof(*sin6);
	}
	return 0;
}

/*
 * Bind the socket here rather than letting libmicrohttpd do it: its start
 * function reports failure as a bare NULL, and the user deserves to know
 * whether the port is taken or the address is not on this host.
 */
static int open_listener(const char *addr, unsigned int *port, struct xsw_err *err)
{
	struct sockaddr_storage ss, bound;
	socklen_t sslen = 0, blen = sizeof(bound);
	int fd, one = 1, e;

	e = parse_listen(addr, &ss, &sslen, err);
	if (e)
		return e;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return xsw_err_set(err, errno, "--listen '%s': socket: %s (%s)", addr,
				   strerror(errno), xsw_errno_name(errno));
	/* Restart without waiting for TIME_WAIT; does not allow two listeners. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sslen) < 0) {
		e = errno;
		close(fd);
		return xsw_err_set(err, e, "--listen '%s': bind: %s (%s)%s", addr,
				   strerror(e), xsw_errno_name(e),
				   e == EADDRINUSE ? ": another process serves this port" :
				   e == EADDRNOTAVAIL ? ": no interface of this host has that address" :
				   "");
	}
	if (listen(fd, 16) < 0 ||
	    getsockname(fd, (struct sockaddr *)&bound, &blen) < 0) {
		e = errno;
		close(fd);
		return xsw_err_set(err, e, "--listen '%s': addr: %s (%s)", addr,
				   strerror(e), xsw_errno_name(e));
	}
	*port = ntohs(bound.ss_family == AF_INET6 ?
		      ((struct sockaddr_in6 *)&bound)->sin6_port :
		      ((struct sockaddr_in *)&bound)->sin_port);
	return fd;
}

struct xsw_metrics *xsw_metrics_start(const char *addr, const char *tier,
				      struct xsw_err *err)
{
	struct xsw_metrics *m;
	struct utsname uts;
	int fd, c;

	xsw_err_clear(err);
	m = calloc(1, sizeof(*m));
	if (!m) {
		xsw_err_set(err, ENOMEM, "metrics: out of memory");
		return NULL;
	}
	pthread_mutex_init(&m->lock, NULL);
	snprintf(m->reg.tier, sizeof(m->reg.tier), "%s", tier && *tier ? tier : "unknown");
	snprintf(m->reg.kernel, sizeof(m->reg.kernel), "%s", uname(&uts) ? "unknown" : uts.release);
	/*
	 * Every invariant and lint the checks know starts at 0: increase()
	 * over a series whose first sample is already 1 is 0, so an alert on
	 * the very first violation of a collector's life needs the 0 first.
	 */
	for (c = 0; c < XSW_CHECK_MAX; c++) {
		const struct xsw_check_info *info = xsw_check_info(c);

		if (info)
			keyed_inc(info->lint ? &m->reg.lints : &m->reg.violations, info->id, KEY_LEN,
				  NULL, 0);
	}
	if (!addr)
		return m;

	fd = open_listener(addr, &m->port, err);
	if (fd < 0) {
		xsw_metrics_stop(m);
		return NULL;
	}
	if (mhd_open(addr, err)) {
		close(fd);
		xsw_metrics_stop(m);
		return NULL;
	}
	m->daemon = mhd.start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG,
				     0, NULL, NULL, handle_request, m,
				     MHD_OPTION_LISTEN_SOCKET, fd,
				     MHD_OPTION_CONNECTION_LIMIT, (unsigned int)32,
				     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10,
				     MHD_OPTION_END);
	if (!m->daemon) {
		int e = errno ? errno : EIO;

		close(fd);
		xsw_err_set(err, e, "--listen '%s': libmicrohttpd could not start: %s (%s)",
			    addr, strerror(e), xsw_errno_name(e));
		xsw_metrics_stop(m);
		return NULL;
	}
	return m;
}

void xsw_metrics_set_tier(struct xsw_metrics *m, const char *tier)
{
	pthread_mutex_lock(&m->lock);
	snprintf(m->reg.tier, sizeof(m->reg.tier), "%s", tier && *tier ? tier : "unknown");
	pthread_mutex_unlock(&m->lock);
}

unsigned int xsw_metrics_port(const struct xsw_metrics *m)
{
	return m && m->daemon ? m->port : 0;
}

void xsw_metrics_stop(struct xsw_metrics *m)
{
	if (!m)
		return;
	if (m->daemon)
		mhd.stop_daemon(m->daemon);	/* joins its thread, closes the socket */
	pthread_mutex_destroy(&m->lock);
	free(m->reg.vcpus);
	free(m);
}
