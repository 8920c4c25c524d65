// SPDX-License-Identifier: GPL-2.0
/*
 * The probe-tier registry: tier names, the start-up environment checks, and
 * the choice of a tier by trying each in turn (tracepoint, fentry, syscall).
 * A tier is one struct xsw_probe_tier_ops in its own probes/<tier>.c; adding
 * one means adding it to xsw_tiers[] below, nothing else.
 *
 * Nothing here prints: reasons come back in strings.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/bpf.h>
#include <linux/capability.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "probe.h"
#include "probe_util.h"

/* In the order XSW_TIER_AUTO tries them: most precise first. */
static const struct xsw_probe_tier_ops *const xsw_tiers[] = {
	&xsw_tier_tracepoint,
	&xsw_tier_fentry,
	&xsw_tier_syscall,
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

const char *xsw_tier_name(enum xsw_tier tier)
{
	size_t i;

	if (tier == XSW_TIER_AUTO)
		return "auto";
	for (i = 0; i < ARRAY_SIZE(xsw_tiers); i++)
		if (xsw_tiers[i]->tier == tier)
			return xsw_tiers[i]->name;
	return NULL;
}

int xsw_tier_from_name(const char *name, enum xsw_tier *tier)
{
	size_t i;

	if (name && !strcmp(name, "auto")) {
		*tier = XSW_TIER_AUTO;
		return 0;
	}
	for (i = 0; name && i < ARRAY_SIZE(xsw_tiers); i++) {
		if (!strcmp(name, xsw_tiers[i]->name)) {
			*tier = xsw_tiers[i]->tier;
			return 0;
		}
	}
	return -EINVAL;
}

static void why_append(char *why, size_t len, const char *fmt, ...)
{
	size_t used;
	va_list ap;

	if (!why || !len)
		return;
	used = strnlen(why, len);
	if (used + 1 >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(why + used, len - used, fmt, ap);
	va_end(ap);
}

static const struct xsw_probe_tier_ops *tier_try(enum xsw_tier want, char *why,
						 size_t why_len, struct xsw_err *err)
{
	struct xsw_err terr;
	size_t i;

	xsw_err_clear(err);
	if (why && why_len)
		why[0] = '\0';
	for (i = 0; i < ARRAY_SIZE(xsw_tiers); i++) {
		const struct xsw_probe_tier_ops *ops = xsw_tiers[i];

		if (want != XSW_TIER_AUTO && ops->tier != want)
			continue;
		xsw_err_clear(&terr);
		if (ops->available(&terr) == 0)
			return ops;
		if (want != XSW_TIER_AUTO) {
			xsw_err_set(err, -terr.code ? -terr.code : EOPNOTSUPP,
				    "probe tier '%s' cannot run on this kernel: %s",
				    ops->name, terr.msg);
			return NULL;
		}
		why_append(why, why_len, "%s%s: %s", why && why[0] ? "; " : "",
			   ops->name, terr.msg);
	}
	if (want != XSW_TIER_AUTO)
		xsw_err_set(err, EINVAL, "unknown probe tier %d", (int)want);
	else
		xsw_err_set(err, EOPNOTSUPP, "no probe tier can run on this kernel (%s)",
			    why && why[0] ? why : "no tiers built");
	return NULL;
}

static void vmlinux_btf_release(void);

const struct xsw_probe_tier_ops *xsw_tier_choose(enum xsw_tier want, char *why,
						 size_t why_len, struct xsw_err *err)
{
	const struct xsw_probe_tier_ops *ops = tier_try(want, why, why_len, err);

	vmlinux_btf_release();
	return ops;
}

/* --- environment ---------------------------------------------------------- */

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

static bool cap_effective(const struct __user_cap_data_struct *data, int cap)
{
	return data[cap / 32].effective & (1u << (cap % 32));
}

static int check_privileges(struct xsw_err *err)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};

	if (syscall(SYS_capget, &hdr, data))
		return xsw_err_set(err, errno, "cannot read this process's capabilities: %s",
				   strerror(errno));
	if (cap_effective(data, CAP_BPF) && cap_effective(data, CAP_PERFMON))
		return 0;
	/* Kernels before 5.8 (no CAP_BPF) accept CAP_SYS_ADMIN for all of it. */
	if (cap_effective(data, CAP_SYS_ADMIN))
		return 0;
	return xsw_err_set(err, EPERM,
			   "loading BPF probes needs root, or CAP_BPF and CAP_PERFMON "
			   "(uid %u has %s%s%s): run with sudo",
			   (unsigned int)geteuid(),
			   cap_effective(data, CAP_BPF) ? "CAP_BPF" : "no CAP_BPF",
			   ", ",
			   cap_effective(data, CAP_PERFMON) ? "CAP_PERFMON" : "no CAP_PERFMON");
}

