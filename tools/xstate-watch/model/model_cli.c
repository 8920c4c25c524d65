// SPDX-License-Identifier: GPL-2.0
/*
 * `xstate-watch model`: run one pKVM scenario through the collector's
 * engine and report its findings, or print the whole matrix of CPU models
 * x VMM behaviours x policies (docs/pkvm-model.md is generated from it).
 *
 * Exit status, as `xstate-watch replay`: 0 every invariant holds,
 * 3 an invariant failed, 2 bad usage or bad input, 1 other errors.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "xsw_event_json.h"

#define EXIT_INVARIANT	3
#define EXIT_USAGE	2
#define MAX_CPUS	32

static void usage(FILE *f)
{
	unsigned int i;

	fprintf(f,
		"usage: xstate-watch model --cpu FILE --vmm NAME --policy NAME [--json FILE]\n"
		"       xstate-watch model --matrix [--markdown] --cpu FILE [--cpu FILE...]\n"
		"\n"
		"Model pKVM's CPUID enforcement and fpstate sizing for a protected vCPU\n"
		"(intel-staging/pKVM-IA issue 87) and judge it with the collector's engine.\n"
		"  --cpu FILE     CPU model file (tests/fixtures/cpu/*.cpu)\n"
		"  --vmm NAME     VMM behaviour:\n");
	for (i = 0; i < XSW_VMM_NR; i++)
		fprintf(f, "                   %-16s %s\n", xsw_model_vmm_name(i),
			xsw_model_vmm_summary(i));
	fprintf(f, "  --policy NAME  pKVM code:\n");
	for (i = 0; i < XSW_POLICY_NR; i++)
		fprintf(f, "                   %-16s %s\n", xsw_model_policy_name(i),
			xsw_model_policy_summary(i));
	fprintf(f,
		"  --json FILE    also write the events and findings as JSON lines ('-': stdout)\n"
		"  --matrix       every --cpu x VMM behaviour x policy, one row each\n"
		"  --markdown     the matrix as a Markdown table (docs/pkvm-model.md)\n"
		"exit: 0 invariants hold, 3 an invariant failed, 2 bad usage or input, 1 error\n");
}

/* "sapphire-rapids-w9-3475x" for ".../sapphire-rapids-w9-3475x.cpu". */
static void cpu_label(const char *path, char *buf, size_t len)
{
	const char *base = strrchr(path, '/');
	size_t n;

	base = base ? base + 1 : path;
	n = strlen(base);
	if (n > 4 && !strcmp(base + n - 4, ".cpu"))
		n -= 4;
	snprintf(buf, len, "%.*s", (int)n, base);
}

static const char *names(uint64_t mask, char *buf, size_t len)
{
	return xsw_xfeatures_format(mask, buf, len);
}

static void print_finding(FILE *f, const struct xsw_event *ev)
{
	char have[256], need[256];
	const char *cause = xsw_event_type_name(ev->finding.cause_type);

	fprintf(f, "  %s %s: pid %u comm %s vm 0x%" PRIx64 " vcpu %d (exposed by %s)\n",
		ev->type == XSW_EV_VIOLATION ? "VIOLATION" : "lint", ev->finding.id,
		ev->pid, ev->comm, (uint64_t)ev->vm, ev->vcpu_id, cause ? cause : "?");
	fprintf(f, "    %s\n", ev->finding.text);
	fprintf(f, "    held %" PRIu64 " bytes for 0x%" PRIx64 " (%s)\n", (uint64_t)ev->finding.have_size,
		(uint64_t)ev->finding.have_mask, names(ev->finding.have_mask, have, sizeof(have)));
	fprintf(f, "    need %" PRIu64 " bytes for 0x%" PRIx64 " (%s)\n", (uint64_t)ev->finding.need_size,
		(uint64_t)ev->finding.need_mask, names(ev->finding.need_mask, need, sizeof(need)));
}

