// SPDX-License-Identifier: GPL-2.0
/*
 * Shared by the collector's modes: see cli.h.
 */
#include <argp.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "sinks/sinks.h"
#ifdef XSW_HAVE_METRICS
#include "sinks/metrics.h"
#endif

volatile sig_atomic_t xsw_cli_stop;

static void on_signal(int sig)
{
	xsw_cli_stop = sig;
}

void xsw_cli_catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	/* No SA_RESTART: a blocking poll returns and the loop sees the stop. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

uint64_t xsw_cli_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int xsw_cli_load_cpu(const char *path, struct xsw_cpu_model *m)
{
	struct xsw_err err = { 0 };
	int ret;

	if (path)
		ret = xsw_cpu_model_load(m, path, &err);
	else
		ret = xsw_cpu_model_from_host(m, &err);
	if (ret) {
		fprintf(stderr, "xstate-watch: %s%s\n", path ? "--cpu-model: " : "",
			err.msg[0] ? err.msg : strerror(-ret));
		return -1;
	}
	return 0;
}

FILE *xsw_cli_open_out(const char *path, bool *close_it)
{
	FILE *f;

	if (!strcmp(path, "-")) {
		*close_it = false;
		return stdout;
	}
	f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "xstate-watch: cannot write %s: %s\n", path, strerror(errno));
		return NULL;
	}
	*close_it = true;
	return f;
}

static int add_sink(struct xsw_engine *eng, int ret, const struct xsw_sink *s)
{
	if (ret == 0)
		ret = xsw_engine_add_sink(eng, s);
	if (ret)
		fprintf(stderr, "xstate-watch: cannot add the %s output: %s\n",
			s->name ? s->name : "?", strerror(-ret));
	return ret;
}

int xsw_cli_setup(struct xsw_cli *cli, const char *cpu_model_path, bool strict,
		  uint32_t pid_filter, const struct xsw_cli_outputs *o)
{
	struct xsw_engine_opts eo = { 0 };
	struct xsw_sink sink;
	bool close_it;
	FILE *f;

	memset(cli, 0, sizeof(*cli));
	cli->report = o->report;
	cli->totals = o->totals;
	cli->tier = o->tier;
	if (xsw_cli_load_cpu(cpu_model_path, &cli->cpu))
		return -1;
	eo.cpu = &cli->cpu;
	eo.compacted = xsw_kernel_uses_compacted(&cli->cpu);
	eo.lints_are_failures = strict;
	eo.pid_filter = pid_filter;
	cli->eng = xsw_engine_new(&eo);
	if (!cli->eng) {
		fprintf(stderr, "xstate-watch: %s\n", strerror(errno));
		return -1;
	}
	if (o->json_path) {
		f = xsw_cli_open_out(o->json_path, &close_it);
		if (!f)
			return -1;
		if (add_sink(cli->eng, xsw_json_sink_new(f, close_it, &sink), &sink))
			return -1;
	}
	if (o->ktap_path) {
		f = xsw_cli_open_out(o->ktap_path, &close_it);
		if (!f)
			return -1;
		if (add_sink(cli->eng, xsw_ktap_sink_new(f, close_it, &sink), &sink))
			return -1;
	}
	if (o->report) {
		struct xsw_summary_opts so = {
			.findings = !o->no_findings, .totals = false, .tier = o->tier,
		};

		if (add_sink(cli->eng, xsw_summary_sink_new(o->report, &so, &sink), &sink))
			return -1;
	}
	if (o->listen) {
#ifdef XSW_HAVE_METRICS
		struct xsw_err err = { 0 };
		struct xsw_metrics *m = xsw_metrics_start(o->listen, o->tier, &err);

		if (!m) {
			/* The message names the address already. */
			fprintf(stderr, "xstate-watch: %s\n", err.msg);
			return -1;
		}
		cli->metrics = m;
		xsw_metrics_sink(m, &sink);
		if (add_sink(cli->eng, 0, &sink))
			return -1;
		fprintf(stderr, "xstate-watch: serving /metrics on %s (port %u)\n", o->listen,
			xsw_metrics_port(m));
