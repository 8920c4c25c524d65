/* SPDX-License-Identifier: GPL-2.0 */
/*
 * JSON-lines form of struct xsw_event (jansson). One object per line:
 *   {"schema":1,"event":"set_cpuid","ts_ns":...,"pid":...,...}
 * Masks are written as hex strings ("0x207") and read back from hex strings
 * or integers; sizes are integers. docs/event-schema.md lists every field.
 */
#ifndef XSW_EVENT_JSON_H
#define XSW_EVENT_JSON_H

#include <stdio.h>

#include "xsw_err.h"
#include "xsw_event.h"

/* "set_cpuid" for XSW_EV_SET_CPUID; NULL when out of range. */
const char *xsw_event_type_name(unsigned int type);
int xsw_event_type_from_name(const char *name);	/* -1 when unknown */
const char *xsw_source_name(unsigned int source);
int xsw_source_from_name(const char *name);

/* Encode one event as a single line (no trailing newline); caller frees. */
char *xsw_event_to_json(const struct xsw_event *ev);
/* Write one line with '\n'. Returns 0 or -errno. */
int xsw_event_write_json(FILE *f, const struct xsw_event *ev);

/*
 * Decode one line. @fname and @lineno only label errors, which name the
 * field and the problem ("trace.jsonl:12: field 'vcpu_id': expected integer").
 * Unknown fields are ignored (forward compatibility within a schema
 * version); a missing or newer "schema", an unknown "event", or a field of
 * the wrong type is an error.
 */
int xsw_event_from_json(const char *line, struct xsw_event *ev, const char *fname,
			unsigned long lineno, struct xsw_err *err);

/*
 * Read a JSON-lines file event by event. Blank lines and lines starting
 * with '#' are skipped.
 */
struct xsw_event_reader;
struct xsw_event_reader *xsw_event_reader_open(const char *path, struct xsw_err *err);
/* 1: an event, 0: end of file, <0: error (in @err, reader stays usable). */
int xsw_event_reader_next(struct xsw_event_reader *r, struct xsw_event *ev,
			  struct xsw_err *err);
void xsw_event_reader_close(struct xsw_event_reader *r);

#endif /* XSW_EVENT_JSON_H */
