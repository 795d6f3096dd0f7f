/*
 * ldconn_live - how many setup threads are still running, so that a
 * program can wait for them before it exits.
 *
 * Setup threads are detached and may still be inside libldap (a bind to a
 * standby DC) when the loop side has let go of them. If the process then
 * returns from main(), libldap's and GnuTLS's destructors free the state
 * such a thread is using, and it crashes the process on its way out
 * (seen: "double free" in libldap's fini while a thread waited in
 * ldap_sasl_bind_s). Every setup ends within its bound (twice the
 * connection timeout), so waiting for them is bounded too.
 */
#include "ldconn_private.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t live_cond = PTHREAD_COND_INITIALIZER;
static unsigned live_n;
static struct timespec live_until; /* when the last of them must end */

void ldconn_live_enter(unsigned bound_ms)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	/* Its bound, and a second for the thread's way out. */
	t.tv_sec += bound_ms / 1000 + 1;
	t.tv_nsec += (long)(bound_ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&live_lock);
	live_n++;
	if (t.tv_sec > live_until.tv_sec ||
	    (t.tv_sec == live_until.tv_sec && t.tv_nsec > live_until.tv_nsec))
		live_until = t;
	pthread_mutex_unlock(&live_lock);
}

void ldconn_live_leave(void)
{
	pthread_mutex_lock(&live_lock);
	if (--live_n == 0)
		pthread_cond_broadcast(&live_cond);
	pthread_mutex_unlock(&live_lock);
}

unsigned ldconn_setups_wait(void)
{
	unsigned n;

	pthread_mutex_lock(&live_lock);
	while (live_n > 0 && pthread_cond_timedwait(&live_cond, &live_lock,
	                                            &live_until) != ETIMEDOUT)
		;
	n = live_n;
	pthread_mutex_unlock(&live_lock);
	return n;
}
