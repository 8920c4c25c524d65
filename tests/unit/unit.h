/* SPDX-License-Identifier: GPL-2.0 */
/* Helpers shared by the cmocka unit tests. */
#ifndef XSW_UNIT_H
#define XSW_UNIT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

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

#endif /* XSW_UNIT_H */
