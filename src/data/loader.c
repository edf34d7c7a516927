/* loader — epoch plans, shard reading and the shuffle buffer (see
 * include/medssl/loader.h).
 *
 * Dimension legend: B batch, C channels, H, W image size, M buffer capacity,
 * P = C*H*W floats per image.
 */
#include "medssl/loader.h"
#include "medssl/common.h"
#include "medssl/rng.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOADER_SLOTS 2

int loader_in_split(uint64_t seed, float val_fraction, ms_split split, long long index)
{
    if (split == SPLIT_ALL) return 1;
    int is_val = rng_uniform_at(rng_key(seed, 0, 0, RNG_SPLIT), (uint64_t)index) < val_fraction;
    return split == SPLIT_VAL ? is_val : !is_val;
}

long long loader_weight(const ms_loader_cfg *cfg, long long index)
{
    long long w = cfg->repeat ? cfg->repeat[index] : 1;
    return w > 0 && loader_in_split(cfg->seed, cfg->val_fraction, cfg->split, index) ? w : 0;
}

uint64_t loader_copy_key(uint64_t key, long long copy)
{
    if (copy == 0) return key;
    return rng_mix(rng_mix(key ^ 0x636f70790000ull /* "copy" */) ^ (uint64_t)copy);
}

/* The sample holding position `pos` of the repeated sequence of [first, end)
 * (each sample i repeated loader_weight(i) times); *copy = its copy number. */
static long long locate(const ms_loader_cfg *cfg, long long first, long long end, long long pos, long long *copy)
{
    for (long long i = first; i < end; i++) {
        const long long w = loader_weight(cfg, i);
        if (pos < w) {
            *copy = pos;
            return i;
        }
        pos -= w;
    }
    CHECK(0);
    return -1;
}

int loader_plan(long long N, long long chunk_n, const ms_loader_cfg *cfg, long epoch, ms_run **runs_out,
                long long *n_runs, long long *n_samples, long long *n_total)
{
    CHECK(N > 0 && chunk_n > 0 && cfg->size > 0 && cfg->rank >= 0 && cfg->rank < cfg->size);
    const long long n_chunks = (N + chunk_n - 1) / chunk_n;
    long long *order = ms_malloc((size_t)n_chunks * sizeof(long long));
    long long *selected = ms_malloc((size_t)n_chunks * sizeof(long long)); /* copies per chunk */
    for (long long k = 0; k < n_chunks; k++) order[k] = k;
    if (cfg->shuffle) {
        ms_rng r = rng_stream(rng_key(cfg->seed, (uint64_t)epoch, 0, RNG_SHUFFLE));
        for (long long k = n_chunks - 1; k > 0; k--) {
            long long j = (long long)(rng_u64(&r) % (uint64_t)(k + 1));
            long long t = order[k];
            order[k] = order[j];
            order[j] = t;
        }
    }
    long long total = 0;
    for (long long k = 0; k < n_chunks; k++) {
        long long first = k * chunk_n, end = first + chunk_n < N ? first + chunk_n : N, s = 0;
        for (long long i = first; i < end; i++) s += loader_weight(cfg, i);
        selected[k] = s;
        total += s;
    }
    /* this rank's share of the repeated sequence: positions [lo, hi) */
    const long long lo = total * cfg->rank / cfg->size, hi = total * (cfg->rank + 1) / cfg->size;
    ms_run *runs = ms_malloc((size_t)(n_chunks > 0 ? n_chunks : 1) * sizeof(ms_run));
    long long nr = 0, pos = 0;
    for (long long o = 0; o < n_chunks && pos < hi; o++) {
        const long long k = order[o], s = selected[k];
        const long long first = k * chunk_n, end = first + chunk_n < N ? first + chunk_n : N;
        long long a = lo > pos ? lo - pos : 0, b = hi < pos + s ? hi - pos : s; /* positions [a, b) of this chunk */
        if (b > a) {
            long long copy_first, copy_last;
            const long long run_first = locate(cfg, first, end, a, &copy_first);
            const long long run_last = locate(cfg, first, end, b - 1, &copy_last);
            runs[nr++] = (ms_run){ .first = run_first, .count = run_last + 1 - run_first, .copy0 = copy_first,
                                   .n = b - a };
        }
        pos += s;
    }
    free(order);
    free(selected);
    *runs_out = runs;
    *n_runs = nr;
    *n_samples = hi - lo;
    *n_total = total;
    return MS_OK;
}

