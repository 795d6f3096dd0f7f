/*
 * evloop - timers and signals on a libevent event_base; see evloop.h.
 */
#include "evloop.h"

#include <event2/event.h>
#include <stdlib.h>
#include <time.h>

#include "alloc.h"
#include "log.h"

struct evloop_timer {
	struct event *ev;
	evloop_callback_t *callback;
	void *context;
};

struct evloop_signal {
	struct event *ev;
	evloop_callback_t *callback;
	void *context;
};

static void *must(void *p, const char *what)
{
	if (p == NULL) {
		log_error("-", "event=fatal reason=\"%s failed\"", what);
		abort();
	}
	return p;
}

/*
 * A zero-delay timer runs in the round of callbacks it was started in
 * (evloop_timer_start_tv), so a chain of them could hold the loop: after
 * this many callbacks it looks at its descriptors and timers again.
 */
#define MAX_CALLBACKS_PER_POLL 64

struct event_base *evloop_new(void)
{
	struct event_config *cfg = must(event_config_new(), "event_config_new");
	struct event_base *base;

	if (event_config_set_max_dispatch_interval(
	        cfg, NULL, MAX_CALLBACKS_PER_POLL, 0) < 0)
		must(NULL, "event_config_set_max_dispatch_interval");
	base = must(event_base_new_with_config(cfg), "event_base_new");
	event_config_free(cfg);
	return base;
}

void evloop_free(struct event_base **base)
{
	if (*base == NULL)
		return;
	event_base_free(*base);
	*base = NULL;
}

void evloop_run(struct event_base *base)
{
	if (event_base_dispatch(base) < 0)
		log_error("-",
		          "event=fatal reason=\"event_base_dispatch failed\"");
}

void evloop_break(struct event_base *base)
{
	(void)event_base_loopbreak(base);
}

void evloop_ms_to_timeval(unsigned int ms, struct timeval *tv_r)
{
	tv_r->tv_sec = ms / 1000;
	tv_r->tv_usec = (suseconds_t)(ms % 1000) * 1000;
}

static void timer_fired(evutil_socket_t fd, short what, void *arg)
{
	struct evloop_timer *timer = arg;

	timer->callback(timer->context);
}

struct evloop_timer *evloop_timer_new(struct event_base *base,
                                      evloop_callback_t *callback,
                                      void *context)
{
	struct evloop_timer *timer = alloc_new(struct evloop_timer);

	timer->callback = callback;
	timer->context = context;
	timer->ev = must(evtimer_new(base, timer_fired, timer), "evtimer_new");
	return timer;
}

uint64_t evloop_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void evloop_timer_start(struct evloop_timer *timer, unsigned int ms)
{
	struct timeval tv;

	evloop_ms_to_timeval(ms, &tv);
	evloop_timer_start_tv(timer, &tv);
}

void evloop_timer_start_tv(struct evloop_timer *timer, const struct timeval *tv)
{
	if (tv->tv_sec == 0 && tv->tv_usec == 0) {
		/* Now: after the callbacks already due, in this round. A
		 * timer would cost the loop one more poll of every
		 * descriptor (epoll_wait) before it ran. */
		(void)evtimer_del(timer->ev);
		event_active(timer->ev, EV_TIMEOUT, 1);
		return;
	}
	if (evtimer_add(timer->ev, tv) < 0)
		must(NULL, "evtimer_add");
}

void evloop_timer_stop(struct evloop_timer *timer)
{
	(void)evtimer_del(timer->ev);
}

bool evloop_timer_pending(const struct evloop_timer *timer)
{
	return evtimer_pending(timer->ev, NULL) != 0;
}

void evloop_timer_free(struct evloop_timer **timer)
{
	if (*timer == NULL)
		return;
	event_free((*timer)->ev);
	free(*timer);
	*timer = NULL;
}

static void signal_fired(evutil_socket_t fd, short what, void *arg)
{
	struct evloop_signal *sig = arg;

	sig->callback(sig->context);
}

struct evloop_signal *evloop_signal_new(struct event_base *base, int signo,
                                        evloop_callback_t *callback,
                                        void *context)
{
	struct evloop_signal *sig = alloc_new(struct evloop_signal);

	sig->callback = callback;
	sig->context = context;
	sig->ev =
	    must(evsignal_new(base, signo, signal_fired, sig), "evsignal_new");
	if (evsignal_add(sig->ev, NULL) < 0)
		must(NULL, "evsignal_add");
	return sig;
}

void evloop_signal_free(struct evloop_signal **sig)
{
	if (*sig == NULL)
		return;
	event_free((*sig)->ev);
	free(*sig);
	*sig = NULL;
}
