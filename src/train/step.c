/* step — one data-parallel optimizer step (see train_step in medssl/trainer.h). */
#include "medssl/trainer.h"
#include "medssl/common.h"

void train_step(ms_model *m, ms_grad_sync *sync, ms_optim *opt, float lr, uint64_t key, ms_step_loss_fn loss,
                void *ctx, ms_step_stats *stats)
{
    slab_zero_grad(&m->slab);
    if (loss) loss(ctx, key);
    else model_forward_skip(m); /* no rows on this rank: it still joins the sync-BN all-reduces */
    grad_sync_begin(sync);
    if (loss) model_backward(m, key, dist_grads_ready, sync);
    else model_backward_skip(m, dist_grads_ready, sync); /* zero gradients, the same collectives */
    const int launched = sync->n_req;
    const double t0 = ms_now();
    grad_sync_finish(sync);
    if (stats) {
        stats->allreduce_wait_s = ms_now() - t0;
        stats->buckets_during_backward = launched;
    }
    if (opt) optim_step(opt, &m->slab, lr);
}

double task_step_loss(void *step, uint64_t dropout_key)
{
    ms_task_step *s = step;
    double score = 0, count = 0;
    s->loss = s->ops->loss(s->ctx, s->terms, 1, s->weight, dropout_key, &score, &count);
    return s->loss;
}
