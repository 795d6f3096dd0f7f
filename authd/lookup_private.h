/*
 * lookup_private.h - shared by lookup.c (what an entry means),
 * lookup_job.c (jobs, tasks, cache, coalescing) and lookup_group.c (group
 * expansion). Not for other modules.
 */
#ifndef DIRMX_LOOKUP_PRIVATE_H
#define DIRMX_LOOKUP_PRIVATE_H

#include <stdbool.h>
#include <sys/queue.h>

#include "ldconn.h"
#include "ldpool.h"
#include "lookup.h"

#define LOOKUP_ADDR_MAX 512

/* Heads the cached blob of an internal relay's unknown address. */
#define LOOKUP_BLOB_RELAYED "\trelayed\n"

/* A set of strings (open addressing); for DNs and addresses seen. */
struct strset {
	char **slots;
	size_t cap, n;
};
/* Add key (copied); false when it was already there. */
bool lookup_set_add(struct strset *s, const char *key);
void lookup_set_free(struct strset *s);

enum task_kind {
	TASK_ADDR,  /* find the owner of addr */
	TASK_DN,    /* read one object by DN (a group member) */
	TASK_RANGE, /* read the next slice of a ranged member attribute */
	TASK_DNS,   /* read up to LOOKUP_DN_BATCH members in one search */
	TASK_OWNER, /* read a group's owner by DN: where reports go */
};

/* Members read in one search: (|(entryDN=..)..) on OpenLDAP,
 * (|(distinguishedName=..)..) on AD; under every size limit we know of
 * (OpenLDAP's and AD's defaults are 500 and 1000). */
#define LOOKUP_DN_BATCH 400

struct task {
	struct job *j;
	enum task_kind kind;
	char *addr;  /* ADDR: the address as looked up */
	char *dn;    /* DN, RANGE */
	char *attr;  /* RANGE: the member attribute's base name */
	char *chain; /* forwarding chain so far, "\n"-separated */
	char **dns;  /* DNS: the member DNs asked for */
	size_t n_dns;
	unsigned depth;
	unsigned range_start;
	unsigned rnode; /* the restricted entry above it (lookup_job_rnode) */
	bool stripped;  /* ADDR: the +detail was already removed */
	struct ldpool_req *req;
	TAILQ_ENTRY(task) link; /* in its job's queue, or running */
};

struct lookup_req;

struct job {
	struct lookup *lk;
	char *key;     /* lowercased canonical address + flags */
	char *address; /* canonical address */
	unsigned flags;
	LIST_HEAD(, lookup_req) waiters;
	TAILQ_HEAD(, task) queue;
	TAILQ_HEAD(, task) running;
	unsigned inflight;
	struct lookup_dest *dests;
	size_t n_dests, cap_dests; /* doubling: a group has thousands */
	struct strset dest_set, dn_set;
	struct strset tags; /* what the answer depends on (lookup.h) */
	uint64_t inval_seq; /* lk->inval_seq when the job started */
	char **trace;
	size_t n_trace;
	bool status_set, finishing;
	/* Internal relay: the address is not in the directory and goes to
	 * the other mail system (cached with the negative TTL). */
	bool relayed_unknown;
	enum lookup_status status;
	char *reason;
	/* Why a branch of the expansion was dropped (the first one): the
	 * answer's reason when nothing deliverable is left. */
	char *skip_reason;
	char *dc;
	/* Sender restrictions met (restrict_node, rules owned), and the
	 * node of the entry being read: its tasks and dests inherit it. */
	struct restrict_node *rnodes;
	size_t n_rnodes;
	unsigned cur_rnode;
	unsigned searches;
	struct evloop_timer *start;
	void (*begin)(struct job *j); /* the first step, from start */
	LIST_ENTRY(job) link;
};

