// SPDX-License-Identifier: GPL-2.0
/*
 * `xstate-watch run [--ktap FILE] [--json FILE] -- CMD ARGS`: trace CMD and
 * its children, check every vCPU lifecycle they drive, exit with CMD's
 * status when no invariant failed and with XSW_EXIT_VIOLATION when one did.
 *
 * No event may be missed before the probes attach, so CMD is forked first
 * and held on a pipe: the probes open with the child's pid as the filter
 * (following its children), and only then does the child exec CMD.
 */
#include <argp.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

static const char run_doc[] =
"Run CMD under the collector and check every vCPU lifecycle it drives.\n"
"\n"
"USAGE: xstate-watch run [OPTION...] -- CMD [ARG...]\n"
"\n"
"Only CMD and its descendants are traced. Findings are printed to stderr as\n"
"they happen, the totals when CMD has exited and the last events are in.\n"
"\n"
"EXAMPLES:\n"
"    xstate-watch run -- vcpu-lifecycle basic\n"
"    xstate-watch run --ktap results.ktap --json trace.jsonl -- qemu-system-x86_64 ...\n"
"    xstate-watch run --strict --probes=syscall -- ./my-vmm\n"
"\n"
"Exit status: CMD's status when no invariant failed; 3 when one did (or a\n"
"lint with --strict); 1 tool error (no BPF, no privileges, CMD not found\n"
"is 127 as in the shell); 2 usage.";

static const struct argp_option run_opts[] = {
	{ "ktap", 'k', "FILE", 0, "Write a KTAP report to FILE (- = stdout)", 0 },
	{ "json", 'j', "FILE", 0, "Write every event and finding as JSON lines to FILE (- = stdout)", 0 },
	{ "strict", 's', NULL, 0, "Lints are failures too", 0 },
	{ "probes", 'P', "TIER", 0, "auto (default), tracepoint, fentry or syscall", 0 },
	{ "cpu-model", 'm', "FILE", 0, "Size with this CPU model file instead of this CPU", 0 },
	{ "listen", 'l', "ADDR:PORT", 0, "Serve Prometheus /metrics while CMD runs", 0 },
	{ "no-kvm-entry-guard", 'G', NULL, 0, "Emit every kvm_entry (benchmarks of the guard)", 0 },
	{ "ringbuf-kib", 'R', "KIB", 0, "BPF ring buffer size (default 1024; rounded up to pages, a power of 2)", 0 },
	{ "reads", 'D', "HOW", 0, "How BPF reads kernel structs: auto (default), direct (v6.2+) or probe", 0 },
	{ "syscall-hooks", 'H', "HOOKS", 0, "Syscall tier: events (syscalls:sys_*_ioctl..., default) or raw "
	  "(tp_btf raw_syscalls: cheaper per KVM ioctl, dearer for every other syscall)", 0 },
	{ "quiet", 'q', NULL, 0, "No totals on stderr (findings still are)", 0 },
	{},
};

struct run_env {
	const char *ktap, *json, *cpu_model, *listen;
	enum xsw_tier tier;
	bool strict, no_guard, quiet;
	unsigned int ringbuf_kib;
	enum xsw_reads reads;
	enum xsw_syscall_hooks hooks;
	char **cmd;
};