static void print_scenario(FILE *f, const struct xsw_model_scenario *s, const char *path,
			   const struct xsw_model_result *r)
{
	const struct xsw_model_host *h = &r->host;
	char a[256], b[256];

	fprintf(f, "scenario: cpu %s (%s), vmm %s, policy %s\n", s->cpu_label, path,
		xsw_model_vmm_name(s->vmm), xsw_model_policy_name(s->policy));
	fprintf(f, "  cpu: %s\n", s->cpu->name[0] ? s->cpu->name : "(unnamed)");
	fprintf(f, "  host kernel: max_features 0x%" PRIx64 " (%s), %s buffers\n", h->max_features,
		names(h->max_features, a, sizeof(a)), h->compacted ? "compacted" : "standard");
	fprintf(f, "    fpu_user_cfg.default_size %u, fpu_user_cfg.max_size %u, "
		"fpu_kernel_cfg.default_size %u, kvm supported xcr0 0x%" PRIx64 "\n",
		h->user_default_size, h->user_max_size, h->kernel_default_size, h->kvm_supported_xcr0);
	fprintf(f, "  VMM: guest permission 0x%" PRIx64 " (%s)%s\n", r->guest_perm,
		names(r->guest_perm, a, sizeof(a)),
		r->perm_requested ? (r->perm_ret ? ", request FAILED" : ", XTILEDATA requested") :
				    ", nothing requested");
	fprintf(f, "    KVM_GET_SUPPORTED_CPUID xcr0 0x%" PRIx64 ", installs xcr0 0x%" PRIx64 " (%s)\n",
		r->supported_xcr0, r->vmm_xcr0, names(r->vmm_xcr0, a, sizeof(a)));
	fprintf(f, "  host KVM: KVM_SET_CPUID2 -> %s; host guest fpstate %u bytes\n",
		r->host_ret ? xsw_errno_name(r->host_ret) : "0", r->host_fps_size);
	fprintf(f, "  hypervisor: initial buffer %u = PAGE_ALIGN(64 + fpu_user_cfg.default_size %u)\n",
		r->hyp_initial_size, h->user_default_size);
	if (r->hyp_realloc)
		fprintf(f, "    host donated a new buffer before the sync: %u bytes\n", r->hyp_buffer_size);
	if (r->synced) {
		fprintf(f, "    enforced xcr0 0x%" PRIx64 " (%s)%s\n", r->hyp_xcr0,
			names(r->hyp_xcr0, a, sizeof(a)),
			r->changed_behind_vmm ? ": CHANGED behind the VMM's back" : "");
		if (r->changed_behind_vmm)
			fprintf(f, "      added %s, removed %s\n",
				names(r->hyp_xcr0 & ~r->vmm_xcr0, a, sizeof(a)),
				names(r->vmm_xcr0 & ~r->hyp_xcr0, b, sizeof(b)));
		if (r->hyp_xfd_event)
			fprintf(f, "    __xfd_enable_feature(0x%" PRIx64 "): cur=%u need=%u -> %s\n",
				r->hyp_xfd_event, r->hyp_buffer_size, r->hyp_need,
				r->hyp_ret ? xsw_errno_name(r->hyp_ret) : "0");
	} else {
		fprintf(f, "    CPUID never reached the hypervisor\n");
	}
	fprintf(f, "  memory per vCPU: hypervisor %u bytes, host guest fpstate %u bytes\n",
		r->hyp_buffer_size, r->host_bytes);
}

static int load_cpu(const char *path, struct xsw_cpu_model *cpu)
{
	struct xsw_err err = { 0 };

	if (xsw_cpu_model_load(cpu, path, &err)) {
		fprintf(stderr, "xstate-watch model: %s\n", err.msg);
		return -1;
	}
	return 0;
}

/* The engine's verdict must agree with the model's own arithmetic. */
static bool verdict_agrees(const struct xsw_model_result *r, const struct xsw_model_verdict *v)
{
	return r->i5_holds == (v->nr_violations == 0);
}

