// SPDX-License-Identifier: GPL-2.0
/*
 * CPU models: raw CPUID register values, from the running CPU or from a
 * model file. The file format (docs/cpu-model-format.md):
 *
 *   # comment
 *   format=xstate-watch-cpu-model/1
 *   name=Intel Xeon w9-3475X (Sapphire Rapids)
 *   source=where the registers came from
 *   leaf=0x0000000d subleaf=0x00 eax=0x000602e7 ebx=0x00002b00 ecx=0x00002b00 edx=0x00000000
 *
 * Sub-leaves a file does not list are all-zero, as CPUID returns for a
 * component the CPU does not have.
 */
#include <cpuid.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "xstate.h"

#define CPU_MODEL_FORMAT "xstate-watch-cpu-model/1"
#define CPU_MODEL_FORMAT_PREFIX "xstate-watch-cpu-model/"

int xsw_cpu_model_set(struct xsw_cpu_model *m, uint32_t leaf, uint32_t subleaf,
		      const struct xsw_cpuid_regs *r)
{
	unsigned int i;

	for (i = 0; i < m->nr_entries; i++) {
		if (m->entries[i].leaf == leaf && m->entries[i].subleaf == subleaf) {
			m->entries[i].r = *r;
			return 0;
		}
	}
	if (m->nr_entries >= XSW_CPU_MODEL_MAX_ENTRIES)
		return -ENOSPC;
	m->entries[m->nr_entries].leaf = leaf;
	m->entries[m->nr_entries].subleaf = subleaf;
	m->entries[m->nr_entries].r = *r;
	m->nr_entries++;
	return 0;
}

struct xsw_cpuid_regs xsw_cpu_model_get(const struct xsw_cpu_model *m, uint32_t leaf,
					uint32_t subleaf)
{
	struct xsw_cpuid_regs zero = { 0 };
	unsigned int i;

	for (i = 0; i < m->nr_entries; i++)
		if (m->entries[i].leaf == leaf && m->entries[i].subleaf == subleaf)
			return m->entries[i].r;
	return zero;
}

static void host_cpuid(struct xsw_cpu_model *m, uint32_t leaf, uint32_t subleaf,
		       bool keep_if_zero)
{
	struct xsw_cpuid_regs r;

	__cpuid_count(leaf, subleaf, r.eax, r.ebx, r.ecx, r.edx);
	if (keep_if_zero || r.eax || r.ebx || r.ecx || r.edx)
		xsw_cpu_model_set(m, leaf, subleaf, &r);
}

int xsw_cpu_model_from_host(struct xsw_cpu_model *m, struct xsw_err *err)
{
	uint32_t max_leaf, eax, ebx, ecx, edx;
	unsigned int i;

	memset(m, 0, sizeof(*m));
	snprintf(m->name, sizeof(m->name), "host");
	snprintf(m->source, sizeof(m->source), "CPUID instruction on the running CPU");

	max_leaf = __get_cpuid_max(0, NULL);
	if (max_leaf < 0xd)
		return xsw_err_set(err, EOPNOTSUPP,
				   "host CPU: CPUID max leaf 0x%x has no leaf 0xD (no XSAVE)",
				   max_leaf);
	host_cpuid(m, 0, 0, true);
	host_cpuid(m, 1, 0, true);
	__cpuid(1, eax, ebx, ecx, edx);
	if (!(ecx & (1u << 26)))	/* CPUID.1:ECX.XSAVE */
		return xsw_err_set(err, EOPNOTSUPP, "host CPU: no XSAVE (CPUID.1:ECX bit 26 clear)");
	host_cpuid(m, 7, 0, true);
	__cpuid_count(7, 0, eax, ebx, ecx, edx);
	for (i = 1; i <= eax && i < 4; i++)
		host_cpuid(m, 7, i, false);
	host_cpuid(m, 0xd, 0, true);
	host_cpuid(m, 0xd, 1, true);
	for (i = 2; i < 63; i++)
		host_cpuid(m, 0xd, i, false);
	if (max_leaf >= 0x1d) {
		host_cpuid(m, 0x1d, 0, false);
		host_cpuid(m, 0x1d, 1, false);
	}
	if (max_leaf >= 0x1e)
		host_cpuid(m, 0x1e, 0, false);
	return 0;
}

