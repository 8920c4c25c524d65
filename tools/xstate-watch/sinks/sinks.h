/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The collector's output sinks. Each constructor fills a struct xsw_sink to
 * register with xsw_engine_add_sink(); the engine calls close() from
 * xsw_engine_free(), which writes what is left and frees the sink.
 */
#ifndef XSW_SINKS_H
#define XSW_SINKS_H

#include <stdbool.h>
#include <stdio.h>

#include "../engine.h"

/* JSON lines: every input event and every finding, one object per line. */
int xsw_json_sink_new(FILE *f, bool close_file, struct xsw_sink *out);

/*
 * The live table (like kvm_stat/top): one row per vCPU. Rendered by
 * xsw_table_render() on the caller's interval; vCPUs that went away since
 * the last render are shown once more as "gone". Findings are listed under
 * the table (the last few).
 */
struct xsw_table;
struct xsw_table *xsw_table_sink_new(FILE *f, bool clear_screen, struct xsw_sink *out);
void xsw_table_render(struct xsw_table *t, struct xsw_engine *eng, const char *header);

/*
 * KTAP (kselftest style), written at close: one test point per vCPU
 * lifecycle and per invariant check of that vCPU, process-level lints as
 * their own points when --strict, then the kselftest totals line and a
 * plain "N passed, N failed" line.
 */
int xsw_ktap_sink_new(FILE *f, bool close_file, struct xsw_sink *out);

/*
 * Human report: each finding as it happens (with the event that exposed it,
 * as JSON), and at close the totals. @quiet_findings: only the totals.
 */
struct xsw_summary_opts {
	bool findings;		/* print each finding as it happens */
	bool totals;		/* print the totals at close */
	const char *tier;	/* "syscall", "replay": shown in the totals */
};
int xsw_summary_sink_new(FILE *f, const struct xsw_summary_opts *opts, struct xsw_sink *out);
/* The totals block, also used on SIGINT in live mode. */
void xsw_summary_print(FILE *f, struct xsw_engine *eng, const char *tier);

/* Helpers shared by the sinks. */
const char *xsw_vcpu_status_name(enum xsw_vcpu_status s);
const char *xsw_verdict_name(enum xsw_verdict v);
/* One finding as a multi-line human block, with the cause event if given. */
void xsw_finding_print(FILE *f, const struct xsw_event *finding,
		       const struct xsw_event *cause);

#endif /* XSW_SINKS_H */