#define XSW_VMLINUX_BTF "/sys/kernel/btf/vmlinux"
#define XSW_TRACEFS "/sys/kernel/tracing"

static int check_tracefs(char *note, size_t note_len, struct xsw_err *err)
{
	if (xsw_tracefs_root())
		return 0;
	if (mount("nodev", XSW_TRACEFS, "tracefs", 0, NULL))
		return xsw_err_set(err, errno,
				   "tracefs is not mounted and mounting it failed "
				   "(mount -t tracefs nodev %s: %s)", XSW_TRACEFS,
				   strerror(errno));
	snprintf(note, note_len, "tracefs was not mounted: mounted it at %s", XSW_TRACEFS);
	return 0;
}

/*
 * The kernel's BTF, parsed once (about 20 ms each time on the CI host) for
 * the environment check and every tier probe, and freed once a tier is
 * chosen (vmlinux_btf_release()): libbpf parses its own copy to load the
 * tier's programs, and the two 6 MB copies alive together were the
 * collector's peak RSS.
 */
static struct btf *cached_btf;

static struct btf *vmlinux_btf(struct xsw_err *err)
{
	if (!cached_btf) {
		cached_btf = btf__load_vmlinux_btf();
		if (!cached_btf) {
			xsw_err_set(err, errno ? errno : EINVAL, "cannot read %s: %s",
				    XSW_VMLINUX_BTF, strerror(errno));
			return NULL;
		}
	}
	return cached_btf;
}

static void vmlinux_btf_release(void)
{
	btf__free(cached_btf);
	cached_btf = NULL;
}

static int check_kvm(struct xsw_err *err)
{
	struct btf *vmlinux, *kvm_btf = NULL;
	bool has_vcpu;

	if (access("/dev/kvm", F_OK))
		return xsw_err_set(err, ENODEV,
				   "no KVM on this machine: /dev/kvm does not exist "
				   "(KVM not built, or kvm_intel/kvm_amd not loaded)");
	vmlinux = vmlinux_btf(err);
	if (!vmlinux)
		return err ? err->code : -EINVAL;
	has_vcpu = btf__find_by_name_kind(vmlinux, "kvm_vcpu", BTF_KIND_STRUCT) >= 0;
	/* KVM built as a module: its types are in the module's split BTF. */
	if (!has_vcpu && !access("/sys/kernel/btf/kvm", R_OK)) {
		kvm_btf = btf__parse_split("/sys/kernel/btf/kvm", vmlinux);
		has_vcpu = kvm_btf &&
			   btf__find_by_name_kind(kvm_btf, "kvm_vcpu", BTF_KIND_STRUCT) >= 0;
	}
	btf__free(kvm_btf);
	if (!has_vcpu)
		return xsw_err_set(err, ENODEV,
				   "no KVM in this kernel's BTF: struct kvm_vcpu is in neither "
				   "%s nor /sys/kernel/btf/kvm", XSW_VMLINUX_BTF);
	return 0;
}

int xsw_probe_check_env(struct xsw_err *err)
{
	char note[256] = "";
	int ret;

	xsw_err_clear(err);
	ret = check_privileges(err);
	if (ret)
		return ret;
	if (access(XSW_VMLINUX_BTF, R_OK))
		return xsw_err_set(err, ENOENT,
				   "no kernel BTF at %s (kernel built without "
				   "CONFIG_DEBUG_INFO_BTF): the CO-RE probes cannot load",
				   XSW_VMLINUX_BTF);
	ret = check_tracefs(note, sizeof(note), err);
	if (ret)
		return ret;
	ret = check_kvm(err);
	if (ret)
		return ret;
	/* Success, possibly with something the caller should tell the user. */
	if (err && note[0])
		snprintf(err->msg, sizeof(err->msg), "%s", note);
	return 0;
}

/* --- shared helpers (probe_util.h) ----------------------------------------- */

static bool libbpf_verbose;
static char libbpf_tail[512];

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[256];
	size_t used, n;

	if (libbpf_verbose)
		return fprintf(stderr, "libbpf: ") + vfprintf(stderr, fmt, ap);
	if (level == LIBBPF_DEBUG)
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n && line[n - 1] == '\n')
		line[--n] = '\0';
	used = strlen(libbpf_tail);
	/* Keep the latest lines: drop the oldest half when full. */
	if (used + n + 3 >= sizeof(libbpf_tail)) {
		memmove(libbpf_tail, libbpf_tail + used / 2, used - used / 2 + 1);
		used = strlen(libbpf_tail);
	}
	snprintf(libbpf_tail + used, sizeof(libbpf_tail) - used, "%s%s", used ? " | " : "",
		 line);
	return 0;
}

void xsw_libbpf_log_setup(bool verbose)
{
	libbpf_verbose = verbose;
	libbpf_set_print(libbpf_log);
}

void xsw_libbpf_log_clear(void)
{
	libbpf_tail[0] = '\0';
}