static int run_one(const char *path, enum xsw_model_vmm vmm, enum xsw_model_policy policy,
		   const char *json)
{
	struct xsw_model_scenario s = { .vmm = vmm, .policy = policy, .pid = 1000, .vm = 1 };
	struct xsw_model_verdict v;
	struct xsw_model_result r;
	struct xsw_err err = { 0 };
	struct xsw_cpu_model *cpu;
	FILE *events = NULL;
	char label[128];
	unsigned int i;
	int ret;

	cpu = calloc(1, sizeof(*cpu));
	if (!cpu)
		return 1;
	if (load_cpu(path, cpu)) {
		free(cpu);
		return EXIT_USAGE;
	}
	cpu_label(path, label, sizeof(label));
	s.cpu = cpu;
	s.cpu_label = label;
	if (json) {
		events = strcmp(json, "-") ? fopen(json, "we") : stdout;
		if (!events) {
			fprintf(stderr, "xstate-watch model: --json %s: %s\n", json, strerror(errno));
			free(cpu);
			return 1;
		}
	}
	ret = xsw_model_judge(&s, &r, &v, events, &err);
	if (events && events != stdout && fclose(events) && !ret)
		ret = xsw_err_set(&err, EIO, "--json %s: write failed", json);
	if (ret) {
		fprintf(stderr, "xstate-watch model: %s\n", err.msg);
		free(cpu);
		return 1;
	}
	print_scenario(events == stdout ? stderr : stdout, &s, path, &r);
	{
		FILE *out = events == stdout ? stderr : stdout;

		fprintf(out, "engine: %u events, %u violations, %u lints\n", v.nr_events,
			v.nr_violations, v.nr_lints);
		for (i = 0; i < v.nr_findings; i++)
			print_finding(out, &v.findings[i]);
		if (!verdict_agrees(&r, &v))
			fprintf(out, "MODEL/ENGINE DISAGREE: the model computes I5 %s, the engine found %u violations\n",
				r.i5_holds ? "holds" : "fails", v.nr_violations);
		fprintf(out, "verdict: %s\n", v.nr_violations ? "invariant FAILED" : "invariants hold");
	}
	free(cpu);
	if (!verdict_agrees(&r, &v))
		return 1;
	return v.nr_violations ? EXIT_INVARIANT : 0;
}

static const char *i5_cell(const struct xsw_model_result *r, const struct xsw_model_verdict *v)
{
	if (!verdict_agrees(r, v))
		return "DISAGREE";
	if (v->nr_violations)
		return "VIOLATED";
	return r->synced ? "holds" : "n/a";
}

static void detail_cell(const struct xsw_model_result *r, char *buf, size_t len)
{
	if (r->host_ret)
		snprintf(buf, len, "host KVM_SET_CPUID2 %s (no guest permission)",
			 xsw_errno_name(r->host_ret));
	else if (r->hyp_ret == -ENOMEM)
		snprintf(buf, len, "hyp -ENOMEM: need %u > held %u", r->hyp_need, r->hyp_buffer_size);
	else if (r->hyp_ret)
		snprintf(buf, len, "hyp %s", xsw_errno_name(r->hyp_ret));
	else if (r->changed_behind_vmm)
		snprintf(buf, len, "guest gets %s the VMM did not install",
			 r->hyp_xcr0 & ~r->vmm_xcr0 & XSW_XF_MASK_AMX ? "AMX" : "features");
	else
		snprintf(buf, len, "-");
}

