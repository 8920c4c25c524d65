/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Error reporting shared by the tools: a message naming the input (file,
 * line, field) and the problem, and an errno-style code.
 */
#ifndef XSW_ERR_H
#define XSW_ERR_H

#include <stddef.h>

struct xsw_err {
	int code;		/* negative errno, 0 when no error */
	char msg[512];
};

/* Set @err (may be NULL) and return -@errnum (errnum > 0). */
__attribute__((format(printf, 3, 4)))
int xsw_err_set(struct xsw_err *err, int errnum, const char *fmt, ...);
static inline void xsw_err_clear(struct xsw_err *err)
{
	if (err) {
		err->code = 0;
		err->msg[0] = '\0';
	}
}

/* "EBUSY" for EBUSY; "E<n>" for unknown values. Sign ignored. */
const char *xsw_errno_name(int errnum);

#endif /* XSW_ERR_H */
