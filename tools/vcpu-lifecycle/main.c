// SPDX-License-Identifier: GPL-2.0
/*
 * vcpu-lifecycle: a small VMM that drives real VM lifecycles through the
 * KVM ioctls, one named scenario per run, and benchmarks them.
 */
#include <argp.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "kvm.h"
#include "vcpu_lifecycle.h"
#include "xsw_err.h"

const char *argp_program_version = "vcpu-lifecycle 0.1";
const char *argp_program_bug_address = "https://github.com/xstate-watch/xstate-watch/issues";

static const char doc_head[] =
	"Drive real VM lifecycles through KVM ioctls on /dev/kvm.\n";

static const char doc_tail[] =
	"\n"
	"Exit status: 0 every expectation held, 1 one failed (the FAIL line names it)\n"
	"or KVM could not be used, 2 usage error or bad input file, 77 the host lacks\n"
	"what the scenario needs (SKIP line says what).\n"
	"\n"
	"EXAMPLES:\n"
	"    vcpu-lifecycle basic                  # one VM, one vCPU, run to HLT\n"
	"    vcpu-lifecycle multi --vms 2 --vcpus 4\n"
	"    vcpu-lifecycle cpuid-shrink --xfeatures x87,sse\n"
	"    vcpu-lifecycle cpuid-model tests/fixtures/cpu/zen4-genoa-epyc9124.cpu\n"
	"    vcpu-lifecycle exit-loop --exits 100000\n"
	"    vcpu-lifecycle bench --vms 2 --vcpus 2 --iterations 50 --json\n"
	"    vcpu-lifecycle bench --scenario exit-loop --exits 10000 --iterations 5\n"
	"    vcpu-lifecycle --kvm-dev /tmp/nokvm basic   # the missing-device error";

enum {
	OPT_KVM_DEV = 'd',
	OPT_VMS = 'n',
	OPT_VCPUS = 'c',
	OPT_ITERATIONS = 'i',
	OPT_EXITS = 'e',
	OPT_JSON = 'j',
	OPT_XFEATURES = 'x',
	OPT_SCENARIO = 's',
	OPT_CHECK_LEAKS = 'L',
};

static const struct argp_option options[] = {
	{ "kvm-dev", OPT_KVM_DEV, "PATH", 0, "KVM device (default /dev/kvm)", 0 },
	{ "vms", OPT_VMS, "N", 0, "VMs (multi, bench; default 2 for multi, 1 for bench)", 0 },
	{ "vcpus", OPT_VCPUS, "M", 0, "vCPUs per VM (multi, bench; default 2 for multi, 1 for bench)", 0 },
	{ "iterations", OPT_ITERATIONS, "K", 0, "bench iterations (default 100; 10 for exit-loop)", 0 },
	{ "exits", OPT_EXITS, "K", 0, "PIO exits per run of the exit-loop guest (default 1000)", 0 },
	{ "json", OPT_JSON, NULL, 0, "bench: stdout is one JSON object, log lines go to stderr", 0 },
	{ "xfeatures", OPT_XFEATURES, "MASK", 0,
	  "cpuid-shrink, xsetbv: xfeatures to keep/enable (0x3, x87|sse, ...)", 0 },
	{ "scenario", OPT_SCENARIO, "NAME", 0, "bench: lifecycle (default) or exit-loop", 0 },
	{ "check-leaks", OPT_CHECK_LEAKS, NULL, 0,
	  "fail unless the fds and threads open at exit are those open at start", 0 },
	{ 0 },
};

struct args {
	struct vl_opts opts;
	const char *scenario;
	bool vms_set, vcpus_set, iterations_set;
};