const char *xsw_libbpf_log_tail(void)
{
	return libbpf_tail;
}

const char *xsw_tracefs_root(void)
{
	if (!access(XSW_TRACEFS "/events", F_OK))
		return XSW_TRACEFS;
	if (!access("/sys/kernel/debug/tracing/events", F_OK))
		return "/sys/kernel/debug/tracing";
	return NULL;
}

int xsw_tracefs_event_check(const char *category, const char *name, struct xsw_err *err)
{
	const char *root = xsw_tracefs_root();
	char path[256];

	if (!root)
		return xsw_err_set(err, ENOENT, "tracefs is not mounted");
	snprintf(path, sizeof(path), "%s/events/%s/%s/id", root, category, name);
	if (access(path, R_OK))
		return xsw_err_set(err, ENOENT, "tracepoint %s:%s not in this kernel (%s: %s)",
				   category, name, path, strerror(errno));
	return 0;
}

static int probe_tracing_prog(enum bpf_attach_type type, const char *name,
			      struct xsw_err *err)
{
	/* r0 = 0; exit */
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	const char *what = type == BPF_TRACE_FENTRY ? "fentry" : "tp_btf";
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = type);
	struct btf *btf = vmlinux_btf(err);
	int id, prog_fd, link_fd, e;
	char tname[128];

	if (!btf)
		return err ? err->code : -EINVAL;
	/* What libbpf_find_vmlinux_btf_id() looks up, on the cached BTF. */
	if (type == BPF_TRACE_FENTRY) {
		id = btf__find_by_name_kind(btf, name, BTF_KIND_FUNC);
	} else {
		snprintf(tname, sizeof(tname), "btf_trace_%s", name);
		id = btf__find_by_name_kind(btf, tname, BTF_KIND_TYPEDEF);
	}
	if (id < 0)
		return xsw_err_set(err, -id, "%s/%s: not in this kernel's BTF", what, name);
	opts.attach_btf_id = id;
	prog_fd = bpf_prog_load(BPF_PROG_TYPE_TRACING, NULL, "GPL", insns,
				sizeof(insns) / sizeof(insns[0]), &opts);
	if (prog_fd < 0)
		return xsw_err_set(err, -prog_fd, "%s/%s: the kernel refuses to load it (%s)",
				   what, name, strerror(-prog_fd));
	/* Attaches a tracing program of either kind to its BTF target. */
	link_fd = bpf_raw_tracepoint_open(NULL, prog_fd);
	e = link_fd < 0 ? -link_fd : 0;
	if (link_fd >= 0)
		close(link_fd);
	close(prog_fd);
	if (e)
		return xsw_err_set(err, e, "%s/%s: loads but does not attach (%s)", what, name,
				   strerror(e));
	return 0;
}

int xsw_probe_tp_btf(const char *name, struct xsw_err *err)
{
	return probe_tracing_prog(BPF_TRACE_RAW_TP, name, err);
}

int xsw_probe_fentry(const char *func, struct xsw_err *err)
{
	return probe_tracing_prog(BPF_TRACE_FENTRY, func, err);
}

int xsw_ring_drain(struct ring_buffer *rb, int timeout_ms)
{
	int ret, n;

	if (timeout_ms < 0 || timeout_ms > XSW_DRAIN_MS)
		timeout_ms = XSW_DRAIN_MS;
	ret = ring_buffer__poll(rb, timeout_ms);
	if (ret < 0 && ret != -EINTR)
		return ret;
	n = ring_buffer__consume(rb);
	if (n < 0 && n != -EINTR)
		return n;
	return (ret > 0 ? ret : 0) + (n > 0 ? n : 0);
}

unsigned long xsw_ringbuf_bytes(unsigned int kib)
{
	unsigned long want = kib ? (unsigned long)kib * 1024 : 1ul << 20;
	unsigned long page = (unsigned long)sysconf(_SC_PAGESIZE);
	unsigned long bytes = page;

	while (bytes < want && bytes < (1ul << 30))
		bytes <<= 1;
	return bytes;
}

uint64_t xsw_bpf_object_skips(const struct bpf_object *obj)
{
	struct bpf_program *prog;
	uint64_t total = 0;

	if (!obj)
		return 0;
	bpf_object__for_each_program(prog, obj) {
		struct bpf_prog_info info;
		__u32 len = sizeof(info);
		int fd = bpf_program__fd(prog);

		if (fd < 0)	/* not loaded: autoload off */
			continue;
		memset(&info, 0, sizeof(info));
		/* A kernel before v5.12 has no such field: len comes back short. */
		if (bpf_obj_get_info_by_fd(fd, &info, &len))
			continue;
		if (len >= offsetof(struct bpf_prog_info, recursion_misses) +
			   sizeof(info.recursion_misses))
			total += info.recursion_misses;
	}
	return total;
}
