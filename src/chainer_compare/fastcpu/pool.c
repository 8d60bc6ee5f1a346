/* The kernels' thread pool: one call from Python runs a kernel over [0, n) in
 * chunks on the calling thread and persistent worker threads, without the GIL.
 *
 * Why not Python threads: each Python-level split woke a worker through a
 * queue and the GIL, and it joined a median 0.1 ms late (p90 0.3 ms) -- on
 * ResNet-20's ~500 short kernel calls per step that idled the second core for
 * tens of milliseconds.  Here workers spin briefly between calls (a training
 * step calls a kernel every few hundred microseconds), then sleep.
 *
 * A job is (fn, args, n, parts): chunk i covers [bound(i), bound(i + 1)) and
 * fn(args, lo, hi, i) runs it.  Chunks shrink linearly (guided scheduling):
 * the thread that finishes first waits at the end for at most the last,
 * smallest chunk of another (with equal chunks the wait averaged half a
 * chunk, some milliseconds per vgg layer).  A job cut into no more chunks
 * than threads gets equal ones.  Threads take chunks from one 64-bit
 * ticket holding the job's generation, its parts and the next index, so a
 * worker that arrives late learns from the same atomic add whether its index
 * belongs to a live job; the job's descriptor cannot change until every chunk
 * handed out is done.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "kernels.h"

#define MAX_ARGS 24
#define MAX_WORKERS 256
#define MAX_PARTS 65536L
#define IDX_BITS 20
#define PARTS_SHIFT IDX_BITS
#define GEN_SHIFT (2 * IDX_BITS)
#define IDX_MASK ((1L << IDX_BITS) - 1)

static struct {
    pthread_mutex_t mu;
    pthread_cond_t wake, finished;
    _Atomic unsigned gen;        /* bumped for every job: what idle workers watch */
    _Atomic long ticket;         /* gen << 40 | parts << 20 | next index */
    _Atomic long done;           /* chunks of the current job finished */
    _Atomic int sleepers, caller_sleeping, helpers;
    chunk_fn fn;
    union karg args[MAX_ARGS];
    long n;
    int started;
    long spin_ns;
    pthread_mutex_t call_mu;     /* one job at a time (callers from several threads) */
    _Atomic long stats[4];       /* jobs, ns in pool_run, ns the caller waited, ns workers ran chunks */
} P = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER,
       .call_mu = PTHREAD_MUTEX_INITIALIZER};

static long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Where chunk i of parts over n starts: chunk sizes proportional to
 * 2 * (parts - i) - 1, i.e. n * i * (2 * parts - i) / parts^2. */
static long bound(long n, long i, long parts)
{
    if (atomic_load(&P.helpers) + 1 >= parts)  /* a chunk per thread: equal ones */
        return (long)((__int128)n * i / parts);
    return (long)((__int128)n * i * (2 * parts - i) / ((__int128)parts * parts));
}

/* Set while this thread runs a chunk: a job started from inside one (a
 * Python callback calling a kernel) runs on this thread alone, since waiting
 * for the pool from within its own job would never end. */
static __thread int in_chunk;

/* Run chunks of the current job until none is left. */
static void drain(int worker)
{
    for (;;) {
        long t = atomic_fetch_add(&P.ticket, 1);
        long i = t & IDX_MASK, parts = (t >> PARTS_SHIFT) & IDX_MASK;
        if (i >= parts) return;
        long start = worker ? now_ns() : 0;
        in_chunk = 1;
        P.fn(P.args, bound(P.n, i, parts), bound(P.n, i + 1, parts), i);
        in_chunk = 0;
        if (worker) atomic_fetch_add(&P.stats[3], now_ns() - start);
        if (atomic_fetch_add(&P.done, 1) + 1 == parts && atomic_load(&P.caller_sleeping)) {
            pthread_mutex_lock(&P.mu);
            pthread_cond_signal(&P.finished);
            pthread_mutex_unlock(&P.mu);
        }
    }
}

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    unsigned seen = atomic_load(&P.gen);
    for (;;) {
        long until = now_ns() + P.spin_ns;
        for (int k = 0; atomic_load(&P.gen) == seen; k++) {
            cpu_relax();
            if ((k & 63) == 63 && now_ns() > until) {
                pthread_mutex_lock(&P.mu);
                atomic_fetch_add(&P.sleepers, 1);
                while (atomic_load(&P.gen) == seen) pthread_cond_wait(&P.wake, &P.mu);
                atomic_fetch_sub(&P.sleepers, 1);
                pthread_mutex_unlock(&P.mu);
            }
        }
        seen = atomic_load(&P.gen);
        if (id < atomic_load(&P.helpers)) drain(1);
    }
    return 0;
}

