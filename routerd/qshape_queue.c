/*
 * qshape_queue - the shape of routerd's live queue (qshape.h): one walk
 * over the queue's views, on the loop thread, for dirmxctl queue summary.
 */
#include "qshape.h"

#include "queue.h"

struct walk {
	struct qshape *shape;
	int state;
	uint64_t now;
};

static void add_view(void *ctx, const struct queue_view *v)
{
	struct walk *w = ctx;

	if (w->state < 0 || (int)qshape_state_of(v) == w->state)
		qshape_add(w->shape, v, w->now);
}

void qshape_queue(struct queue *q, int state, uint64_t now, struct sbuf *out)
{
	struct walk w = {.shape = qshape_new(), .state = state, .now = now};

	queue_foreach(q, add_view, &w);
	qshape_render(w.shape, out);
	qshape_deinit(&w.shape);
}
