/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the collector's modes (live, run, replay) share: exit codes, the
 * CPU model the checks size against, output files, the engine with its
 * sinks, starting the probe tiers, and the /metrics server.
 */
#ifndef XSW_CLI_H
#define XSW_CLI_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "engine.h"
#include "probes/probe.h"
#include "xstate.h"

/* Exit codes (docs/xstate-watch.md). */
#define XSW_EXIT_OK		0
#define XSW_EXIT_ERROR		1	/* tool error: bad input file, no BPF, no privileges */
#define XSW_EXIT_USAGE		2	/* bad command line */
/* XSW_EXIT_VIOLATION (3, engine.h): an invariant failed (or a lint with --strict) */

extern volatile sig_atomic_t xsw_cli_stop;	/* set by SIGINT/SIGTERM */
void xsw_cli_catch_signals(void);

/* The host's CPU, or the model file @path; prints the error. 0 or -1. */
int xsw_cli_load_cpu(const char *path, struct xsw_cpu_model *m);

/* Option parsers shared by live and run; argp_error() on bad input. */
struct argp_state;
void xsw_cli_parse_tier(struct argp_state *state, const char *arg, enum xsw_tier *tier);
/* --reads=auto|direct|probe (enum xsw_reads); argp_error() on anything else. */
void xsw_cli_parse_reads(struct argp_state *state, const char *arg, enum xsw_reads *reads);
/* --syscall-hooks=events|raw (enum xsw_syscall_hooks); argp_error() on anything else. */
void xsw_cli_parse_hooks(struct argp_state *state, const char *arg, enum xsw_syscall_hooks *hooks);
void xsw_cli_parse_ringbuf_kib(struct argp_state *state, const char *arg,
			       unsigned int *kib);

/* Open @path for writing ("-" is stdout); prints the error, NULL on failure. */
FILE *xsw_cli_open_out(const char *path, bool *close_it);

struct xsw_cli_outputs {
	const char *json_path;	/* --json FILE (or "-") */
	const char *ktap_path;	/* --ktap FILE (or "-") */
	const char *listen;	/* --listen ADDR:PORT */
	const char *tier;	/* for the summary and the metrics info */
	FILE *report;		/* findings as they happen + totals at the end */
	bool totals;		/* print the totals at the end */
	bool no_findings;	/* only the totals */
};

struct xsw_cli {
	struct xsw_cpu_model cpu;
	struct xsw_engine *eng;
	void *metrics;		/* struct xsw_metrics *, when --listen */
	FILE *report;
	bool totals;
	const char *tier;
};

/* Create the engine and attach the sinks @o asks for. 0 or -1 (printed). */
int xsw_cli_setup(struct xsw_cli *cli, const char *cpu_model_path, bool strict,
		  uint32_t pid_filter, const struct xsw_cli_outputs *o);
/* The probe tier chosen, for /metrics' info metric. */
void xsw_cli_set_tier(struct xsw_cli *cli, const char *tier);

/*
 * Print the totals (unless @aborted), free the engine (sinks write their
 * last output), stop /metrics. Returns XSW_EXIT_VIOLATION when an
 * invariant failed, else XSW_EXIT_OK.
 */
int xsw_cli_finish(struct xsw_cli *cli, bool aborted);

/* A running probe tier feeding an engine. */
struct xsw_cli_probe {
	const struct xsw_probe_tier_ops *ops;
	struct xsw_probe *probe;
	struct xsw_engine *eng;
	uint64_t lost_accounted;	/* drops already fed to the engine as lost events */
	uint64_t skipped_accounted;	/* skipped program runs, likewise */
};

/*
 * Choose the tier (printing the choice and why earlier tiers were passed
 * over to stderr), open it, feed events to @eng. 0, or -1 with the error
 * printed.
 */
int xsw_cli_probe_start(struct xsw_cli_probe *cp, enum xsw_tier want,
			const struct xsw_probe_opts *opts, struct xsw_engine *eng);
/* Deliver pending events (up to @timeout_ms); drops become lost events. */
int xsw_cli_probe_poll(struct xsw_cli_probe *cp, int timeout_ms);
/* Drain what is still buffered, then close. */
void xsw_cli_probe_stop(struct xsw_cli_probe *cp);

uint64_t xsw_cli_now_ns(void);

/* Modes. */
int xsw_live_main(int argc, char **argv);
int xsw_run_main(int argc, char **argv);
int xsw_replay_main(int argc, char **argv);

#endif /* XSW_CLI_H */