struct lookup {
	struct event_base *base;
	struct ldpool *pool;
	struct ldpool *gc_pool;
	struct domains *domains;
	const struct dirmap *dm; /* what an entry means; not owned */
	struct lookup_map map;
	char **strings; /* everything the map points to, to free */
	size_t n_strings;
	struct cache *cache;
	uint64_t inval_seq;    /* bumped by each invalidation and flush */
	bool watched;          /* directory changes are followed */
	bool deletions_unseen; /* ... but not deletions (AD, no right) */
	bool batch_addr;       /* address searches may share one (ldpool.h) */
	char **addr_attrs;     /* what they read: the filter's attributes too */
	LIST_HEAD(, job) jobs;
	void *job_tree; /* the same jobs by (flags, key): lookup_job.c */
	struct lookup_stats stats;
};

struct dirmap;

/* lookup.c */
void lookup_job_begin(struct job *j);
void lookup_process_entry(struct job *j, const struct ldconn_entry *e,
                          const char *addressed, unsigned depth,
                          const char *chain);
void lookup_addr_result(struct job *j, struct task *t,
                        const struct ldconn_result *res);
void lookup_task_finished(struct job *j);

/* lookup_job.c */
void lookup_task_addr(struct job *j, const char *addr, unsigned depth,
                      const char *chain);
void lookup_task_dn(struct job *j, const char *dn, unsigned depth);
/* Read the owner (dn) of the group of restricted node j->cur_rnode, whose
 * reports go to the owner's address (lookup_owner_result()). */
void lookup_task_owner(struct job *j, const char *dn);
/* Members by DN: one base search for a single one, batches of
 * LOOKUP_DN_BATCH otherwise (takes the strings). */
void lookup_task_dns(struct job *j, char **dns, size_t n, unsigned depth);
void lookup_task_range(struct job *j, const char *dn, const char *attr,
                       unsigned start, unsigned depth);
struct task *lookup_task_dequeue(struct job *j);
void lookup_task_send(struct job *j, struct task *t, ldpool_result_cb *done);
/* A task's search ended: out of the running list (done's first step),
 * then freed when its result was used. */
void lookup_task_detach(struct task *t);
void lookup_task_free(struct task *t);
/* lookup_start() with the job's first step: begin runs from a timer. */
struct lookup_req *lookup_job_start(struct lookup *lk, const char *address,
                                    unsigned flags, lookup_cb *cb, void *ctx,
                                    void (*begin)(struct job *j));
void lookup_job_cancel_tasks(struct job *j);
void lookup_job_finish(struct job *j);
bool lookup_try_subaddress(struct job *j, struct task *t);

/* A restricted entry: a new node under j->cur_rnode (takes rules). */
unsigned lookup_job_rnode(struct job *j, char *rules, bool top);
/* lookup_owner.c: the owner's entry read (TASK_OWNER). */
void lookup_owner_result(struct job *j, struct task *t,
                         const struct ldconn_result *res);

/* lookup_cache.c: keep the job's answer, as the TTL rules say */
void lookup_cache_store(struct job *j);

/* A cached OK answer, read back: dests and rnodes point into text. */
struct lookup_blob {
	char *text;
	bool relayed; /* internal relay: an address no object holds */
	struct lookup_dest *dests;
	size_t n_dests;
	struct restrict_node *rnodes;
	size_t n_rnodes;
	char *spelling; /* the address as this request wrote it */
};
/* The cache key is case-folded: the address itself is answered as
 * spelling writes it, not as the request that filled the cache did. */
void lookup_blob_parse(struct lookup_blob *b, const void *v, size_t len,
                       const char *spelling);
void lookup_blob_clear(struct lookup_blob *b);

/* lookup_util.c */
/* Add a line to the answer's trace, when the request asked for one. */
void lookup_trace(struct job *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
bool lookup_chain_has(const char *chain, const char *addr_lower);
/* A copy with ASCII letters lowered (addresses, cache keys). */
char *lookup_lower_dup(const char *s);
char *lookup_chain_add(const char *chain, const char *addr_lower);
/* Record that the answer depends on kind ('g', 'd', 'a') + value. */
void lookup_tag(struct job *j, char kind, const char *value);

/* lookup_group.c */
void lookup_expand_group(struct job *j, const struct ldconn_entry *e,
                         unsigned depth);
void lookup_range_result(struct job *j, struct task *t,
                         const struct ldconn_result *res);
void lookup_dns_result(struct job *j, struct task *t,
                       const struct ldconn_result *res);

#endif
