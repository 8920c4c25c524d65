// SPDX-License-Identifier: GPL-2.0
/*
 * `xstate-watch` (live): every KVM process on the host, a table of vCPUs
 * refreshed on an interval (like kvm_stat or top), or a JSON-lines stream;
 * the totals on SIGINT/SIGTERM or after --count refreshes.
 */
#include <argp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "sinks/sinks.h"

const char *argp_program_version = "xstate-watch 0.1";

static const char live_doc[] =
"Trace how the kernel sizes x86 guest FPU state, and check it.\n"
"\n"
"USAGE: xstate-watch [OPTION...]                      live\n"
"       xstate-watch run [OPTION...] -- CMD [ARG...]  CI: trace CMD\n"
"       xstate-watch replay [OPTION...] FILE          a JSON-lines trace\n"
"       xstate-watch model ...                        the pKVM model\n"
"Each mode has its own --help (xstate-watch run --help).\n"
"\n"
"Live mode shows one row per vCPU of every KVM process (or of -p PID):\n"
"guest permission, CPUID xcr0, fpstate size, the size the guest needs,\n"
"the headroom between them and the status; findings (invariant violations,\n"
"lints) are listed as they happen. Ctrl-C prints the totals.\n"
"\n"
"EXAMPLES:\n"
"    xstate-watch                      # every vCPU, refreshed each second\n"
"    xstate-watch -p 1234 -i 5         # one VMM, every 5 seconds\n"
"    xstate-watch --json               # JSON-lines event stream on stdout\n"
"    xstate-watch --json trace.jsonl -c 10   # table, and the events to a file\n"
"    xstate-watch --listen :9464       # also serve Prometheus /metrics\n"
"    xstate-watch --probes=syscall     # force a probe tier\n"
"    xstate-watch --cpu-model spr.cpu  # size with another CPU's leaf 0xD\n"
"    xstate-watch --dump-cpu > my.cpu  # record this CPU as a model file\n"
"\n"
"Exit status: 0, 3 when an invariant failed (or a lint with --strict),\n"
"1 tool error (no BPF, no privileges, no KVM), 2 usage.";

static const struct argp_option live_opts[] = {
	{ "pid", 'p', "PID", 0, "Only this process", 0 },
	{ "interval", 'i', "SECONDS", 0, "Refresh interval (default 1)", 0 },
	{ "count", 'c', "N", 0, "Stop after N refreshes", 0 },
	{ "json", 'j', "FILE", OPTION_ARG_OPTIONAL,
	  "JSON-lines event stream to stdout (no table), or to FILE (with the table); "
	  "--json FILE and --json=FILE both work", 0 },
	{ "strict", 's', NULL, 0, "Lints are failures too", 0 },
	{ "probes", 'P', "TIER", 0, "auto (default), tracepoint, fentry or syscall", 0 },
	{ "listen", 'l', "ADDR:PORT", 0, "Serve Prometheus /metrics (\":9464\" = loopback)", 0 },
	{ "cpu-model", 'm', "FILE", 0, "Size with this CPU model file instead of this CPU", 0 },
	{ "no-kvm-entry-guard", 'G', NULL, 0, "Emit every kvm_entry (benchmarks of the guard)", 0 },
	{ "ringbuf-kib", 'R', "KIB", 0, "BPF ring buffer size (default 1024; rounded up to pages, a power of 2)", 0 },
	{ "reads", 'D', "HOW", 0, "How BPF reads kernel structs: auto (default), direct (v6.2+) or probe", 0 },
	{ "syscall-hooks", 'H', "HOOKS", 0, "Syscall tier: events (syscalls:sys_*_ioctl..., default) or raw "
	  "(tp_btf raw_syscalls: cheaper per KVM ioctl, dearer for every other syscall)", 0 },
	{ "no-clear", 'n', NULL, 0, "Do not clear the screen between refreshes", 0 },
	{ "dump-cpu", 'd', NULL, 0, "Write this CPU as a model file to stdout and exit", 0 },
	{},
};

struct live_env {
	uint32_t pid;
	double interval;
	long count;
	bool json, strict, no_guard, no_clear, dump;
	bool json_pending;	/* the last option was --json without =FILE */
	const char *json_file, *listen, *cpu_model;
	enum xsw_tier tier;
	unsigned int ringbuf_kib;
	enum xsw_reads reads;
	enum xsw_syscall_hooks hooks;
};