#else
		fprintf(stderr, "xstate-watch: --listen: built without the /metrics sink "
			"(tools/xstate-watch/sinks/metrics.c)\n");
		return -1;
#endif
	}
	return 0;
}

void xsw_cli_set_tier(struct xsw_cli *cli, const char *tier)
{
#ifdef XSW_HAVE_METRICS
	if (cli->metrics)
		xsw_metrics_set_tier(cli->metrics, tier);
#endif
}

int xsw_cli_finish(struct xsw_cli *cli, bool aborted)
{
	bool failed;

	if (!cli->eng)
		return XSW_EXIT_ERROR;
	failed = xsw_engine_failed(cli->eng);
	if (cli->report && cli->totals && !aborted)
		xsw_summary_print(cli->report, cli->eng, cli->tier);
	xsw_engine_free(cli->eng);
	cli->eng = NULL;
#ifdef XSW_HAVE_METRICS
	if (cli->metrics)
		xsw_metrics_stop(cli->metrics);
#endif
	cli->metrics = NULL;
	return failed ? XSW_EXIT_VIOLATION : XSW_EXIT_OK;
}

/* --- probes ----------------------------------------------------------------- */

#ifdef XSW_HAVE_PROBES
static void on_probe_event(const struct xsw_event *ev, void *arg)
{
	struct xsw_cli_probe *cp = arg;

	/* A tier that reports its drops as events: those are accounted. */
	if (ev->type == XSW_EV_LOST)
		cp->lost_accounted += ev->lost.count;
	xsw_engine_feed(cp->eng, ev);
}

int xsw_cli_probe_start(struct xsw_cli_probe *cp, enum xsw_tier want,
			const struct xsw_probe_opts *opts, struct xsw_engine *eng)
{
	struct xsw_err err = { 0 };
	char why[512] = "";
	uint64_t t0 = xsw_cli_now_ns();
	const char *detail;

	memset(cp, 0, sizeof(*cp));
	cp->eng = eng;
	if (xsw_probe_check_env(&err)) {
		fprintf(stderr, "xstate-watch: %s\n", err.msg);
		return -1;
	}
	if (err.msg[0])	/* a note, e.g. that it mounted tracefs */
		fprintf(stderr, "xstate-watch: %s\n", err.msg);
	cp->ops = xsw_tier_choose(want, why, sizeof(why), &err);
	if (!cp->ops) {
		fprintf(stderr, "xstate-watch: no probe tier can run: %s%s%s\n", err.msg,
			why[0] ? "; " : "", why);
		return -1;
	}
	if (cp->ops->open(&cp->probe, opts, on_probe_event, cp, &err)) {
		fprintf(stderr, "xstate-watch: probe tier %s: %s\n", cp->ops->name, err.msg);
		return -1;
	}
	detail = cp->ops->detail ? cp->ops->detail(cp->probe) : NULL;
	fprintf(stderr, "xstate-watch: probe tier: %s%s%s%s%s%s (attached in %.1f ms)\n",
		cp->ops->name, want == XSW_TIER_AUTO ? "" : " (forced)",
		detail ? ", " : "", detail ? detail : "",
		why[0] ? "; passed over: " : "", why,
		(double)(xsw_cli_now_ns() - t0) / 1e6);
	return 0;
}

static void feed_lost(struct xsw_cli_probe *cp, uint64_t count, bool skipped)
{
	struct xsw_event ev = { 0 };

	ev.type = XSW_EV_LOST;
	ev.source = XSW_SRC_UNKNOWN;
	ev.ts_ns = xsw_cli_now_ns();
	ev.vcpu_id = -1;
	ev.lost.count = count;
	ev.lost.skipped = skipped;
	xsw_engine_feed(cp->eng, &ev);
}