/* A count from the command line: decimal, 1..@max; errors name the option. */
static int parse_count(const char *opt, const char *arg, unsigned long max,
		       unsigned int *out, struct argp_state *state)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || arg[0] == '-')
		argp_error(state, "--%s %s: not a number", opt, arg);
	else if (v == 0)
		argp_error(state, "--%s %s: must be at least 1", opt, arg);
	else if (v > max)
		argp_error(state, "--%s %s: more than %lu", opt, arg, max);
	*out = (unsigned int)v;
	return 0;
}

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct args *a = state->input;

	switch (key) {
	case OPT_KVM_DEV:
		a->opts.kvm_dev = arg;
		break;
	case OPT_VMS:
		a->vms_set = true;
		return parse_count("vms", arg, 4096, &a->opts.vms, state);
	case OPT_VCPUS:
		/* The real ceiling is KVM_CAP_MAX_VCPUS, checked once KVM is open. */
		a->vcpus_set = true;
		return parse_count("vcpus", arg, 1u << 20, &a->opts.vcpus, state);
	case OPT_ITERATIONS:
		a->iterations_set = true;
		return parse_count("iterations", arg, 1000000, &a->opts.iterations, state);
	case OPT_EXITS:
		return parse_count("exits", arg, 1000000000, &a->opts.exits, state);
	case OPT_JSON:
		a->opts.json = true;
		break;
	case OPT_XFEATURES:
		a->opts.xfeatures = arg;
		break;
	case OPT_SCENARIO:
		a->opts.bench_scenario = arg;
		break;
	case OPT_CHECK_LEAKS:
		a->opts.check_leaks = true;
		break;
	case ARGP_KEY_ARG:
		if (state->arg_num == 0) {
			a->scenario = arg;
		} else if (state->arg_num == 1 && !strcmp(a->scenario, "cpuid-model")) {
			a->opts.model_path = arg;
		} else {
			argp_error(state, "unexpected argument '%s'", arg);
		}
		break;
	case ARGP_KEY_END:
		if (!a->scenario)
			argp_error(state, "no scenario given (see --help for the list)");
		if (strcmp(a->scenario, "bench") && !vl_scenario_find(a->scenario))
			argp_error(state, "unknown scenario '%s' (see --help for the list)",
				   a->scenario);
		/* Scenarios only log text; an ignored --json would feed that to jq. */
		if (a->opts.json && strcmp(a->scenario, "bench"))
			argp_error(state, "--json: only bench prints JSON");
		if (!strcmp(a->scenario, "cpuid-model") && !a->opts.model_path)
			argp_error(state, "cpuid-model needs a CPU model FILE "
				   "(e.g. tests/fixtures/cpu/host.cpu)");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

/* --help: the scenario list goes between the usage line and the options. */
static char *help_filter(int key, const char *text, void *input)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	if (key == ARGP_KEY_HELP_PRE_DOC) {
		f = open_memstream(&buf, &len);
		if (!f)
			return (char *)text;
		fputs(doc_head, f);
		fputs("\nSCENARIOS:\n", f);
		for (const struct vl_scenario *s = vl_scenarios; s->name; s++) {
			char name[48];

			snprintf(name, sizeof(name), "%s%s%s", s->name, *s->args ? " " : "", s->args);
			fprintf(f, "    %-18s %s\n", name, s->summary);
		}
		fprintf(f, "    %-18s %s\n", "bench", "time each lifecycle ioctl (p50/p90/p99/max)");
		fputs("\nbench times KVM_CREATE_VM, KVM_CREATE_VCPU, KVM_SET_CPUID2, the first\n"
		      "KVM_RUN and destroy (--vms, --vcpus, --iterations, --json); with\n"
		      "--scenario exit-loop it times KVM_RUN round trips (--exits).\n", f);
		fclose(f);
		return buf;
	}
	if (key == ARGP_KEY_HELP_POST_DOC)
		return strdup(doc_tail);
	return (char *)text;
}

static const struct argp argp = {
	.options = options,
	.parser = parse_opt,
	.args_doc = "SCENARIO [FILE]\nbench [--vms N] [--vcpus M] [--iterations K] [--json]",
	.doc = "\v",
	.help_filter = help_filter,
};

