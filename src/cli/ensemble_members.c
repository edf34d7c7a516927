/* ensemble_members — <out>/members.txt of `medssl ensemble` (see
 * ensemble_internal.h): read by ensemble evaluate, appended to by ensemble
 * train as members finish. */
#include "ensemble_internal.h"
#include "medssl/common.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int ens_members_read(const char *dir, member_list *ml)
{
    char path[ENS_PATH + 32], line[ENS_PATH + 64];
    snprintf(path, sizeof path, "%s/members.txt", dir);
    ml->M = 0;
    FILE *f = fopen(path, "r");
    if (!f) return errno == ENOENT ? MS_OK : MS_FAIL(MS_ERR_INPUT, "%s: cannot read: %s", path, strerror(errno));
    int rc = MS_OK, lineno = 0;
    while (fgets(line, sizeof line, f) && !rc) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n') continue;
        char rel[ENS_PATH];
        float w;
        if (sscanf(line, "%4095s %f", rel, &w) != 2 || !isfinite(w) || w < 0)
            rc = MS_FAIL(MS_ERR_INPUT, "%s:%d: expected '<checkpoint> <weight>'", path, lineno);
        else if (ml->M >= ENS_MAX_MEMBERS) rc = MS_FAIL(MS_ERR_INPUT, "%s: more than %d members", path, ENS_MAX_MEMBERS);
        else {
            snprintf(ml->path[ml->M], ENS_PATH, "%.2000s/%.2000s", dir, rel);
            ml->weight[ml->M++] = w;
        }
    }
    fclose(f);
    return rc;
}

/* Appends one member line (creating the file with its header). */
int ens_members_append(const char *dir, const char *method, const char *rel, double weight)
{
    char path[ENS_PATH + 32], line[ENS_PATH + 128];
    snprintf(path, sizeof path, "%s/members.txt", dir);
    int fresh = access(path, F_OK) != 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) return MS_FAIL(MS_ERR_RUNTIME, "%s: cannot write: %s", path, strerror(errno));
    int len = 0;
    if (fresh) len = snprintf(line, sizeof line, "# medssl-ensemble 1 method=%s\n", method);
    len += snprintf(line + len, sizeof line - (size_t)len, "%s %.9g\n", rel, weight);
    int ok = write(fd, line, (size_t)len) == len && fsync(fd) == 0;
    close(fd);
    return ok ? MS_OK : MS_FAIL(MS_ERR_RUNTIME, "%s: write failed", path);
}