int xsw_cli_probe_poll(struct xsw_cli_probe *cp, int timeout_ms)
{
	int ret = cp->ops->poll(cp->probe, timeout_ms);
	uint64_t lost = cp->ops->lost ? cp->ops->lost(cp->probe) : 0;
	uint64_t skipped = cp->ops->skipped ? cp->ops->skipped(cp->probe) : 0;

	/* Drops the tier only counted: never silent, feed them as an event. */
	if (lost > cp->lost_accounted) {
		feed_lost(cp, lost - cp->lost_accounted, false);
		cp->lost_accounted = lost;
	}
	/* Runs the kernel skipped never reached the ring buffer: the same. */
	if (skipped > cp->skipped_accounted) {
		feed_lost(cp, skipped - cp->skipped_accounted, true);
		cp->skipped_accounted = skipped;
	}
	if (ret == -EINTR)
		ret = 0;
	return ret;
}

void xsw_cli_probe_stop(struct xsw_cli_probe *cp)
{
	int i;

	if (!cp->ops)
		return;
	/* Events emitted just before the traced process exited. */
	for (i = 0; i < 20; i++)
		if (xsw_cli_probe_poll(cp, i ? 0 : 50) <= 0)
			break;
	cp->ops->close(cp->probe);
	cp->ops = NULL;
}
#else
/* The probe library provides these; without it, names still parse. */
int xsw_tier_from_name(const char *name, enum xsw_tier *tier)
{
	static const char *const names[] = { "auto", "tracepoint", "fentry", "syscall" };
	unsigned int i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(name, names[i])) {
			*tier = (enum xsw_tier)i;
			return 0;
		}
	return -EINVAL;
}

int xsw_cli_probe_start(struct xsw_cli_probe *cp, enum xsw_tier want,
			const struct xsw_probe_opts *opts, struct xsw_engine *eng)
{
	memset(cp, 0, sizeof(*cp));
	fprintf(stderr, "xstate-watch: built without probe tiers "
		"(tools/xstate-watch/probes has no loaders yet): only `replay` works\n");
	return -1;
}

int xsw_cli_probe_poll(struct xsw_cli_probe *cp, int timeout_ms)
{
	return -ENOSYS;
}

void xsw_cli_probe_stop(struct xsw_cli_probe *cp)
{
}
#endif

void xsw_cli_parse_tier(struct argp_state *state, const char *arg, enum xsw_tier *tier)
{
	if (xsw_tier_from_name(arg, tier))
		argp_error(state, "--probes: unknown tier '%s' (auto, tracepoint, fentry, syscall)",
			   arg);
}

void xsw_cli_parse_reads(struct argp_state *state, const char *arg, enum xsw_reads *reads)
{
	if (!strcmp(arg, "auto"))
		*reads = XSW_READS_AUTO;
	else if (!strcmp(arg, "direct"))
		*reads = XSW_READS_DIRECT;
	else if (!strcmp(arg, "probe"))
		*reads = XSW_READS_PROBE;
	else
		argp_error(state, "--reads: unknown way '%s' (auto, direct, probe)", arg);
}

void xsw_cli_parse_hooks(struct argp_state *state, const char *arg, enum xsw_syscall_hooks *hooks)
{
	if (!strcmp(arg, "events"))
		*hooks = XSW_HOOKS_EVENTS;
	else if (!strcmp(arg, "raw"))
		*hooks = XSW_HOOKS_RAW;
	else
		argp_error(state, "--syscall-hooks: unknown hooks '%s' (events, raw)", arg);
}

void xsw_cli_parse_ringbuf_kib(struct argp_state *state, const char *arg, unsigned int *kib)
{
	char *end;
	unsigned long v = strtoul(arg, &end, 10);

	if (*end || !v || v > (1u << 20))
		argp_error(state, "--ringbuf-kib: '%s' is not a size in KiB (1..1048576)", arg);
	*kib = v;
}