long long loader_buffer_capacity(const ms_corpus *c, long long images, double mib, int want_masks)
{
    const double per = (double)c->C * c->H * c->W * sizeof(float) + (want_masks ? (double)c->H * c->W : 0) +
                       sizeof(int64_t) + 3 * sizeof(int32_t);
    const double by_mem = floor(mib * 1048576.0 / per);
    long long cap = images;
    if (mib > 0 && by_mem < (double)cap) cap = (long long)by_mem;
    return cap < 1 ? 1 : cap;
}

long long loader_repeat_labeled(const int32_t *labels, long long N, uint16_t *repeat)
{
    long long n = 0;
    for (long long i = 0; i < N; i++) {
        repeat[i] = labels[i] >= 0;
        n += repeat[i];
    }
    return n;
}

typedef struct {
    int32_t cls;
    uint64_t hash;
    long long index;
} balance_key;

static int balance_cmp(const void *pa, const void *pb)
{
    const balance_key *a = pa, *b = pb;
    if (a->cls != b->cls) return a->cls < b->cls ? -1 : 1;
    if (a->hash != b->hash) return a->hash < b->hash ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

int loader_repeat_balance(const int32_t *labels, long long N, int K, uint64_t seed, uint16_t *repeat)
{
    CHECK(N >= 0 && K >= 1);
    memset(repeat, 0, (size_t)N * sizeof *repeat);
    long long *n_c = ms_calloc((size_t)K, sizeof(long long)), labeled = 0, T = 0;
    for (long long i = 0; i < N; i++) {
        if (labels[i] < -1 || labels[i] >= K) {
            free(n_c);
            return MS_FAIL(MS_ERR_INPUT, "balance: label %d of sample %lld is outside -1..%d", labels[i], i, K - 1);
        }
        if (labels[i] >= 0) {
            n_c[labels[i]]++;
            labeled++;
        }
    }
    for (int c = 0; c < K; c++)
        if (n_c[c] > T) T = n_c[c];
    for (int c = 0; c < K; c++)
        if (n_c[c] > 0 && T / n_c[c] + (T % n_c[c] != 0) > UINT16_MAX) {
            const long long n = n_c[c];
            free(n_c);
            return MS_FAIL(MS_ERR_INPUT, "balance: class %d has %lld samples against %lld in the largest: more than "
                           "%d copies each", c, n, T, UINT16_MAX);
        }
    /* (class, hash, index) of every labeled sample, sorted: per class, the
     * T mod n_c smallest hashes get the extra copy */
    balance_key *keys = ms_malloc((size_t)(labeled > 0 ? labeled : 1) * sizeof *keys);
    const uint64_t hkey = rng_key(seed, 0, LOADER_BALANCE_STREAM, RNG_SPLIT);
    long long m = 0;
    for (long long i = 0; i < N; i++)
        if (labels[i] >= 0) keys[m++] = (balance_key){ labels[i], rng_at(hkey, (uint64_t)i), i };
    qsort(keys, (size_t)m, sizeof *keys, balance_cmp);
    for (long long j = 0; j < m;) {
        const int32_t c = keys[j].cls;
        const long long base = T / n_c[c], extra = T % n_c[c];
        for (long long r = 0; r < n_c[c]; r++, j++) repeat[keys[j].index] = (uint16_t)(base + (r < extra));
    }
    free(keys);
    free(n_c);
    return MS_OK;
}

struct ms_loader {
    ms_corpus *c;
    ms_loader_cfg cfg;
    size_t P, HW;
    long epoch;
    ms_run *runs;
    long long n_runs, run_i;               /* runs[run_i] is the next run to read */
    long long n_samples, n_total, emitted;
    /* staging: one run (at most chunk_n samples), read whole or gathered */
    long long stage_first;                 /* corpus index of row 0 (whole read) */
    int stage_gathered;                    /* rows are stage_idx[0..stage_n) (else first..first+count) */
    long long stage_n, stage_pos;          /* the run's selected samples; next one to emit */
    long long stage_copy, stage_left;      /* next copy of stage_idx[stage_pos]; copies the run still yields */
    int64_t *stage_idx;                    /* (chunk_n) the run's selected samples */
    float *stage_img;
    int32_t *stage_lab, *stage_dom;
    uint8_t *stage_msk;
    /* shuffle buffer */
    long long cap, fill;
    float *buf_img;
    int32_t *buf_lab, *buf_dom, *buf_copy;
    uint8_t *buf_msk;
    int64_t *buf_idx;
    ms_rng pick;
    /* batches: the producer thread fills slot[] in turn, loader_next hands them
     * out; a slot handed out stays valid until the next loader_next call */
    ms_batch slot[LOADER_SLOTS];
    int slot_full[LOADER_SLOTS];
    int produce_slot, consume_slot, handed_out; /* handed_out: slot of the last batch, or -1 */
    long long to_produce;                        /* batches left to produce this epoch */
    float *aug_work;
    pthread_t thread;
    int thread_running, stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int error;                                   /* first error of the producer */
    char error_msg[1024];
};

int loader_open(ms_loader **Lp, ms_corpus *c, const ms_loader_cfg *cfg)
{
    if (cfg->batch < 1) return MS_FAIL(MS_ERR_INPUT, "loader: batch must be >= 1");
    if (cfg->want_labels && !corpus_has_labels(c)) return MS_FAIL(MS_ERR_INPUT, "%s: has no /labels", c->path);
    if (cfg->want_masks && !corpus_has_masks(c)) return MS_FAIL(MS_ERR_INPUT, "%s: has no /masks", c->path);
    if (cfg->want_domains && !corpus_has_domains(c)) return MS_FAIL(MS_ERR_INPUT, "%s: has no /domains", c->path);
    if (cfg->split != SPLIT_ALL && !(cfg->val_fraction > 0 && cfg->val_fraction < 1))
        return MS_FAIL(MS_ERR_INPUT, "loader: a train/val split needs a validation fraction in (0, 1)");
    ms_loader *L = ms_calloc(1, sizeof *L);
    L->c = c;
    L->cfg = *cfg;
    L->P = (size_t)c->C * c->H * c->W;
    L->HW = (size_t)c->H * c->W;
    L->cap = cfg->shuffle ? (cfg->buffer > 0 ? cfg->buffer : 1) : 1;
    const size_t S = (size_t)c->chunk_n, M = (size_t)L->cap, B = (size_t)cfg->batch;
    L->stage_img = ms_aligned(S * L->P * sizeof(float));
    L->buf_img = ms_aligned(M * L->P * sizeof(float));
    L->buf_idx = ms_malloc(M * sizeof(int64_t));
    L->buf_copy = ms_malloc(M * sizeof(int32_t));
    L->stage_idx = ms_malloc(S * sizeof(int64_t));
    for (int k = 0; k < LOADER_SLOTS; k++) {
        ms_batch *b = &L->slot[k];
        b->images = ms_aligned(B * L->P * sizeof(float));
        b->index = ms_malloc(B * sizeof(int64_t));
        b->copy = ms_malloc(B * sizeof(int32_t));
        if (cfg->want_labels) b->labels = ms_malloc(B * sizeof(int32_t));
        if (cfg->want_domains) b->domains = ms_malloc(B * sizeof(int32_t));
        if (cfg->want_masks) b->masks = ms_malloc(B * L->HW);
    }
    if (cfg->want_labels) {
        L->stage_lab = ms_malloc(S * sizeof(int32_t));
        L->buf_lab = ms_malloc(M * sizeof(int32_t));
    }
    if (cfg->want_domains) {
        L->stage_dom = ms_malloc(S * sizeof(int32_t));
        L->buf_dom = ms_malloc(M * sizeof(int32_t));
    }
    if (cfg->want_masks) {
        L->stage_msk = ms_malloc(S * L->HW);
        L->buf_msk = ms_malloc(M * L->HW);
    }
    pthread_mutex_init(&L->mu, NULL);
    pthread_cond_init(&L->cv, NULL);
    L->handed_out = -1;
    if (cfg->augment && cfg->augment->n_ops > 0)
        L->aug_work = ms_aligned(augment_workspace_size(c->C, c->H, c->W) * sizeof(float));
    *Lp = L;
    return MS_OK;
}

static void stop_producer(ms_loader *L);
static void *producer_main(void *arg);

void loader_close(ms_loader *L)
{
    if (!L) return;
    stop_producer(L);
    pthread_mutex_destroy(&L->mu);
    pthread_cond_destroy(&L->cv);
    for (int k = 0; k < LOADER_SLOTS; k++) {
        ms_batch *b = &L->slot[k];
        free(b->images); free(b->labels); free(b->domains); free(b->masks); free(b->index); free(b->copy);
    }
    free(L->runs);
    free(L->stage_img); free(L->stage_lab); free(L->stage_dom); free(L->stage_msk); free(L->stage_idx);
    free(L->buf_img); free(L->buf_lab); free(L->buf_dom); free(L->buf_msk); free(L->buf_idx); free(L->buf_copy);
    free(L->aug_work);
    free(L);
}

int loader_start_epoch(ms_loader *L, long epoch)
{
    stop_producer(L);
    free(L->runs);
    L->runs = NULL;
    loader_plan(L->c->N, L->c->chunk_n, &L->cfg, epoch, &L->runs, &L->n_runs, &L->n_samples, &L->n_total);
    if (L->n_total == 0 && L->cfg.repeat)
        return MS_FAIL(MS_ERR_INPUT, "%s: no sample%s has a repeat count above 0", L->c->path,
                       L->cfg.split == SPLIT_ALL ? "" : L->cfg.split == SPLIT_VAL ? " of the validation split"
                                                                                   : " of the training split");
    if (L->n_total == 0)
        return MS_FAIL(MS_ERR_INPUT, "%s: the %s split is empty (val fraction %g)", L->c->path,
                       L->cfg.split == SPLIT_VAL ? "validation" : "training", (double)L->cfg.val_fraction);
    L->epoch = epoch;
    L->run_i = 0;
    L->stage_n = L->stage_pos = L->stage_copy = L->stage_left = 0;
    L->fill = L->emitted = 0;
    L->pick = rng_stream(rng_key(L->cfg.seed, (uint64_t)epoch, 1 + (uint64_t)L->cfg.rank, RNG_SHUFFLE));
    for (int k = 0; k < LOADER_SLOTS; k++) L->slot_full[k] = 0;
    L->produce_slot = L->consume_slot = 0;
    L->handed_out = -1;
    L->error = 0;
    L->to_produce = loader_steps(L);
    if (pthread_create(&L->thread, NULL, producer_main, L) != 0)
        return MS_FAIL(MS_ERR_RUNTIME, "loader: cannot start the prefetch thread");
    L->thread_running = 1;
    return MS_OK;
}

long long loader_steps(const ms_loader *L)
{
    long long max_share = (L->n_total + L->cfg.size - 1) / L->cfg.size;
    return (max_share + L->cfg.batch - 1) / L->cfg.batch;
}

long long loader_epoch_samples(const ms_loader *L) { return L->n_samples; }

/* Reads the next run of the share into staging: the whole range when at
 * least half of it is selected, else only its selected rows (packed). */
static int stage_next(ms_loader *L)
{
    if (L->run_i >= L->n_runs) return MS_OK; /* share exhausted */
    const ms_run *r = &L->runs[L->run_i++];
    CHECK(r->count >= 1 && r->count <= L->c->chunk_n && r->n >= 1);
    long long ns = 0;
    for (long long i = r->first; i < r->first + r->count; i++)
        if (loader_weight(&L->cfg, i) > 0) L->stage_idx[ns++] = i;
    CHECK(ns >= 1);
    L->stage_gathered = 2 * ns < r->count;
    int rc = L->stage_gathered
                 ? corpus_read_rows(L->c, L->stage_idx, ns, L->stage_img, L->stage_lab, L->stage_msk, L->stage_dom)
                 : corpus_read(L->c, r->first, r->count, L->stage_img, L->stage_lab, L->stage_msk, L->stage_dom);
    if (rc) return rc;
    L->stage_first = r->first;
    L->stage_n = ns;
    L->stage_pos = 0;
    L->stage_copy = r->copy0;
    L->stage_left = r->n;
    return MS_OK;
}

/* Fills the shuffle buffer up to capacity from the share: each staged sample
 * as many copies as the run yields of it, one after the other. */
static int fill_buffer(ms_loader *L)
{
    while (L->fill < L->cap) {
        if (L->stage_left == 0) {
            int rc = stage_next(L);
            if (rc) return rc;
            if (L->stage_left == 0) return MS_OK;
        }
        CHECK(L->stage_pos < L->stage_n);
        const long long idx = L->stage_idx[L->stage_pos];
        const long long s = L->stage_gathered ? L->stage_pos : idx - L->stage_first; /* staging row */
        const long long j = L->fill++;
        memcpy(L->buf_img + (size_t)j * L->P, L->stage_img + (size_t)s * L->P, L->P * sizeof(float));
        if (L->buf_lab) L->buf_lab[j] = L->stage_lab[s];
        if (L->buf_dom) L->buf_dom[j] = L->stage_dom[s];
        if (L->buf_msk) memcpy(L->buf_msk + (size_t)j * L->HW, L->stage_msk + (size_t)s * L->HW, L->HW);
        L->buf_idx[j] = idx;
        L->buf_copy[j] = (int32_t)L->stage_copy;
        L->stage_left--;
        if (++L->stage_copy >= loader_weight(&L->cfg, idx)) {
            L->stage_pos++;
            L->stage_copy = 0;
        }
    }
    return MS_OK;
}

/* Moves buffer slot j into position i of batch b and the buffer's last sample into j. */
static void take(ms_loader *L, ms_batch *b, long long j, int i)
{
    const long long last = L->fill - 1;
    memcpy(b->images + (size_t)i * L->P, L->buf_img + (size_t)j * L->P, L->P * sizeof(float));
    b->index[i] = L->buf_idx[j];
    b->copy[i] = L->buf_copy[j];
    if (L->buf_lab) b->labels[i] = L->buf_lab[j];
    if (L->buf_dom) b->domains[i] = L->buf_dom[j];
    if (L->buf_msk) memcpy(b->masks + (size_t)i * L->HW, L->buf_msk + (size_t)j * L->HW, L->HW);
    if (j != last) {
        memcpy(L->buf_img + (size_t)j * L->P, L->buf_img + (size_t)last * L->P, L->P * sizeof(float));
        L->buf_idx[j] = L->buf_idx[last];
        L->buf_copy[j] = L->buf_copy[last];
        if (L->buf_lab) L->buf_lab[j] = L->buf_lab[last];
        if (L->buf_dom) L->buf_dom[j] = L->buf_dom[last];
        if (L->buf_msk) memcpy(L->buf_msk + (size_t)j * L->HW, L->buf_msk + (size_t)last * L->HW, L->HW);
    }
    L->fill--;
}

/* Builds the next batch of this rank's share into b (producer thread). */
static int produce_batch(ms_loader *L, ms_batch *b)
{
    int n = 0;
    while (n < L->cfg.batch) {
        int rc = fill_buffer(L);
        if (rc) return rc;
        if (L->fill == 0) break;
        long long j = L->cfg.shuffle ? (long long)(rng_u64(&L->pick) % (uint64_t)L->fill) : 0;
        take(L, b, j, n);
        if (L->aug_work) {
            uint64_t key = loader_copy_key(rng_key(L->cfg.seed, (uint64_t)L->epoch, (uint64_t)b->index[n], RNG_AUGMENT),
                                           b->copy[n]);
            augment_apply(L->cfg.augment, b->images + (size_t)n * L->P, b->masks ? b->masks + (size_t)n * L->HW : NULL,
                          L->c->C, L->c->H, L->c->W, key, L->aug_work);
        }
        n++;
    }
    b->n = n;
    return MS_OK;
}

/* The background thread: reads, shuffles and augments batches ahead of the
 * training step, LOADER_SLOTS at most. It is the only thread of this loader
 * that touches the corpus during an epoch. */
static void *producer_main(void *arg)
{
    ms_loader *L = arg;
    for (;;) {
        pthread_mutex_lock(&L->mu);
        while (!L->stop && L->to_produce > 0 &&
               (L->slot_full[L->produce_slot] || L->produce_slot == L->handed_out))
            pthread_cond_wait(&L->cv, &L->mu);
        if (L->stop || L->to_produce == 0) {
            pthread_mutex_unlock(&L->mu);
            return NULL;
        }
        const int k = L->produce_slot;
        pthread_mutex_unlock(&L->mu);

        int rc = produce_batch(L, &L->slot[k]);

        pthread_mutex_lock(&L->mu);
        if (rc) {
            L->error = rc;
            snprintf(L->error_msg, sizeof L->error_msg, "%s", ms_last_error());
            L->to_produce = 0;
        } else {
            L->slot_full[k] = 1;
            L->produce_slot = (k + 1) % LOADER_SLOTS;
            L->to_produce--;
        }
        pthread_cond_broadcast(&L->cv);
        pthread_mutex_unlock(&L->mu);
        if (rc) return NULL;
    }
}

static void stop_producer(ms_loader *L)
{
    if (!L->thread_running) return;
    pthread_mutex_lock(&L->mu);
    L->stop = 1;
    pthread_cond_broadcast(&L->cv);
    pthread_mutex_unlock(&L->mu);
    pthread_join(L->thread, NULL);
    L->thread_running = 0;
    L->stop = 0;
}

int loader_next(ms_loader *L, ms_batch *out)
{
    CHECKM(L->thread_running, "loader_next before loader_start_epoch");
    pthread_mutex_lock(&L->mu);
    if (L->handed_out >= 0) { /* the caller is done with the previous batch */
        L->slot_full[L->handed_out] = 0;
        L->handed_out = -1;
        pthread_cond_broadcast(&L->cv);
    }
    while (!L->slot_full[L->consume_slot] && !L->error && L->to_produce > 0) pthread_cond_wait(&L->cv, &L->mu);
    int rc = MS_OK;
    if (L->slot_full[L->consume_slot]) {
        L->handed_out = L->consume_slot;
        L->consume_slot = (L->consume_slot + 1) % LOADER_SLOTS;
        *out = L->slot[L->handed_out];
    } else if (L->error) {
        rc = MS_FAIL(L->error, "%s", L->error_msg);
    } else { /* past the last step: an empty batch */
        *out = L->slot[L->consume_slot];
        out->n = 0;
    }
    pthread_mutex_unlock(&L->mu);
    if (!rc) L->emitted += out->n;
    return rc;
}
