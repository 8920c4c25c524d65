// SPDX-License-Identifier: GPL-2.0
/*
 * Drive the collector's own engine with a model scenario: the events go
 * through xsw_engine_feed() exactly as the probes' and a replayed trace's
 * do, and the verdict is whatever the engine's checks (I1-I5, lints)
 * conclude, not the model's own arithmetic.
 */
#include <errno.h>
#include <string.h>

#include "engine.h"
#include "model.h"
#include "xsw_event_json.h"

struct judge {
	struct xsw_engine *eng;
	struct xsw_model_verdict *v;
	FILE *events;
	int write_err;
};

static void judge_on_event(void *ctx, struct xsw_engine *eng, const struct xsw_event *ev,
			   const struct xsw_vcpu_state *vcpu)
{
	struct judge *j = ctx;

	if (j->events && xsw_event_write_json(j->events, ev))
		j->write_err = -EIO;
	if (ev->type != XSW_EV_VIOLATION && ev->type != XSW_EV_LINT)
		return;
	if (ev->type == XSW_EV_VIOLATION)
		j->v->nr_violations++;
	else
		j->v->nr_lints++;
	if (j->v->nr_findings < XSW_MODEL_MAX_FINDINGS)
		j->v->findings[j->v->nr_findings++] = *ev;
}

static void judge_feed(void *arg, const struct xsw_event *ev)
{
	struct judge *j = arg;

	j->v->nr_events++;
	xsw_engine_feed(j->eng, ev);
}

int xsw_model_judge(const struct xsw_model_scenario *s, struct xsw_model_result *r,
		    struct xsw_model_verdict *v, FILE *events, struct xsw_err *err)
{
	struct xsw_engine_opts opts = { 0 };
	struct judge j = { .v = v, .events = events };
	struct xsw_sink sink = {
		.name = "model",
		.ctx = &j,
		.on_event = judge_on_event,
	};
	int ret;

	memset(v, 0, sizeof(*v));
	if (!s->cpu)
		return xsw_err_set(err, EINVAL, "model: no CPU model given");
	opts.cpu = s->cpu;
	opts.compacted = xsw_kernel_uses_compacted(s->cpu);
	j.eng = xsw_engine_new(&opts);
	if (!j.eng)
		return xsw_err_set(err, ENOMEM, "model: cannot create the engine");
	ret = xsw_engine_add_sink(j.eng, &sink);
	if (ret) {
		xsw_engine_free(j.eng);
		return xsw_err_set(err, -ret > 0 ? -ret : EINVAL, "model: cannot add the engine sink");
	}
	ret = xsw_model_run(s, r, judge_feed, &j, err);
	xsw_engine_free(j.eng);
	if (!ret && j.write_err)
		ret = xsw_err_set(err, EIO, "model: writing the event trace failed");
	return ret;
}
