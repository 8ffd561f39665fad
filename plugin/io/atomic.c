/* The atomic part-file writer and the registry its signal handler walks (see atomic.h). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "error.h"
#include "io/atomic.h"
#include "memory.h"

_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "the signal handler reads the slots' states lock-free");
_Static_assert(ATOMIC_POINTER_LOCK_FREE == 2, "the signal handler follows the blocks' links lock-free");

/* What the handler does with a slot's files. */
enum {
    SLOT_FREE,    /* unused */
    SLOT_HELD,    /* being filled, or an adopted file not yet renamed: left alone */
    SLOT_PART,    /* a part being written: unlinked */
    SLOT_RENAMING /* its rename is under way or done: the part (if any) and the final unlinked */
};

/* The registry: blocks of slots in a list that only grows (blocks live until the process ends),
 * so that the handler can walk it while another thread appends a block. The paths point into
 * their set's entries, which outlive the slot (freed after it). */
typedef struct {
    _Atomic int state;
    const char *part; /* NULL for an adopted file, which a signal leaves */
    const char *final;
} slot;

enum { SLOTS_PER_BLOCK = 1024 };

typedef struct block {
    slot slots[SLOTS_PER_BLOCK];
    struct block *_Atomic next;
} block;

static block first_block;

struct dx_atomic_entry {
    char *from;  /* the part (FINAL.part) or the adopted file */
    char *final;
    slot *slot;
};

static const int cleanup_signals[] = {SIGINT, SIGTERM, SIGHUP};

/* Async-signal-safe: atomic loads, unlink(), raise(). */
static void on_signal(int sig)
{
    for (block *b = &first_block; b; b = atomic_load(&b->next))
        for (int k = 0; k < SLOTS_PER_BLOCK; ++k) {
            slot *t = &b->slots[k];
            int state = atomic_load(&t->state);
            if (state >= SLOT_PART && t->part) unlink(t->part);
            if (state == SLOT_RENAMING) unlink(t->final);
        }
    /* SA_RESETHAND restored the default action and sig is blocked until the handler returns:
     * the process then dies of it, and its exit status says so */
    raise(sig);
}

static void install_handler(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    for (size_t k = 0; k < sizeof cleanup_signals / sizeof *cleanup_signals; ++k)
        sigaddset(&sa.sa_mask, cleanup_signals[k]);
    for (size_t k = 0; k < sizeof cleanup_signals / sizeof *cleanup_signals; ++k) {
        struct sigaction old;
        if (sigaction(cleanup_signals[k], NULL, &old) == 0 && !(old.sa_flags & SA_SIGINFO) &&
            old.sa_handler == SIG_DFL)
            sigaction(cleanup_signals[k], &sa, NULL);
    }
}

/* A free slot for (part, final) in state, in a new block when every block is full; NULL when out
 * of memory. */
static slot *claim_slot(const char *part, const char *final, int state)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, install_handler);
    for (block *b = &first_block;;) {
        for (int k = 0; k < SLOTS_PER_BLOCK; ++k) {
            slot *t = &b->slots[k];
            int expected = SLOT_FREE;
            if (atomic_compare_exchange_strong(&t->state, &expected, SLOT_HELD)) {
                t->part = part;
                t->final = final;
                atomic_store(&t->state, state);
                return t;
            }
        }
        block *next = atomic_load(&b->next);
        if (!next) { /* zeroed: every slot SLOT_FREE; a block another thread linked first wins.
                      * Plain calloc: the registry is lock-free for the signal handler, and
                      * add_entry reports the failure. */
            block *fresh = calloc(1, sizeof *fresh);
            if (!fresh) return NULL;
            if (atomic_compare_exchange_strong(&b->next, &next, fresh)) next = fresh;
            else free(fresh);
        }
        b = next;
    }
}

/* Appends (from, final) to the set, registered in state; part: from is a part a signal removes.
 * from NULL: its allocation failed (err says so). */
static dx_atomic_entry *add_entry(dx_atomic_set *s, char *from, const char *final, int part, dx_error *err)
{
    char *final_copy = from ? dx_strdup(final, final, err) : NULL;
    if (final_copy && s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 8;
        dx_atomic_entry *e = dx_realloc_array(s->e, cap, sizeof *e, final, err);
        if (e) s->e = e, s->cap = cap;
    }
    if (!from || !final_copy || s->n == s->cap) {
        free(from);
        free(final_copy);
        return NULL;
    }
    slot *t = claim_slot(part ? from : NULL, final_copy, part ? SLOT_PART : SLOT_HELD);
    if (!t) {
        dx_set_error(err, "out of memory for %s", final);
        free(from);
        free(final_copy);
        return NULL;
    }
    dx_atomic_entry *e = &s->e[s->n++];
    *e = (dx_atomic_entry){from, final_copy, t};
    return e;
}

const char *dx_atomic_add(dx_atomic_set *s, const char *final, dx_error *err)
{
    size_t len = strlen(final);
    char *part = dx_alloc(len + sizeof ".part", 1, final, err);
    if (part) memcpy(part, final, len), memcpy(part + len, ".part", sizeof ".part");
    dx_atomic_entry *e = add_entry(s, part, final, 1, err);
    return e ? e->from : NULL;
}

int dx_atomic_adopt(dx_atomic_set *s, const char *written, const char *final, dx_error *err)
{
    return add_entry(s, dx_strdup(written, final, err), final, 0, err) ? 0 : -1;
}

int dx_atomic_commit(dx_atomic_set *s, int rc, dx_error *err)
{
    int renamed = 0;
    while (rc == 0 && renamed < s->n) {
        dx_atomic_entry *e = &s->e[renamed];
        atomic_store(&e->slot->state, SLOT_RENAMING);
        if (rename(e->from, e->final) != 0) {
            dx_set_error(err, "%s: cannot write: %s", e->final, strerror(errno));
            rc = -1;
        } else {
            ++renamed;
        }
    }
    for (int k = 0; k < s->n; ++k) {
        dx_atomic_entry *e = &s->e[k];
        if (rc != 0) {
            unlink(e->from);
            if (k < renamed) unlink(e->final);
        }
        atomic_store(&e->slot->state, SLOT_FREE);
        free(e->from);
        free(e->final);
    }
    free(s->e);
    *s = (dx_atomic_set){0};
    return rc;
}

int dx_atomic_fopen(dx_atomic_file *out, const char *path, dx_error *err)
{
    out->set = (dx_atomic_set){0};
    const char *part = dx_atomic_add(&out->set, path, err);
    out->f = part ? fopen(part, "wb") : NULL;
    if (out->f) return 0;
    if (part) dx_set_error(err, "%s: cannot write: %s", part, strerror(errno));
    return dx_atomic_commit(&out->set, -1, err);
}

int dx_atomic_fclose(dx_atomic_file *out, int ok, dx_error *err)
{
    const char *path = out->set.e[0].final;
    int written = ok && !ferror(out->f);
    int closed = fclose(out->f) == 0; /* buffered data reaches the disk here: a full disk shows now */
    out->f = NULL;
    if (!written) dx_set_error(err, "%s: write failed", path);
    else if (!closed) dx_set_error(err, "%s: write failed: %s", path, strerror(errno));
    return dx_atomic_commit(&out->set, written && closed ? 0 : -1, err);
}
