/* SPDX-License-Identifier: GPL-2.0 */
/* Helpers shared by the cmocka unit tests. */
#ifndef XSW_UNIT_H
#define XSW_UNIT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "xstate.h"

/*
 * Skip with a reason the runner prints (tests/run-tests reads the
 * "# skip reason:" line; cmocka's own skip() carries none).
 */
#define skip_because(...) do {				\
		printf("# skip reason: " __VA_ARGS__);	\
		printf("\n");				\
		fflush(stdout);				\
		skip();					\
	} while (0)

/* Path of a file under the source tree: $XSW_TOP/<rel>, else ./<rel>. */
static inline const char *xsw_test_path(const char *rel)
{
	static char buf[8][1024];
	static int slot;
	const char *top = getenv("XSW_TOP");
	char *p = buf[slot++ % 8];

	snprintf(p, 1024, "%s/%s", top && *top ? top : ".", rel);
	return p;
}

/*
 * Load tests/fixtures/cpu/@name into @m: from $XSW_TOP when set, else
 * relative to the test binary (build/tests/unit or build/san/tests/unit).
 * Fails the test when the fixture cannot be read.
 */
static inline void xsw_test_load_cpu(struct xsw_cpu_model *m, const char *name)
{
	static const char *const ups[] = { "../../..", "../../../.." };
	struct xsw_err err = { 0 };
	const char *top = getenv("XSW_TOP");
	char path[2 * PATH_MAX], exe[PATH_MAX];
	unsigned int i;
	ssize_t n;

	if (top && *top) {
		snprintf(path, sizeof(path), "%s/tests/fixtures/cpu/%s", top, name);
		if (!xsw_cpu_model_load(m, path, &err))
			return;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		*strrchr(exe, '/') = '\0';
		for (i = 0; i < 2; i++) {
			snprintf(path, sizeof(path), "%s/%s/tests/fixtures/cpu/%s", exe, ups[i], name);
			if (!xsw_cpu_model_load(m, path, &err))
				return;
		}
	}
	fail_msg("cannot load CPU model fixture %s (set XSW_TOP): %s", name, err.msg);
}

#endif /* XSW_UNIT_H */
