/* ensemble_internal — what `medssl ensemble train` (ensemble.c) and
 * `medssl ensemble evaluate` (ensemble_eval.c) share: members.txt. */
#ifndef MEDSSL_CLI_ENSEMBLE_INTERNAL_H
#define MEDSSL_CLI_ENSEMBLE_INTERNAL_H

#include "medssl/ensemble_math.h"

#define ENS_PATH 4096

typedef struct {
    int M;
    char path[ENS_MAX_MEMBERS][ENS_PATH];
    float weight[ENS_MAX_MEMBERS];
} member_list;

/* Reads dir/members.txt (paths made relative to dir). Missing file: M = 0. */
int ens_members_read(const char *dir, member_list *ml);
/* `medssl ensemble evaluate ...` (argv[0] = "ensemble", argv[1] = "evaluate"). */
int ensemble_evaluate_cmd(int argc, char **argv);

#endif
