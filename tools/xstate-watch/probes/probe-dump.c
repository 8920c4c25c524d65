// SPDX-License-Identifier: GPL-2.0
/*
 * xsw-probe-dump: open a probe tier and print every event it delivers as a
 * JSON line (the collector's event schema), nothing else. A debugging aid
 * for the BPF side and the integration tests' window onto it.
 *
 *   xsw-probe-dump [options]                 trace every process until SIGINT
 *   xsw-probe-dump [options] -- CMD ARGS...  trace CMD and its children; exit
 *                                            with CMD's status
 *
 * Status lines (tier chosen, attach time, lost events, size checks) go to
 * stderr, prefixed with "# ".
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "probe.h"
#include "xstate.h"
#include "xsw_event_json.h"

#define EXIT_SIZE_MISMATCH 3

static volatile sig_atomic_t stop;

struct dump {
	bool check_sizes;
	struct xsw_cpu_model cpu;
	bool compacted;
	unsigned long size_checks, size_mismatches;
	FILE *out;
	pid_t child;
	bool child_exit_seen;
	unsigned long events;
};

static void on_signal(int sig)
{
	stop = 1;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/*
 * I1 against the live kernel: the fpstate size the kernel allocated must be
 * what the size model computes for the fpstate's own xfeatures.
 */
static void check_sizes(struct dump *d, const struct xsw_event *ev, const struct xsw_fpstate *fps)
{
	uint32_t want, want_user;
	bool ok;

	if (!fps->valid)
		return;
	want = xsw_xstate_size(&d->cpu, fps->xfeatures, d->compacted);
	want_user = xsw_xstate_size(&d->cpu, fps->user_xfeatures, false);
	ok = fps->size == want && fps->user_size == want_user;
	d->size_checks++;
	if (!ok)
		d->size_mismatches++;
	fprintf(stderr,
		"# size-check %s pid=%u vcpu=%d fpstate.size=%u model=%u (xfeatures 0x%llx, %s) "
		"user_size=%u model=%u (user_xfeatures 0x%llx, standard): %s\n",
		xsw_event_type_name(ev->type), ev->pid, ev->vcpu_id, fps->size, want,
		(unsigned long long)fps->xfeatures, d->compacted ? "compacted" : "standard",
		fps->user_size, want_user, (unsigned long long)fps->user_xfeatures,
		ok ? "ok" : "MISMATCH");
}

static void on_event(const struct xsw_event *ev, void *arg)
{
	struct dump *d = arg;

	d->events++;
	if (xsw_event_write_json(d->out, ev))
		fprintf(stderr, "# cannot encode event type %u\n", ev->type);
	fflush(d->out);
	if (d->child && ev->type == XSW_EV_PROCESS_EXIT && ev->pid == (uint32_t)d->child)
		d->child_exit_seen = true;
	if (!d->check_sizes)
		return;
	switch (ev->type) {
	case XSW_EV_VCPU_CREATE:
	case XSW_EV_PERM_SYNC:
	case XSW_EV_VCPU_DESTROY:
		check_sizes(d, ev, &ev->vcpu.fps);
		break;
	case XSW_EV_SET_CPUID:
		check_sizes(d, ev, &ev->set_cpuid.fps);
		break;
	case XSW_EV_FIRST_RUN:
	case XSW_EV_XCR0_CHANGE:
		check_sizes(d, ev, &ev->run.fps);
		break;
	}
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: xsw-probe-dump [options] [-- CMD ARGS...]\n"
		"Print every event of a probe tier as a JSON line.\n"
		"  --probes=TIER      auto (default), tracepoint, fentry, syscall\n"
		"  -p, --pid=PID      only this process (and its children with --follow)\n"
		"  --follow           with -p: its descendants too (always on with CMD)\n"
		"  --no-guard         an event on every VM entry (KVM_RUN), not only on change\n"
		"  --ringbuf-kib=N    ring buffer size in KiB (power of two, default 1024)\n"
		"  --syscall-hooks=H  syscall tier: events (default) or raw (tp_btf raw_syscalls)\n"
		"  -o, --output=FILE  write the JSON lines to FILE (default stdout)\n"
		"  --duration=SEC     stop after SEC seconds (default: SIGINT, or CMD's exit)\n"
		"  --lag-ms=MS        sleep MS between polls: a consumer that falls behind,\n"
		"                     so tests can overflow a small ring buffer on purpose\n"
		"  --check-sizes      compare every fpstate size with the size model (exit %d on mismatch)\n"
		"  -v, --verbose      libbpf's log on stderr\n"
		"  -h, --help\n", EXIT_SIZE_MISMATCH);
}

