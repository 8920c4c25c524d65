// SPDX-License-Identifier: GPL-2.0
/*
 * xstate-size: the project's xstate size model on the command line.
 * Answers "how many bytes does this xfeature mask need on this CPU?" in
 * both XSAVE formats, lists the components leaf 0xD describes, and records
 * CPU model files (--dump-cpu).
 */
#include <argp.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xstate.h"

const char *argp_program_version = "xstate-size 0.1";
static const char doc[] =
"Compute XSAVE buffer sizes from CPUID leaf 0xD, as the kernel does.\n"
"\n"
"USAGE: xstate-size [--cpu-model FILE] [--components] [--dump-cpu] [MASK...]\n"
"\n"
"MASK is a hex or decimal number or a list of names (x87|sse|avx|pkru,\n"
"amx, avx512, xtiledata...). Without MASK: the CPU's supported XCR0 and XSS.\n"
"\n"
"EXAMPLES:\n"
"    xstate-size                       # this CPU: supported masks and sizes\n"
"    xstate-size 0x602e7 --cpu-model tests/fixtures/cpu/intel-sapphire-rapids-w9-3475x.cpu\n"
"    xstate-size 'x87|sse|avx|amx'     # names work too\n"
"    xstate-size --components          # every component: size, offsets, flags\n"
"    xstate-size --dump-cpu > my.cpu   # record this CPU as a model file\n"
"\n"
"Exit status: 0 ok, 1 bad input (file, mask), 2 usage.";

static const struct argp_option opts[] = {
	{ "cpu-model", 'm', "FILE", 0, "Use a CPU model file instead of this CPU", 0 },
	{ "components", 'c', NULL, 0, "List the components leaf 0xD describes", 0 },
	{ "dump-cpu", 'd', NULL, 0, "Write this CPU as a model file to stdout", 0 },
	{ "check-deps", 'D', NULL, 0, "Also check each MASK against the kernel/KVM dependency rules", 0 },
	{},
};

static struct env {
	const char *model_path;
	bool components;
	bool dump;
	bool check_deps;
	char **masks;
	int nr_masks;
} env;

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	switch (key) {
	case 'm': env.model_path = arg; break;
	case 'c': env.components = true; break;
	case 'd': env.dump = true; break;
	case 'D': env.check_deps = true; break;
	case ARGP_KEY_ARGS:
		env.masks = state->argv + state->next;
		env.nr_masks = state->argc - state->next;
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static void print_mask_sizes(const struct xsw_cpu_model *m, const char *label, uint64_t mask)
{
	char names[256];

	printf("%-10s 0x%-10" PRIx64 " standard %6u  compacted %6u  %s\n", label, mask,
	       xsw_xstate_size(m, mask, false), xsw_xstate_size(m, mask, true),
	       xsw_xfeatures_format(mask, names, sizeof(names)));
}

static void print_components(const struct xsw_cpu_model *m)
{
	uint64_t all = xsw_xcr0_supported(m) | xsw_xss_supported(m);
	unsigned int i;

	printf("%3s %-11s %6s %8s %9s  %s\n", "nr", "name", "size", "std-off", "cmp-off", "flags");
	for (i = 0; i < 63; i++) {
		struct xsw_xcomp c = xsw_xcomp(m, i);
		const char *n = xsw_xfeature_name(i);

		if (!(all & XSW_XF_MASK(i)))
			continue;
		printf("%3u %-11s %6u %8u %9u  %s%s%s\n", i, n ? n : "?", c.size,
		       (c.flags & XSW_XCOMP_SUPERVISOR) ? 0 : c.offset,
		       xsw_xstate_compacted_offset(m, all, i),
		       (xsw_xss_supported(m) & XSW_XF_MASK(i)) ? "supervisor " : "user ",
		       (c.flags & XSW_XCOMP_ALIGN64) ? "align64 " : "",
		       (c.flags & XSW_XCOMP_XFD) ? "xfd" : "");
	}
}

int main(int argc, char **argv)
{
	static const struct argp argp = { .options = opts, .parser = parse_arg, .doc = doc };
	struct xsw_cpu_model *m;
	struct xsw_err err = { 0 };
	char names[256];
	int i, ret = 0;

	argp_err_exit_status = 2;
	if (argp_parse(&argp, argc, argv, 0, NULL, NULL))
		return 2;
	m = calloc(1, sizeof(*m));
	if (!m)
		return 1;
	if (env.model_path ? xsw_cpu_model_load(m, env.model_path, &err) :
			     xsw_cpu_model_from_host(m, &err)) {
		fprintf(stderr, "xstate-size: %s\n", err.msg);
		free(m);
		return 1;
	}
	if (env.dump) {
		ret = xsw_cpu_model_write(m, stdout) ? 1 : 0;
		free(m);
		return ret;
	}
	printf("cpu: %s\n", m->name);
	if (env.components)
		print_components(m);
	if (!env.nr_masks) {
		uint64_t xcr0 = xsw_xcr0_supported(m), xss = xsw_xss_supported(m);

		printf("kernel buffer format: %s (xsavec %s, xsaves %s), xfd %s\n",
		       xsw_kernel_uses_compacted(m) ? "compacted" : "standard",
		       xsw_has_xsavec(m) ? "yes" : "no", xsw_has_xsaves(m) ? "yes" : "no",
		       xsw_has_xfd(m) ? "yes" : "no");
		printf("dynamic (XFD) features: 0x%" PRIx64 " (%s)\n", xsw_xfeatures_dynamic(m),
		       xsw_xfeatures_format(xsw_xfeatures_dynamic(m), names, sizeof(names)));
		print_mask_sizes(m, "xcr0", xcr0);
		print_mask_sizes(m, "xcr0|xss", xcr0 | xss);
	}
	for (i = 0; i < env.nr_masks; i++) {
		uint64_t mask;

		if (xsw_xfeatures_parse(env.masks[i], &mask, &err)) {
			fprintf(stderr, "xstate-size: mask %s\n", err.msg);
			ret = 1;
			continue;
		}
		if (mask & ~(xsw_xcr0_supported(m) | xsw_xss_supported(m) | XSW_XF_MASK_FPSSE)) {
			uint64_t extra = mask & ~(xsw_xcr0_supported(m) | xsw_xss_supported(m));

			fprintf(stderr, "xstate-size: mask '%s': 0x%" PRIx64 " (%s) not supported by %s\n",
				env.masks[i], extra, xsw_xfeatures_format(extra, names, sizeof(names)),
				m->name);
			ret = 1;
			continue;
		}
		if (env.check_deps && xsw_xfeatures_check_deps(mask, &err)) {
			fprintf(stderr, "xstate-size: mask %s\n", err.msg);
			ret = 1;
			continue;
		}
		print_mask_sizes(m, "mask", mask);
	}
	free(m);
	return ret;
}
