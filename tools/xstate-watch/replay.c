// SPDX-License-Identifier: GPL-2.0
/*
 * `xstate-watch replay FILE`: the same engine, checks and sinks as the live
 * modes, fed from a JSON-lines trace (what `--json` writes, or a crafted
 * one). A corrupt line stops the replay with file:line: field: problem.
 */
#include <argp.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "xsw_event_json.h"

static const char replay_doc[] =
"Replay a JSON-lines event trace through the engine and the invariant checks.\n"
"\n"
"USAGE: xstate-watch replay [OPTION...] FILE\n"
"\n"
"FILE is what `xstate-watch --json` or `run --json` wrote (\"-\" for stdin).\n"
"Findings (violations, lints) are printed as they are found, then the totals.\n"
"Violation/lint records in FILE are ignored: the checks derive them again.\n"
"\n"
"EXAMPLES:\n"
"    xstate-watch replay trace.jsonl\n"
"    xstate-watch replay --cpu-model tests/fixtures/cpu/sapphire-rapids-w9-3475x.cpu \\\n"
"        tests/fixtures/traces/pkvm-amx-4096.jsonl\n"
"    xstate-watch replay --ktap - --strict trace.jsonl\n"
"\n"
"Exit status: 0 no invariant failed, 3 an invariant failed (or a lint with\n"
"--strict), 1 unreadable or corrupt FILE, 2 usage.";

static const struct argp_option replay_opts[] = {
	{ "cpu-model", 'm', "FILE", 0, "Size with this CPU model file instead of this CPU", 0 },
	{ "json", 'j', "FILE", 0, "Write every event and finding as JSON lines to FILE (- = stdout)", 0 },
	{ "ktap", 'k', "FILE", 0, "Write a KTAP report to FILE (- = stdout)", 0 },
	{ "strict", 's', NULL, 0, "Lints are failures too", 0 },
	{ "quiet", 'q', NULL, 0, "Only the totals, not each finding", 0 },
	{ "pid", 'p', "PID", 0, "Only this process's events", 0 },
	{},
};

struct replay_env {
	const char *cpu_model;
	const char *json, *ktap;
	const char *file;
	bool strict, quiet;
	uint32_t pid;
};

static error_t replay_parse(int key, char *arg, struct argp_state *state)
{
	struct replay_env *env = state->input;
	char *end;

	switch (key) {
	case 'm': env->cpu_model = arg; break;
	case 'j': env->json = arg; break;
	case 'k': env->ktap = arg; break;
	case 's': env->strict = true; break;
	case 'q': env->quiet = true; break;
	case 'p':
		env->pid = strtoul(arg, &end, 10);
		if (*end || !env->pid)
			argp_error(state, "--pid: '%s' is not a process id", arg);
		break;
	case ARGP_KEY_ARG:
		if (env->file)
			argp_error(state, "one FILE only (got '%s' after '%s')", arg, env->file);
		env->file = arg;
		break;
	case ARGP_KEY_END:
		if (!env->file)
			argp_error(state, "missing FILE");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

int xsw_replay_main(int argc, char **argv)
{
	static const struct argp argp = { replay_opts, replay_parse, "FILE", replay_doc, 0, 0, 0 };
	struct replay_env env = { 0 };
	struct xsw_cli_outputs out = { 0 };
	struct xsw_event_reader *r;
	struct xsw_err err = { 0 };
	struct xsw_event ev;
	struct xsw_cli cli;
	int ret, code;

	argp_err_exit_status = XSW_EXIT_USAGE;
	if (argp_parse(&argp, argc, argv, 0, NULL, &env))
		return XSW_EXIT_USAGE;
	/* Open the trace first: a missing file is the error the user needs. */
	r = xsw_event_reader_open(env.file, &err);
	if (!r) {
		fprintf(stderr, "xstate-watch: replay: %s\n", err.msg);
		return XSW_EXIT_ERROR;
	}
	out.json_path = env.json;
	out.ktap_path = env.ktap;
	out.tier = "replay";
	/* With the KTAP or JSON stream on stdout, the human report goes to stderr. */
	out.report = (env.ktap && !strcmp(env.ktap, "-")) ||
		     (env.json && !strcmp(env.json, "-")) ? stderr : stdout;
	out.totals = true;
	out.no_findings = env.quiet;
	if (xsw_cli_setup(&cli, env.cpu_model, env.strict, env.pid, &out)) {
		xsw_event_reader_close(r);
		xsw_cli_finish(&cli, true);
		return XSW_EXIT_ERROR;
	}
	while ((ret = xsw_event_reader_next(r, &ev, &err)) > 0)
		xsw_engine_feed(cli.eng, &ev);
	xsw_event_reader_close(r);
	if (ret < 0) {
		xsw_cli_finish(&cli, true);
		fprintf(stderr, "xstate-watch: replay: %s\n", err.msg);
		return XSW_EXIT_ERROR;
	}
	code = xsw_cli_finish(&cli, false);
	return code;
}