static int parse_uint(const char *opt, const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 0);
	if (errno || end == s || *end || *s == '-' || *out > max) {
		fprintf(stderr, "xsw-probe-dump: %s: '%s' is not a number in 0..%lu\n", opt, s,
			max);
		return -1;
	}
	return 0;
}

/* Fork CMD held at a pipe until the probes are attached. */
static pid_t spawn_held(char **argv, int *release_fd)
{
	int fds[2];
	pid_t pid;
	char c;

	if (pipe(fds))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		close(fds[1]);
		if (read(fds[0], &c, 1) != 1)
			_exit(127);	/* the tracer gave up */
		close(fds[0]);
		execvp(argv[0], argv);
		fprintf(stderr, "xsw-probe-dump: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(fds[0]);
	*release_fd = fds[1];
	return pid;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "probes", required_argument, NULL, 'P' },
		{ "pid", required_argument, NULL, 'p' },
		{ "follow", no_argument, NULL, 'f' },
		{ "no-guard", no_argument, NULL, 'G' },
		{ "ringbuf-kib", required_argument, NULL, 'r' },
		{ "syscall-hooks", required_argument, NULL, 'H' },
		{ "duration", required_argument, NULL, 'd' },
		{ "lag-ms", required_argument, NULL, 'L' },
		{ "output", required_argument, NULL, 'o' },
		{ "check-sizes", no_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	double t0 = now_ms(), t_attached, deadline = 0;
	struct xsw_probe_opts opts = { .kvm_entry_guard = true };
	enum xsw_tier want = XSW_TIER_AUTO;
	const struct xsw_probe_tier_ops *ops;
	struct dump d = { 0 };
	struct xsw_probe *probe;
	struct xsw_err err;
	char why[1024];
	int opt, release_fd = -1, status = 0, ret;
	unsigned long v, lag_ms = 0;

	while ((opt = getopt_long(argc, argv, "+p:o:vh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'P':
			if (xsw_tier_from_name(optarg, &want)) {
				fprintf(stderr, "xsw-probe-dump: --probes: unknown tier '%s' "
					"(auto, tracepoint, fentry, syscall)\n", optarg);
				return 2;
			}
			break;
		case 'p':
			if (parse_uint("--pid", optarg, 0x7fffffff, &v) || !v) {
				if (!v)
					fprintf(stderr, "xsw-probe-dump: --pid: 0 is not a process\n");
				return 2;
			}
			opts.pid_filter = v;
			break;
		case 'f':
			opts.follow_children = true;
			break;
		case 'G':
			opts.kvm_entry_guard = false;
			break;
		case 'r':
			if (parse_uint("--ringbuf-kib", optarg, 1u << 20, &v) || !v) {
				if (!v)
					fprintf(stderr, "xsw-probe-dump: --ringbuf-kib: must be > 0\n");
				return 2;
			}
			opts.ringbuf_kib = v;
			break;
		case 'H':
			if (!strcmp(optarg, "events")) {
				opts.hooks = XSW_HOOKS_EVENTS;
			} else if (!strcmp(optarg, "raw")) {
				opts.hooks = XSW_HOOKS_RAW;
			} else {
				fprintf(stderr, "xsw-probe-dump: --syscall-hooks: unknown hooks '%s' "
					"(events, raw)\n", optarg);
				return 2;
			}
			break;
		case 'L':
			if (parse_uint("--lag-ms", optarg, 10000, &v))
				return 2;
			lag_ms = v;
			break;
		case 'd':
			if (parse_uint("--duration", optarg, 86400, &v))
				return 2;
			deadline = t0 + v * 1e3;
			break;
		case 'o':
			d.out = fopen(optarg, "w");
			if (!d.out) {
				fprintf(stderr, "xsw-probe-dump: --output: cannot write %s: %s\n",
					optarg, strerror(errno));
				return 2;
			}
			break;
		case 'c':
			d.check_sizes = true;
			break;
		case 'v':
			opts.verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!d.out)
		d.out = stdout;
	if (optind < argc && opts.pid_filter) {
		fprintf(stderr, "xsw-probe-dump: -p and a command exclude each other\n");
		return 2;
	}
	if (d.check_sizes) {
		if (xsw_cpu_model_from_host(&d.cpu, &err)) {
			fprintf(stderr, "xsw-probe-dump: %s\n", err.msg);
			return 1;
		}
		d.compacted = xsw_kernel_uses_compacted(&d.cpu);
	}

	if (xsw_probe_check_env(&err)) {
		fprintf(stderr, "xsw-probe-dump: %s\n", err.msg);
		return 1;
	}
	if (err.msg[0])
		fprintf(stderr, "# %s\n", err.msg);
	ops = xsw_tier_choose(want, why, sizeof(why), &err);
	if (!ops) {
		fprintf(stderr, "xsw-probe-dump: %s\n", err.msg);
		return 1;
	}
	fprintf(stderr, "# tier: %s%s%s%s\n", ops->name, why[0] ? " (passed over: " : "", why,
		why[0] ? ")" : "");

	if (optind < argc) {
		d.child = spawn_held(argv + optind, &release_fd);
		if (d.child < 0) {
			fprintf(stderr, "xsw-probe-dump: cannot start %s: %s\n", argv[optind],
				strerror(errno));
			return 1;
		}
		opts.pid_filter = d.child;
		opts.follow_children = true;
	}

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	ret = ops->open(&probe, &opts, on_event, &d, &err);
	if (ret) {
		fprintf(stderr, "xsw-probe-dump: %s\n", err.msg);
		if (d.child) {
			close(release_fd);	/* the child exits 127 without running CMD */
			waitpid(d.child, NULL, 0);
		}
		return 1;
	}
	t_attached = now_ms();
	fprintf(stderr, "# attached in %.1f ms (program start to probes attached)\n",
		t_attached - t0);
	if (d.child) {
		if (write(release_fd, "g", 1) != 1)
			fprintf(stderr, "xsw-probe-dump: cannot release the command: %s\n",
				strerror(errno));
		close(release_fd);
	}

	while (!stop) {
		if (lag_ms)
			usleep(lag_ms * 1000);
		ret = ops->poll(probe, 100);
		if (ret < 0) {
			fprintf(stderr, "xsw-probe-dump: polling the probes: %s\n", strerror(-ret));
			break;
		}
		if (deadline && now_ms() >= deadline)
			break;
		if (d.child && waitpid(d.child, &status, WNOHANG) == d.child) {
			/* Drain what the exit produced (its process_exit, if traced). */
			double until = now_ms() + 1000;

			while (!d.child_exit_seen && now_ms() < until)
				ops->poll(probe, 50);
			ops->poll(probe, 0);
			d.child = 0;
			break;
		}
	}
	ops->poll(probe, 0);
	fprintf(stderr, "# events: %lu, lost: %llu, skipped runs: %llu\n", d.events,
		(unsigned long long)ops->lost(probe),
		(unsigned long long)(ops->skipped ? ops->skipped(probe) : 0));
	ops->close(probe);
	if (d.out != stdout)
		fclose(d.out);
	if (d.child) {	/* interrupted: leave the command running, untraced */
		fprintf(stderr, "# command pid %d still running\n", (int)d.child);
		return 1;
	}
	if (d.check_sizes) {
		fprintf(stderr, "# size checks: %lu, mismatches: %lu\n", d.size_checks,
			d.size_mismatches);
		if (d.size_mismatches)
			return EXIT_SIZE_MISMATCH;
	}
	if (optind < argc) {
		if (WIFEXITED(status))
			return WEXITSTATUS(status);
		return 128 + WTERMSIG(status);
	}
	return 0;
}
