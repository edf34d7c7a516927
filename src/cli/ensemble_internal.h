/* ensemble_internal — what `medssl ensemble train` (ensemble.c) and
 * `medssl ensemble evaluate` (ensemble_eval.c) share: members.txt
 * (ensemble_members.c), and the evaluate subcommand ensemble.c dispatches to.
 *
 * members.txt: a header line "# medssl-ensemble 1 method=<m>", then one line
 * per member "<checkpoint path relative to the folder> <weight>". */
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
/* Appends one member line (creating the file with its header naming the
 * method), synced to disk. */
int ens_members_append(const char *dir, const char *method, const char *rel, double weight);
/* `medssl ensemble evaluate ...` (argv[0] = "ensemble", argv[1] = "evaluate"). */
int ensemble_evaluate_cmd(int argc, char **argv);

#endif
