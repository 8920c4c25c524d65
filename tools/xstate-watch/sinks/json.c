// SPDX-License-Identifier: GPL-2.0
/*
 * JSON-lines sink: every event and every finding, in the schema of
 * xsw_event_json.h, so that `xstate-watch replay` reads back what
 * `--json` wrote. Lines are flushed as they are written: a reader tailing
 * the file (or a pipe) sees each event when it happens.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sinks.h"
#include "xsw_event_json.h"

struct json_sink {
	FILE *f;
	bool close_file;
	bool failed;		/* report a write error once */
};

static void json_on_event(void *ctx, struct xsw_engine *eng, const struct xsw_event *ev,
			  const struct xsw_vcpu_state *vcpu)
{
	struct json_sink *s = ctx;
	int err = xsw_event_write_json(s->f, ev);

	if (!err && fflush(s->f) == EOF)
		err = -errno;
	if (err && !s->failed) {
		s->failed = true;
		fprintf(stderr, "xstate-watch: writing JSON events: %s\n", strerror(-err));
	}
}

static void json_close(void *ctx, struct xsw_engine *eng)
{
	struct json_sink *s = ctx;

	if (s->close_file)
		fclose(s->f);
	else
		fflush(s->f);
	free(s);
}

int xsw_json_sink_new(FILE *f, bool close_file, struct xsw_sink *out)
{
	struct json_sink *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->f = f;
	s->close_file = close_file;
	memset(out, 0, sizeof(*out));
	out->name = "json";
	out->ctx = s;
	out->on_event = json_on_event;
	out->close = json_close;
	return 0;
}