/* Trim leading and trailing blanks in place. */
static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int parse_u32(const char *val, uint32_t *out)
{
	unsigned long long v;
	char *end;

	if (strncmp(val, "0x", 2) && strncmp(val, "0X", 2))
		return -EINVAL;
	if (!isxdigit((unsigned char)val[2]))
		return -EINVAL;
	errno = 0;
	v = strtoull(val + 2, &end, 16);
	if (errno || *end || v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/* One "leaf=... subleaf=... eax=... ebx=... ecx=... edx=..." line. */
static int parse_regs_line(char *line, const char *fname, unsigned long lineno,
			   struct xsw_cpuid_entry *e, struct xsw_err *err)
{
	static const char *const keys[] = { "leaf", "subleaf", "eax", "ebx", "ecx", "edx" };
	uint32_t *dst[] = { &e->leaf, &e->subleaf, &e->r.eax, &e->r.ebx, &e->r.ecx, &e->r.edx };
	bool seen[6] = { false };
	char *save = NULL, *tok;
	unsigned int i;

	for (tok = strtok_r(line, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		char *eq = strchr(tok, '=');

		if (!eq)
			return xsw_err_set(err, EINVAL, "%s:%lu: '%s': expected key=value",
					   fname, lineno, tok);
		*eq = '\0';
		for (i = 0; i < 6; i++)
			if (!strcmp(tok, keys[i]))
				break;
		if (i == 6)
			return xsw_err_set(err, EINVAL, "%s:%lu: field '%s': unknown field",
					   fname, lineno, tok);
		if (seen[i])
			return xsw_err_set(err, EINVAL, "%s:%lu: field '%s': given twice",
					   fname, lineno, tok);
		if (parse_u32(eq + 1, dst[i]))
			return xsw_err_set(err, EINVAL,
					   "%s:%lu: field '%s': expected a 32-bit hex value like 0x0000000d, got '%s'",
					   fname, lineno, tok, eq + 1);
		seen[i] = true;
	}
	for (i = 0; i < 6; i++)
		if (!seen[i])
			return xsw_err_set(err, EINVAL, "%s:%lu: field '%s': missing (line truncated?)",
					   fname, lineno, keys[i]);
	return 0;
}

/* A model must describe XSAVE coherently for the size model to mean anything. */
static int validate(const struct xsw_cpu_model *m, const char *fname, struct xsw_err *err)
{
	struct xsw_cpuid_regs d0 = xsw_cpu_model_get(m, 0xd, 0);
	uint64_t all = xsw_xcr0_supported(m) | xsw_xss_supported(m);
	unsigned int i;

	if (!(d0.eax & 1))
		return xsw_err_set(err, EINVAL,
				   "%s: no CPUID leaf 0xD sub-leaf 0 with x87 set in EAX: the size model needs it",
				   fname);
	for (i = 2; i < 63; i++) {
		struct xsw_xcomp c = xsw_xcomp(m, i);

		if ((all & XSW_XF_MASK(i)) && !c.size)
			return xsw_err_set(err, EINVAL,
					   "%s: component %u (%s) is supported in leaf 0xD but sub-leaf 0x%x gives it size 0",
					   fname, i, xsw_xfeature_name(i) ?: "?", i);
		if (!(c.flags & XSW_XCOMP_SUPERVISOR) && (all & XSW_XF_MASK(i)) &&
		    c.offset < XSW_XSAVE_BASE_SIZE)
			return xsw_err_set(err, EINVAL,
					   "%s: user component %u (%s) has standard offset %u, inside the legacy area and header",
					   fname, i, xsw_xfeature_name(i) ?: "?", c.offset);
	}
	return 0;
}

int xsw_cpu_model_parse(struct xsw_cpu_model *m, FILE *f, const char *fname,
			struct xsw_err *err)
{
	bool have_format = false;
	unsigned long lineno = 0;
	char *buf = NULL;
	size_t cap = 0;
	ssize_t n;
	int ret = 0;

	memset(m, 0, sizeof(*m));
	while ((n = getline(&buf, &cap, f)) >= 0) {
		char *line, *eq;

		lineno++;
		if (n > 0 && buf[n - 1] != '\n' && !feof(f)) {
			ret = xsw_err_set(err, EINVAL, "%s:%lu: line too long", fname, lineno);
			goto out;
		}
		line = trim(buf);
		if (!*line || *line == '#')
			continue;
		if (!strncmp(line, "leaf=", 5)) {
			struct xsw_cpuid_entry e;

			if (!have_format) {
				ret = xsw_err_set(err, EINVAL,
						  "%s:%lu: register line before 'format=%s'",
						  fname, lineno, CPU_MODEL_FORMAT);
				goto out;
			}
			ret = parse_regs_line(line, fname, lineno, &e, err);
			if (ret)
				goto out;
			for (unsigned int i = 0; i < m->nr_entries; i++) {
				if (m->entries[i].leaf == e.leaf && m->entries[i].subleaf == e.subleaf) {
					ret = xsw_err_set(err, EINVAL,
							  "%s:%lu: leaf 0x%x sub-leaf 0x%x listed twice",
							  fname, lineno, e.leaf, e.subleaf);
					goto out;
				}
			}
			if (xsw_cpu_model_set(m, e.leaf, e.subleaf, &e.r)) {
				ret = xsw_err_set(err, ENOSPC, "%s:%lu: more than %d entries",
						  fname, lineno, XSW_CPU_MODEL_MAX_ENTRIES);
				goto out;
			}
			continue;
		}
		eq = strchr(line, '=');
		if (!eq) {
			ret = xsw_err_set(err, EINVAL, "%s:%lu: expected key=value, got '%.40s'",
					  fname, lineno, line);
			goto out;
		}
		*eq = '\0';
		if (!strcmp(line, "format")) {
			const char *v = trim(eq + 1);

			if (strcmp(v, CPU_MODEL_FORMAT)) {
				ret = xsw_err_set(err, EINVAL,
						  strncmp(v, CPU_MODEL_FORMAT_PREFIX, strlen(CPU_MODEL_FORMAT_PREFIX)) ?
						  "%s:%lu: field 'format': '%s' is not an xstate-watch CPU model (want %s)" :
						  "%s:%lu: field 'format': version '%s' is not supported (want %s)",
						  fname, lineno, v, CPU_MODEL_FORMAT);
				goto out;
			}
			have_format = true;
		} else if (!strcmp(line, "name")) {
			snprintf(m->name, sizeof(m->name), "%s", trim(eq + 1));
		} else if (!strcmp(line, "source")) {
			snprintf(m->source, sizeof(m->source), "%s", trim(eq + 1));
		} else {
			ret = xsw_err_set(err, EINVAL, "%s:%lu: field '%s': unknown field",
					  fname, lineno, line);
			goto out;
		}
	}
	if (ferror(f)) {
		ret = xsw_err_set(err, EIO, "%s: read error", fname);
		goto out;
	}
	if (!have_format) {
		ret = xsw_err_set(err, EINVAL, "%s: no 'format=%s' line (empty or not a CPU model file)",
				  fname, CPU_MODEL_FORMAT);
		goto out;
	}
	ret = validate(m, fname, err);
out:
	free(buf);
	return ret;
}

int xsw_cpu_model_load(struct xsw_cpu_model *m, const char *path, struct xsw_err *err)
{
	FILE *f = fopen(path, "re");
	int ret;

	if (!f)
		return xsw_err_set(err, errno, "%s: cannot open CPU model: %s", path, strerror(errno));
	ret = xsw_cpu_model_parse(m, f, path, err);
	fclose(f);
	return ret;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct xsw_cpuid_entry *x = a, *y = b;

	if (x->leaf != y->leaf)
		return x->leaf < y->leaf ? -1 : 1;
	if (x->subleaf != y->subleaf)
		return x->subleaf < y->subleaf ? -1 : 1;
	return 0;
}

int xsw_cpu_model_write(const struct xsw_cpu_model *m, FILE *f)
{
	struct xsw_cpuid_entry sorted[XSW_CPU_MODEL_MAX_ENTRIES];
	char names[256];
	unsigned int i;

	memcpy(sorted, m->entries, m->nr_entries * sizeof(sorted[0]));
	qsort(sorted, m->nr_entries, sizeof(sorted[0]), cmp_entry);
	fprintf(f, "# xstate-watch CPU model (docs/cpu-model-format.md)\n");
	fprintf(f, "# supported xcr0 0x%" PRIx64 " (%s)\n", xsw_xcr0_supported(m),
		xsw_xfeatures_format(xsw_xcr0_supported(m), names, sizeof(names)));
	fprintf(f, "# supported xss  0x%" PRIx64 " (%s)\n", xsw_xss_supported(m),
		xsw_xfeatures_format(xsw_xss_supported(m), names, sizeof(names)));
	fprintf(f, "format=%s\n", CPU_MODEL_FORMAT);
	if (m->name[0])
		fprintf(f, "name=%s\n", m->name);
	if (m->source[0])
		fprintf(f, "source=%s\n", m->source);
	for (i = 0; i < m->nr_entries; i++)
		fprintf(f, "leaf=0x%08x subleaf=0x%02x eax=0x%08x ebx=0x%08x ecx=0x%08x edx=0x%08x\n",
			sorted[i].leaf, sorted[i].subleaf, sorted[i].r.eax, sorted[i].r.ebx,
			sorted[i].r.ecx, sorted[i].r.edx);
	return ferror(f) ? -EIO : 0;
}
