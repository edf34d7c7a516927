#!/usr/bin/env bash
# Submits the two-stage pipeline to SLURM: self-supervised pretraining
# (jobs/pretrain.sbatch), then fine-tuning (jobs/finetune.sbatch) from the
# pretraining run's last.h5, held back by --dependency=afterok until the
# pretraining job has succeeded (requeues included: a requeued job is not
# done). If pretraining fails, the fine-tuning job is cancelled
# (--kill-on-invalid-dep=yes) instead of waiting forever. Prints the job ids.
#
#   jobs/pipeline.sh
#   CORPUS=fm_train.h5 TRAIN=fm_train.h5 VAL=fm_test.h5 STRATEGY=two-stage jobs/pipeline.sh
#   SBATCH_ARGS="--time=4:00:00 --partition=gpu" jobs/pipeline.sh
#
# Settings (environment; defaults in brackets):
#   CORPUS            unlabeled corpus for pretraining          [fm_train.h5]
#   PRETRAIN_TASK     rotation | jigsaw | autoencoder           [rotation]
#   PRETRAIN_OUT      pretraining run folder                    [runs/pretrain-$PRETRAIN_TASK]
#   PRETRAIN_EPOCHS, PRETRAIN_BATCH, PRETRAIN_EXTRA             [pretrain.sbatch's defaults]
#   ENCODER           encoder spec for pretraining              [pretrain.sbatch's default]
#   TRAIN, VAL        labeled corpora for fine-tuning           [fm_train.h5, none]
#   FINETUNE_TASK     classify | segment                        [classify]
#   STRATEGY          feature-extractor | finetune | two-stage  [finetune]
#   FINETUNE_OUT      fine-tuning run folder                    [runs/finetune-$FINETUNE_TASK-$STRATEGY]
#   FINETUNE_EPOCHS, FINETUNE_BATCH, FINETUNE_EXTRA             [finetune.sbatch's defaults]
#   MEDSSL            the binary                                [<repo>/build/medssl if built, else medssl on PATH]
#   LAUNCHER          srun | mpirun (both jobs)                 [srun]
#   SBATCH_ARGS       more sbatch options for both jobs, split on spaces (--time, --partition, -o ...)
#   PRETRAIN_SBATCH_ARGS, FINETUNE_SBATCH_ARGS   sbatch options for one of them
#
# Paths are made absolute here, so the jobs do not depend on the folder they
# start in. Values in --export=ALL,... cannot hold commas, so ENCODER
# (encoder:widths=16-32,convs=2) and the *_EXTRA flags (--augment
# flip:h,shift:0.05) travel in the environment instead, which ALL passes on.
set -euo pipefail
JOBS=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$JOBS")

abs() { [ -z "$1" ] && return 0; realpath -m -- "$1"; }
nocomma() { local v
  for v in "$@"; do
    case "$v" in *,*) echo "pipeline.sh: '$v' contains a comma, which sbatch --export cannot carry" >&2; exit 2 ;; esac
  done
}

CORPUS=$(abs "${CORPUS:-fm_train.h5}")
PRETRAIN_TASK=${PRETRAIN_TASK:-rotation}
PRETRAIN_OUT=$(abs "${PRETRAIN_OUT:-runs/pretrain-$PRETRAIN_TASK}")
TRAIN=$(abs "${TRAIN:-fm_train.h5}")
VAL=$(abs "${VAL:-}")
FINETUNE_TASK=${FINETUNE_TASK:-classify}
STRATEGY=${STRATEGY:-finetune}
FINETUNE_OUT=$(abs "${FINETUNE_OUT:-runs/finetune-$FINETUNE_TASK-$STRATEGY}")
LAUNCHER=${LAUNCHER:-srun}
if [ -z "${MEDSSL:-}" ]; then
  MEDSSL=medssl
  [ -x "$REPO/build/medssl" ] && MEDSSL=$REPO/build/medssl
fi
case "$MEDSSL" in */*) MEDSSL=$(abs "$MEDSSL") ;; esac
INIT=$PRETRAIN_OUT/last.h5
nocomma "$CORPUS" "$PRETRAIN_OUT" "$TRAIN" "$VAL" "$FINETUNE_OUT" "$MEDSSL"

pre_vars="ALL,TASK=$PRETRAIN_TASK,CORPUS=$CORPUS,OUT=$PRETRAIN_OUT,MEDSSL=$MEDSSL,LAUNCHER=$LAUNCHER"
[ -n "${PRETRAIN_EPOCHS:-}" ] && pre_vars+=",EPOCHS=$PRETRAIN_EPOCHS"
[ -n "${PRETRAIN_BATCH:-}" ] && pre_vars+=",BATCH=$PRETRAIN_BATCH"
ft_vars="ALL,TASK=$FINETUNE_TASK,TRAIN=$TRAIN,VAL=$VAL,INIT=$INIT,STRATEGY=$STRATEGY,OUT=$FINETUNE_OUT,MEDSSL=$MEDSSL,LAUNCHER=$LAUNCHER"
[ -n "${FINETUNE_EPOCHS:-}" ] && ft_vars+=",EPOCHS=$FINETUNE_EPOCHS"
[ -n "${FINETUNE_BATCH:-}" ] && ft_vars+=",BATCH=$FINETUNE_BATCH"

# shellcheck disable=SC2086
pre=$(EXTRA=${PRETRAIN_EXTRA:-} ENCODER=${ENCODER:-} sbatch --parsable --export="$pre_vars" \
        ${SBATCH_ARGS:-} ${PRETRAIN_SBATCH_ARGS:-} "$JOBS/pretrain.sbatch")
pre=${pre%%;*}   # --parsable prints "id" or "id;cluster"
# shellcheck disable=SC2086
ft=$(EXTRA=${FINETUNE_EXTRA:-} sbatch --parsable --export="$ft_vars" \
       --dependency="afterok:$pre" --kill-on-invalid-dep=yes \
       ${SBATCH_ARGS:-} ${FINETUNE_SBATCH_ARGS:-} "$JOBS/finetune.sbatch")
ft=${ft%%;*}

echo "pretrain job $pre: $PRETRAIN_TASK on $CORPUS -> $PRETRAIN_OUT"
echo "finetune job $ft: $FINETUNE_TASK ($STRATEGY) on $TRAIN from $INIT -> $FINETUNE_OUT (after job $pre succeeds)"
echo "$pre $ft"