/* Entries of a /proc/self directory, '.' and '..' excluded. */
static int count_dir(const char *path)
{
	struct dirent *d;
	DIR *dir = opendir(path);
	int n = 0;

	if (!dir)
		return -1;
	while ((d = readdir(dir)))
		if (d->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

static int open_kvm(struct vl_ctx *ctx)
{
	const char *dev = ctx->opts->kvm_dev;
	int ret;

	ctx->kvm_fd = kvm_open_dev(dev);
	if (ctx->kvm_fd < 0) {
		fprintf(stderr, "vcpu-lifecycle: cannot open KVM device %s: %s (%s)%s\n", dev,
			xsw_errno_name(ctx->kvm_fd), strerror(-ctx->kvm_fd),
			ctx->kvm_fd == -EACCES || ctx->kvm_fd == -EPERM ?
			"; run as root or as a member of the device's group" :
			ctx->kvm_fd == -ENOENT ? "; is KVM enabled (kvm_intel/kvm_amd)?" : "");
		return -1;
	}
	ret = ioctl(ctx->kvm_fd, KVM_GET_API_VERSION, 0);
	if (ret != KVM_API_VERSION) {
		fprintf(stderr, "vcpu-lifecycle: %s is not a KVM device: KVM_GET_API_VERSION -> %s\n",
			dev, ret < 0 ? xsw_errno_name(errno) : "an unknown version");
		return -1;
	}
	ret = kvm_get_vcpu_mmap_size(ctx->kvm_fd);
	if (ret <= 0)
		return -1;
	ctx->run_size = ret;
	ret = KVM_CHECK_EXTENSION_NAMED(ctx->kvm_fd, KVM_CAP_MAX_VCPUS);
	ctx->max_vcpus = ret > 0 ? (unsigned int)ret : 1;
	ret = KVM_CHECK_EXTENSION_NAMED(ctx->kvm_fd, KVM_CAP_MAX_VCPU_ID);
	ctx->max_vcpu_id = ret > 0 ? (unsigned int)ret : ctx->max_vcpus;
	return 0;
}

int main(int argc, char **argv)
{
	struct args a = {
		.opts = { .kvm_dev = "/dev/kvm", .vms = 2, .vcpus = 2, .iterations = 100,
			  .exits = 1000 },
	};
	int fds_at_start = count_dir("/proc/self/fd");
	int tasks_at_start = count_dir("/proc/self/task");
	struct vl_ctx ctx = { .opts = &a.opts, .kvm_fd = -1 };
	const struct vl_scenario *s = NULL;
	bool bench;
	int status;

	setvbuf(stdout, NULL, _IOLBF, 0);
	argp_err_exit_status = VL_EXIT_USAGE;
	if (argp_parse(&argp, argc, argv, 0, NULL, &a))
		return VL_EXIT_USAGE;
	bench = !strcmp(a.scenario, "bench");
	if (bench) {
		if (!a.vms_set)
			a.opts.vms = 1;
		if (!a.vcpus_set)
			a.opts.vcpus = 1;
		if (!a.iterations_set && a.opts.bench_scenario &&
		    !strcmp(a.opts.bench_scenario, "exit-loop"))
			a.opts.iterations = 10;
		/* Nothing but the report on stdout, and nothing inside timed regions. */
		vl_log_quiet = true;
		vl_log_stderr = a.opts.json;
	} else {
		s = vl_scenario_find(a.scenario);
		printf("vcpu-lifecycle %s: %s\n", s->name, s->summary);
	}

	if (open_kvm(&ctx)) {
		status = VL_EXIT_FAIL;
		goto out;
	}
	if (a.opts.vcpus > ctx.max_vcpus && (bench || !strcmp(a.scenario, "multi"))) {
		fprintf(stderr, "vcpu-lifecycle: --vcpus %u: more than KVM_CAP_MAX_VCPUS (%u) "
			"of %s\n", a.opts.vcpus, ctx.max_vcpus, a.opts.kvm_dev);
		status = VL_EXIT_USAGE;
		goto out;
	}

	status = bench ? vl_bench(&ctx) : s->run(&ctx);
	if (status == VL_EXIT_PASS && vl_failures())
		status = VL_EXIT_FAIL;
out:
	if (ctx.kvm_fd >= 0)
		close(ctx.kvm_fd);
	if (a.opts.check_leaks) {
		int fds = count_dir("/proc/self/fd"), tasks = count_dir("/proc/self/task");

		if (fds != fds_at_start || tasks != tasks_at_start) {
			fprintf(vl_log_stream(), "FAIL  leak check: %d fds and %d threads at exit, "
				"%d and %d at start\n", fds, tasks, fds_at_start, tasks_at_start);
			if (status != VL_EXIT_USAGE)
				status = VL_EXIT_FAIL;
		} else {
			fprintf(vl_log_stream(),
				"  leak check: %d fds, %d thread(s) at exit, as at start\n",
				fds, tasks);
		}
	}
	if (!bench) {
		if (status == VL_EXIT_PASS)
			printf("PASS %s\n", s->name);
		else if (status == VL_EXIT_FAIL)
			if (vl_failures())
				printf("FAIL %s: %u expectation(s) failed\n", s->name, vl_failures());
			else
				printf("FAIL %s: KVM could not be used (see the error above)\n",
				       s->name);
		else if (status == VL_EXIT_USAGE)
			printf("ERROR %s: bad input (see above)\n", s->name);
	}
	return status;
}