static int run_matrix(char **paths, unsigned int nr, bool markdown)
{
	const char *sep = markdown ? " | " : "  ";
	unsigned int c, vmm, pol;
	int status = 0;

	if (markdown) {
		printf("| CPU | VMM | policy | I5 | VMM xcr0 | guest xcr0 | changed | hyp B/vCPU | host B/vCPU | detail |\n");
		printf("|---|---|---|---|---|---|---|---:|---:|---|\n");
	} else {
		printf("%-28s%s%-16s%s%-14s%s%-8s%s%-9s%s%-10s%s%-7s%s%10s%s%11s%s%s\n", "CPU", sep,
		       "VMM", sep, "policy", sep, "I5", sep, "VMM xcr0", sep, "guest xcr0", sep,
		       "changed", sep, "hyp B/vCPU", sep, "host B/vCPU", sep, "detail");
	}
	for (c = 0; c < nr; c++) {
		struct xsw_cpu_model *cpu = calloc(1, sizeof(*cpu));
		char label[128];

		if (!cpu)
			return 1;
		if (load_cpu(paths[c], cpu)) {
			free(cpu);
			return EXIT_USAGE;
		}
		cpu_label(paths[c], label, sizeof(label));
		for (vmm = 0; vmm < XSW_VMM_NR; vmm++) {
			for (pol = 0; pol < XSW_POLICY_NR; pol++) {
				struct xsw_model_scenario s = {
					.cpu = cpu, .cpu_label = label, .vmm = vmm,
					.policy = pol, .pid = 1000, .vm = 1,
				};
				struct xsw_model_verdict v;
				struct xsw_model_result r;
				struct xsw_err err = { 0 };
				char vx[24], gx[24], detail[128];

				if (xsw_model_judge(&s, &r, &v, NULL, &err)) {
					fprintf(stderr, "xstate-watch model: %s\n", err.msg);
					free(cpu);
					return 1;
				}
				if (!verdict_agrees(&r, &v))
					status = 1;
				snprintf(vx, sizeof(vx), "0x%" PRIx64, r.vmm_xcr0);
				if (r.guest_xcr0)
					snprintf(gx, sizeof(gx), "0x%" PRIx64, r.guest_xcr0);
				else
					snprintf(gx, sizeof(gx), "%s", r.host_ret ? "-" : "VM dead");
				detail_cell(&r, detail, sizeof(detail));
				if (markdown)
					printf("| %s | %s | %s | %s | %s | %s | %s | %u | %u | %s |\n",
					       label, xsw_model_vmm_name(vmm), xsw_model_policy_name(pol),
					       i5_cell(&r, &v), vx, gx,
					       r.changed_behind_vmm ? "yes" : "no",
					       r.hyp_buffer_size, r.host_bytes, detail);
				else
					printf("%-28s%s%-16s%s%-14s%s%-8s%s%-9s%s%-10s%s%-7s%s%10u%s%11u%s%s\n",
					       label, sep, xsw_model_vmm_name(vmm), sep,
					       xsw_model_policy_name(pol), sep, i5_cell(&r, &v), sep,
					       vx, sep, gx, sep, r.changed_behind_vmm ? "yes" : "no",
					       sep, r.hyp_buffer_size, sep, r.host_bytes, sep, detail);
			}
		}
		free(cpu);
	}
	return status;
}

int xsw_model_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "cpu", required_argument, NULL, 'c' },
		{ "vmm", required_argument, NULL, 'v' },
		{ "policy", required_argument, NULL, 'p' },
		{ "json", required_argument, NULL, 'j' },
		{ "matrix", no_argument, NULL, 'm' },
		{ "markdown", no_argument, NULL, 'M' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *cpus[MAX_CPUS];
	unsigned int nr_cpus = 0;
	const char *json = NULL;
	bool matrix = false, markdown = false;
	int vmm = -1, policy = -1, opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:v:p:j:mMh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			if (nr_cpus == MAX_CPUS) {
				fprintf(stderr, "xstate-watch model: more than %d --cpu files\n", MAX_CPUS);
				return EXIT_USAGE;
			}
			cpus[nr_cpus++] = optarg;
			break;
		case 'v':
			vmm = xsw_model_vmm_from_name(optarg);
			if (vmm < 0) {
				fprintf(stderr, "xstate-watch model: --vmm '%s': unknown VMM behaviour (see --help)\n",
					optarg);
				return EXIT_USAGE;
			}
			break;
		case 'p':
			policy = xsw_model_policy_from_name(optarg);
			if (policy < 0) {
				fprintf(stderr, "xstate-watch model: --policy '%s': unknown policy (see --help)\n",
					optarg);
				return EXIT_USAGE;
			}
			break;
		case 'j':
			json = optarg;
			break;
		case 'm':
			matrix = true;
			break;
		case 'M':
			markdown = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "xstate-watch model: unexpected argument '%s'\n", argv[optind]);
		return EXIT_USAGE;
	}
	if (!nr_cpus) {
		fprintf(stderr, "xstate-watch model: --cpu FILE is required\n");
		return EXIT_USAGE;
	}
	if (matrix) {
		if (vmm >= 0 || policy >= 0 || json) {
			fprintf(stderr, "xstate-watch model: --matrix runs every VMM and policy; "
				"--vmm, --policy and --json do not apply\n");
			return EXIT_USAGE;
		}
		return run_matrix(cpus, nr_cpus, markdown);
	}
	if (nr_cpus != 1 || vmm < 0 || policy < 0) {
		fprintf(stderr, "xstate-watch model: one scenario needs exactly one --cpu, a --vmm and a --policy\n");
		return EXIT_USAGE;
	}
	return run_one(cpus[0], vmm, policy, json);
}