static error_t live_parse(int key, char *arg, struct argp_state *state)
{
	struct live_env *env = state->input;
	bool json_pending = env->json_pending;
	char *end;

	/* Parsed in order: "--json FILE" is --json followed by its file. */
	env->json_pending = false;
	switch (key) {
	case 'p':
		env->pid = strtoul(arg, &end, 10);
		if (*end || !env->pid)
			argp_error(state, "--pid: '%s' is not a process id", arg);
		break;
	case 'i':
		env->interval = strtod(arg, &end);
		if (*end || !(env->interval > 0) || env->interval > 86400)
			argp_error(state, "--interval: '%s' is not a number of seconds", arg);
		break;
	case 'c':
		env->count = strtol(arg, &end, 10);
		if (*end || env->count <= 0)
			argp_error(state, "--count: '%s' is not a positive number", arg);
		break;
	case 'j':
		env->json = true;
		env->json_file = arg;
		env->json_pending = !arg;
		break;
	case 's': env->strict = true; break;
	case 'l': env->listen = arg; break;
	case 'm': env->cpu_model = arg; break;
	case 'G': env->no_guard = true; break;
	case 'R': xsw_cli_parse_ringbuf_kib(state, arg, &env->ringbuf_kib); break;
	case 'D': xsw_cli_parse_reads(state, arg, &env->reads); break;
	case 'H': xsw_cli_parse_hooks(state, arg, &env->hooks); break;
	case 'n': env->no_clear = true; break;
	case 'd': env->dump = true; break;
	case 'P': xsw_cli_parse_tier(state, arg, &env->tier); break;
	case ARGP_KEY_ARG:
		if (json_pending) {
			env->json_file = arg;
			break;
		}
		argp_error(state, "unexpected argument '%s' (modes: run, replay, model)", arg);
		break;
	case ARGP_KEY_END:
	case ARGP_KEY_SUCCESS:
	case ARGP_KEY_INIT:
	case ARGP_KEY_FINI:
		env->json_pending = json_pending;
		return ARGP_ERR_UNKNOWN;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static int dump_cpu(void)
{
	struct xsw_cpu_model m;

	if (xsw_cli_load_cpu(NULL, &m))
		return XSW_EXIT_ERROR;
	if (xsw_cpu_model_write(&m, stdout) || fflush(stdout)) {
		perror("xstate-watch: --dump-cpu");
		return XSW_EXIT_ERROR;
	}
	return XSW_EXIT_OK;
}

int xsw_live_main(int argc, char **argv)
{
	static const struct argp argp = { live_opts, live_parse, NULL, live_doc, 0, 0, 0 };
	struct live_env env = { .interval = 1.0, .tier = XSW_TIER_AUTO };
	struct xsw_cli_outputs out = { 0 };
	struct xsw_probe_opts po = { 0 };
	struct xsw_table *table = NULL;
	struct xsw_cli_probe cp;
	struct xsw_sink sink;
	struct xsw_cli cli;
	uint64_t next, interval_ns;
	long refreshes = 0;
	char header[160];

	argp_err_exit_status = XSW_EXIT_USAGE;
	if (argp_parse(&argp, argc, argv, ARGP_IN_ORDER, NULL, &env))
		return XSW_EXIT_USAGE;
	if (env.json_file && !strcmp(env.json_file, "-"))
		env.json_file = NULL;	/* --json - is the stdout stream */
	if (env.dump)
		return dump_cpu();

	/* --json alone: the stream owns stdout, the report goes to stderr. */
	out.json_path = env.json ? (env.json_file ?: "-") : NULL;
	out.listen = env.listen;
	out.tier = "live";
	out.totals = true;
	out.report = env.json && !env.json_file ? stderr : stdout;
	/* The table lists findings itself; the report prints only the totals. */
	out.no_findings = !(env.json && !env.json_file);
	if (xsw_cli_setup(&cli, env.cpu_model, env.strict, env.pid, &out)) {
		xsw_cli_finish(&cli, true);
		return XSW_EXIT_ERROR;
	}
	if (!(env.json && !env.json_file)) {
		table = xsw_table_sink_new(stdout, !env.no_clear && isatty(STDOUT_FILENO), &sink);
		if (!table || xsw_engine_add_sink(cli.eng, &sink)) {
			fprintf(stderr, "xstate-watch: out of memory\n");
			xsw_cli_finish(&cli, true);
			return XSW_EXIT_ERROR;
		}
	}

	po.pid_filter = env.pid;
	po.kvm_entry_guard = !env.no_guard;
	po.ringbuf_kib = env.ringbuf_kib;
	po.reads = env.reads;
	po.hooks = env.hooks;
	xsw_cli_catch_signals();
	if (xsw_cli_probe_start(&cp, env.tier, &po, cli.eng)) {
		xsw_cli_finish(&cli, true);
		return XSW_EXIT_ERROR;
	}
	xsw_cli_set_tier(&cli, cp.ops->name);
	snprintf(header, sizeof(header), "xstate-watch (%s tier)%s%s   every %gs   Ctrl-C: summary",
		 cp.ops ? cp.ops->name : "?", env.pid ? "   pid " : "",
		 env.pid ? "filter" : "", env.interval);

	interval_ns = (uint64_t)(env.interval * 1e9);
	next = xsw_cli_now_ns() + interval_ns;
	while (!xsw_cli_stop) {
		uint64_t now = xsw_cli_now_ns();
		int wait_ms = now >= next ? 0 : (int)((next - now) / 1000000) + 1;

		if (wait_ms > 200)
			wait_ms = 200;
		xsw_cli_probe_poll(&cp, wait_ms);
		if (xsw_cli_now_ns() < next)
			continue;
		next += interval_ns;
		if (table)
			xsw_table_render(table, cli.eng, header);
		if (env.count && ++refreshes >= env.count)
			break;
	}
	xsw_cli_probe_stop(&cp);
	if (table && xsw_cli_stop)
		xsw_table_render(table, cli.eng, header);
	if (cli.report == stdout)
		fputc('\n', stdout);
	return xsw_cli_finish(&cli, false);
}