static void after_fork_child(void)
{
    /* The workers did not survive the fork; the child starts its own. */
    pthread_mutex_init(&P.mu, 0);
    pthread_mutex_init(&P.call_mu, 0);
    pthread_cond_init(&P.wake, 0);
    pthread_cond_init(&P.finished, 0);
    P.started = 0;
    atomic_store(&P.sleepers, 0);
    atomic_store(&P.caller_sleeping, 0);
}

static int start_workers(int want)
{
    static int registered;
    if (!registered) {
        pthread_atfork(0, 0, after_fork_child);
        registered = 1;
    }
    while (P.started < want) {
        pthread_t th;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int err = pthread_create(&th, &attr, worker, (void *)(intptr_t)P.started);
        pthread_attr_destroy(&attr);
        if (err) return err;
        P.started++;
    }
    return 0;
}

/* Run fn over [0, n) in `parts` chunks on `threads` threads (the caller and
 * threads - 1 workers); returns when every chunk is done.  Workers spin for
 * spin_us microseconds after a job before they sleep.  Returns 0, or an
 * error number when no worker could be started (the caller then ran every
 * chunk itself). */
int pool_run(chunk_fn fn, const union karg *args, int nargs, long n, long parts, int threads,
             int spin_us)
{
    if (parts < 1) parts = 1;
    if (parts > MAX_PARTS) parts = MAX_PARTS;
    if (nargs > MAX_ARGS) return -1;
    if (threads > MAX_WORKERS) threads = MAX_WORKERS;
    if (in_chunk) {  /* nested: every chunk here, in order */
        for (long i = 0; i < parts; i++) fn(args, n * i / parts, n * (i + 1) / parts, i);
        return 0;
    }
    long entered = now_ns();
    pthread_mutex_lock(&P.call_mu);
    int err = threads > 1 && parts > 1 ? start_workers(threads - 1) : 0;
    P.spin_ns = spin_us * 1000L;
    P.fn = fn;
    for (int k = 0; k < nargs; k++) P.args[k] = args[k];
    P.n = n;
    atomic_store(&P.done, 0);
    atomic_store(&P.helpers, parts > 1 ? threads - 1 : 0);
    unsigned gen = atomic_load(&P.gen) + 1;
    atomic_store(&P.ticket, ((long)(gen & 0xffffff) << GEN_SHIFT) | (parts << PARTS_SHIFT));
    atomic_store(&P.gen, gen);
    if (atomic_load(&P.sleepers) > 0 && parts > 1) {
        pthread_mutex_lock(&P.mu);
        pthread_cond_broadcast(&P.wake);
        pthread_mutex_unlock(&P.mu);
    }
    drain(0);
    long drained = now_ns(), until = drained + P.spin_ns;
    for (int k = 0; atomic_load(&P.done) < parts; k++) {
        cpu_relax();
        if ((k & 63) == 63 && now_ns() > until) {
            pthread_mutex_lock(&P.mu);
            atomic_store(&P.caller_sleeping, 1);
            while (atomic_load(&P.done) < parts) pthread_cond_wait(&P.finished, &P.mu);
            atomic_store(&P.caller_sleeping, 0);
            pthread_mutex_unlock(&P.mu);
        }
    }
    long left = now_ns();
    atomic_fetch_add(&P.stats[0], 1);
    atomic_fetch_add(&P.stats[1], left - entered);
    atomic_fetch_add(&P.stats[2], left - drained);
    pthread_mutex_unlock(&P.call_mu);
    return err;
}

/* Counters since the library was loaded: jobs run, nanoseconds callers spent
 * in pool_run, of which waiting for workers' chunks, and nanoseconds workers
 * spent running chunks (bench/profile_fast.py reports them per step). */
void pool_stats(long *out)
{
    for (int k = 0; k < 4; k++) out[k] = atomic_load(&P.stats[k]);
}