static error_t run_parse(int key, char *arg, struct argp_state *state)
{
	struct run_env *env = state->input;

	switch (key) {
	case 'k': env->ktap = arg; break;
	case 'j': env->json = arg; break;
	case 's': env->strict = true; break;
	case 'm': env->cpu_model = arg; break;
	case 'l': env->listen = arg; break;
	case 'G': env->no_guard = true; break;
	case 'R': xsw_cli_parse_ringbuf_kib(state, arg, &env->ringbuf_kib); break;
	case 'D': xsw_cli_parse_reads(state, arg, &env->reads); break;
	case 'H': xsw_cli_parse_hooks(state, arg, &env->hooks); break;
	case 'q': env->quiet = true; break;
	case 'P': xsw_cli_parse_tier(state, arg, &env->tier); break;
	case ARGP_KEY_ARGS:
		env->cmd = state->argv + state->next;
		state->next = state->argc;
		break;
	case ARGP_KEY_NO_ARGS:
		argp_error(state, "missing CMD (xstate-watch run [OPTION...] -- CMD [ARG...])");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static pid_t child_pid;

/* Held on @gate until the probes are attached; then exec CMD. */
static void child_exec(int gate, char **cmd)
{
	char go;

	if (read(gate, &go, 1) != 1)
		_exit(127);	/* the collector failed: never run CMD untraced */
	close(gate);
	execvp(cmd[0], cmd);
	fprintf(stderr, "xstate-watch: run: cannot execute %s: %s\n", cmd[0], strerror(errno));
	_exit(errno == ENOENT ? 127 : 126);
}

int xsw_run_main(int argc, char **argv)
{
	static const struct argp argp = { run_opts, run_parse, "-- CMD [ARG...]", run_doc,
					  0, 0, 0 };
	struct run_env env = { .tier = XSW_TIER_AUTO };
	struct xsw_cli_outputs out = { 0 };
	struct xsw_probe_opts po = { 0 };
	struct xsw_cli_probe cp;
	struct xsw_cli cli;
	int gate[2], status = 0, code;
	bool exited = false;
	pid_t w;

	argp_err_exit_status = XSW_EXIT_USAGE;
	if (argp_parse(&argp, argc, argv, ARGP_IN_ORDER, NULL, &env))
		return XSW_EXIT_USAGE;

	out.json_path = env.json;
	out.ktap_path = env.ktap;
	out.listen = env.listen;
	out.report = stderr;
	out.totals = !env.quiet;
	out.tier = "run";
	if (xsw_cli_setup(&cli, env.cpu_model, env.strict, 0, &out)) {
		xsw_cli_finish(&cli, true);
		return XSW_EXIT_ERROR;
	}

	if (pipe2(gate, O_CLOEXEC)) {
		perror("xstate-watch: run: pipe");
		xsw_cli_finish(&cli, true);
		return XSW_EXIT_ERROR;
	}
	fflush(NULL);
	child_pid = fork();
	if (child_pid < 0) {
		perror("xstate-watch: run: fork");
		xsw_cli_finish(&cli, true);
		return XSW_EXIT_ERROR;
	}
	if (child_pid == 0) {
		close(gate[1]);
		child_exec(gate[0], env.cmd);
	}
	close(gate[0]);

	po.pid_filter = child_pid;
	po.follow_children = true;
	po.kvm_entry_guard = !env.no_guard;
	po.ringbuf_kib = env.ringbuf_kib;
	po.reads = env.reads;
	po.hooks = env.hooks;
	if (xsw_cli_probe_start(&cp, env.tier, &po, cli.eng)) {
		close(gate[1]);	/* the child exits 127 without running CMD */
		waitpid(child_pid, NULL, 0);
		xsw_cli_finish(&cli, true);
		return XSW_EXIT_ERROR;
	}
	xsw_cli_set_tier(&cli, cp.ops->name);
	xsw_cli_catch_signals();
	if (write(gate[1], "g", 1) != 1) {
		perror("xstate-watch: run: releasing CMD");
		kill(child_pid, SIGKILL);
	}
	close(gate[1]);

	while (!exited) {
		xsw_cli_probe_poll(&cp, 100);
		if (xsw_cli_stop) {
			/* Pass SIGINT/SIGTERM on; CMD decides how to end. */
			kill(child_pid, xsw_cli_stop);
			xsw_cli_stop = 0;
		}
		w = waitpid(child_pid, &status, WNOHANG);
		if (w == child_pid)
			exited = true;
		else if (w < 0 && errno != EINTR) {
			perror("xstate-watch: run: waitpid");
			break;
		}
	}
	xsw_cli_probe_stop(&cp);
	code = xsw_cli_finish(&cli, false);
	if (code == XSW_EXIT_VIOLATION)
		return code;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return XSW_EXIT_ERROR;
}
