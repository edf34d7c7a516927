/* runenv — the run's environment as JSON (see include/medssl/runenv.h). */
#define _POSIX_C_SOURCE 200809L
#include "medssl/runenv.h"
#include "medssl/conv.h"
#include "medssl/parallel.h"

#include <cblas.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__has_include)
#if __has_include("medssl_commit.h")
#include "medssl_commit.h" /* generated at build time (cmake/commit.cmake) */
#endif
#endif
#ifndef MEDSSL_COMMIT
#define MEDSSL_COMMIT "unknown"
#endif
#ifndef MEDSSL_BLAS_LIBS
#define MEDSSL_BLAS_LIBS "unknown"
#endif

const char *runenv_commit(void) { return MEDSSL_COMMIT; }

/* The CPU's model name and the vector-ISA flags that decide kernels. */
static void cpu_info(char *model, size_t mcap, char *flags, size_t fcap)
{
    static const char *const wanted[] = { "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512dq", "avx512bw",
                                          "avx512vl", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16" };
    snprintf(model, mcap, "unknown");
    flags[0] = '\0';
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[8192];
    int have_model = 0, have_flags = 0;
    while ((!have_model || !have_flags) && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (!colon) continue;
        char *v = colon + 1 + (colon[1] == ' ');
        v[strcspn(v, "\n")] = '\0';
        if (!have_model && strncmp(line, "model name", 10) == 0) {
            snprintf(model, mcap, "%s", v);
            have_model = 1;
        } else if (!have_flags && strncmp(line, "flags", 5) == 0) {
            size_t n = 0;
            for (size_t k = 0; k < sizeof wanted / sizeof *wanted; k++) {
                const size_t len = strlen(wanted[k]);
                for (const char *p = v; (p = strstr(p, wanted[k])) != NULL; p += len)
                    if ((p == v || p[-1] == ' ') && (p[len] == ' ' || p[len] == '\0')) {
                        n += (size_t)snprintf(flags + n, fcap - n, "%s%s", n ? " " : "", wanted[k]);
                        if (n >= fcap) n = fcap - 1;
                        break;
                    }
            }
            have_flags = 1;
        }
    }
    fclose(f);
}

void runenv_describe(ms_json *j, const char *key, const ms_dist *d, int threads, const char *hdf5_driver)
{
    char blas[256] = MEDSSL_BLAS_LIBS, core[64] = "unknown", mpi[256], hdf5[32];
    char level[16], model[256], flags[512], gemm[128];
#ifdef OPENBLAS_VERSION
    snprintf(blas, sizeof blas, "%s", openblas_get_config());
    snprintf(core, sizeof core, "%s", openblas_get_corename());
#endif
    dist_library(mpi, sizeof mpi, level, sizeof level);
    /* the header's version, not H5get_libversion(): an HDF5 call here would
     * race the loaders' prefetch threads (this HDF5 is not thread-safe; its
     * calls go through h5_lock) */
    snprintf(hdf5, sizeof hdf5, "%d.%d.%d", H5_VERS_MAJOR, H5_VERS_MINOR, H5_VERS_RELEASE);
    cpu_info(model, sizeof model, flags, sizeof flags);
    parallel_gemm_describe(gemm, sizeof gemm);
    const char *coretype = getenv("OPENBLAS_CORETYPE");
    json_object(j, key);
    json_str(j, "medssl_commit", runenv_commit());
    json_int(j, "ranks", d ? d->size : 1);
    json_int(j, "threads", threads);
    json_str(j, "blas", blas);
    json_str(j, "blas_core", core);
    json_str(j, "openblas_coretype_env", coretype ? coretype : "");
    json_str(j, "gemm", gemm);
    json_str(j, "conv", conv_algo_name());
    json_str(j, "kernels", parallel_kernels_isa());
    json_str(j, "mpi", mpi);
    json_str(j, "mpi_thread_level", level);
    json_str(j, "hdf5", hdf5);
    json_str(j, "hdf5_driver", hdf5_driver ? hdf5_driver : "unknown");
    json_str(j, "cpu", model);
    json_str(j, "cpu_flags", flags);
    json_end(j);
}
