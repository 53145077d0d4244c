/* journal_append: halo-ingest's journal alone, as its HTTP thread uses it:
 * THREADS threads each append one record of BYTES bytes and wait until it is
 * durable (group commit: one write and one sync per group), for SECONDS.
 * MODE 0: segments grow as written (pwritev + fdatasync); 1: preallocated
 * segments, pwritev + fdatasync; 2: preallocated segments written with
 * O_DIRECT|O_DSYNC (ingest's default). Prints appends/s and the append
 * latency (p50, p99).
 *
 *   journal_append DIR MODE(0|1|2) THREADS BYTES SECONDS
 *
 * Built by CMake (bench/CMakeLists.txt) into <build>/bench/; run by
 * bench/journal_append.sh. */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "halo_log.h"
#include "ingest_journal.h"

#define S_MAX_SAMPLES 2000000

typedef struct {
    ingest_journal_t *journal;
    size_t bytes;
    double until;
    double *lat_ms; /* this thread's samples */
    size_t n, cap;
    int failed;
} s_worker_t;

static double s_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void *s_run(void *arg)
{
    s_worker_t *w = arg;
    char *rec = malloc(w->bytes);
    if (!rec) {
        w->failed = 1;
        return NULL;
    }
    memset(rec, 'j', w->bytes);
    for (;;) {
        double t0 = s_now();
        if (t0 >= w->until)
            break;
        ingest_journal_item_t item = {rec, w->bytes};
        uint64_t seq;
        if (ingest_journal_append(w->journal, &item, 1, &seq) != INGEST_JOURNAL_OK) {
            w->failed = 1;
            break;
        }
        if (w->n < w->cap)
            w->lat_ms[w->n++] = (s_now() - t0) * 1e3;
    }
    free(rec);
    return NULL;
}

static int s_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: journal_append DIR MODE(0|1|2) THREADS BYTES SECONDS\n");
        return 2;
    }
    const char *dir = argv[1];
    int mode = atoi(argv[2]), threads = atoi(argv[3]);
    bool prealloc = mode >= 1;
    size_t bytes = (size_t)atol(argv[4]);
    double seconds = atof(argv[5]);
    if (mode < 0 || mode > 2 || threads < 1 || threads > 1024 || bytes < 1 || bytes > INGEST_JOURNAL_MAX_RECORD ||
        seconds <= 0) {
        fprintf(stderr, "journal_append: bad arguments\n");
        return 2;
    }
    halo_log_init("journal_append", HALO_LOG_WARN);
    char err[512];
    ingest_journal_options_t o = {64ull << 20, 1ull << 40, prealloc, mode == 2};
    ingest_journal_t *j = ingest_journal_open(dir, &o, err, sizeof err);
    if (!j) {
        fprintf(stderr, "journal_append: %s\n", err);
        return 1;
    }
    if (prealloc) {
        /* As a running ingest: the spare is there before the load comes. */
        for (int i = 0; i < 500; i++) {
            ingest_journal_stats_t st;
            ingest_journal_stats(j, &st);
            if (st.spare_ready)
                break;
            struct timespec ms10 = {0, 10 * 1000 * 1000};
            nanosleep(&ms10, NULL);
        }
    }
    s_worker_t *w = calloc((size_t)threads, sizeof *w);
    pthread_t *tid = calloc((size_t)threads, sizeof *tid);
    if (!w || !tid)
        return 1;
    double start = s_now();
    for (int i = 0; i < threads; i++) {
        w[i] = (s_worker_t){.journal = j, .bytes = bytes, .until = start + seconds, .cap = S_MAX_SAMPLES / threads};
        w[i].lat_ms = malloc(w[i].cap * sizeof *w[i].lat_ms);
        if (!w[i].lat_ms || pthread_create(&tid[i], NULL, s_run, &w[i]) != 0)
            return 1;
    }
    size_t total = 0;
    int failed = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(tid[i], NULL);
        total += w[i].n;
        failed |= w[i].failed;
    }
    double elapsed = s_now() - start;
    ingest_journal_stats_t st;
    ingest_journal_stats(j, &st);
    double *all = malloc((total ? total : 1) * sizeof *all);
    size_t k = 0;
    for (int i = 0; i < threads; i++) {
        memcpy(all + k, w[i].lat_ms, w[i].n * sizeof *all);
        k += w[i].n;
        free(w[i].lat_ms);
    }
    qsort(all, total, sizeof *all, s_cmp);
    printf("mode=%d threads=%d bytes=%zu appends=%zu appends_s=%.0f p50_ms=%.3f p99_ms=%.3f segments=%llu "
           "active_prealloc=%d direct_writes=%llu failed=%d\n",
           mode, threads, bytes, total, (double)total / elapsed, total ? all[total / 2] : 0.0,
           total ? all[(size_t)((double)total * 0.99)] : 0.0, (unsigned long long)st.segments,
           st.active_prealloc ? 1 : 0, (unsigned long long)st.direct_writes, failed);
    free(all);
    free(w);
    free(tid);
    ingest_journal_destroy(&j);
    return failed;
}
