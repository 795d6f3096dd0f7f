/*
 * linefold - fold and dot-stuff outbound message lines; see linefold.h.
 *
 * SYNOPSIS
 *	linefold_init(&lf, LINEFOLD_SMTP_MAX, true);
 *	while (more)
 *		linefold_feed(&lf, block, n, out);
 *
 * DESCRIPTION
 *	The only state is the column of the current output line, so any
 *	split of the input gives the same output. Runs of octets that need
 *	nothing are appended with one call; a fold or a stuffing dot cuts
 *	the run. A line that cannot reach the fold is skipped to its LF
 *	with memchr() rather than looked at octet by octet.
 */
#include "linefold.h"

#include <assert.h>
#include <string.h>

#include "sbuf.h"

void linefold_init(struct linefold *lf, size_t max, bool dot_stuff)
{
	assert(max == 0 || max >= 2);
	lf->max = max;
	lf->dot_stuff = dot_stuff;
	lf->col = 0;
	lf->folds = 0;
}

bool linefold_feed(struct linefold *lf, const void *data, size_t len,
                   struct sbuf *out)
{
	const unsigned char *p = data, *lf_at;
	size_t run = 0, i = 0;

	while (i < len) {
		unsigned char c = p[i++];

		if (c == '\n') {
			lf->col = 0;
			continue;
		}
		if (c == '\r')
			continue; /* the line end: counts toward nothing */
		if (lf->col == 0 && c == '.' && lf->dot_stuff) {
			if (!sbuf_append(out, p + run, i - 1 - run) ||
			    !sbuf_append(out, ".", 1))
				return false;
			run = i - 1;
			lf->col = 1;
		} else if (lf->max != 0 && lf->col >= lf->max) {
			if (!sbuf_append(out, p + run, i - 1 - run) ||
			    !sbuf_append(out, "\r\n ", 3))
				return false;
			run = i - 1;
			lf->col = 1;
			lf->folds++;
		}
		lf->col++;
		/* Past the line's first octet, only a fold can cut the run:
		 * when the rest up to the LF cannot reach max, go to the LF
		 * (its CRs would only make the line shorter). */
		lf_at = memchr(p + i, '\n', len - i);
		if (lf_at != NULL &&
		    (lf->max == 0 ||
		     lf->col + (size_t)(lf_at - (p + i)) <= lf->max))
			i = (size_t)(lf_at - p);
	}
	return sbuf_append(out, p + run, len - run);
}
