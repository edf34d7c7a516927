/* label_subset — the labeled part of an imported corpus: a stratified,
 * seeded choice of which labels to keep (`medssl import --labeled-per-class`
 * / `--labeled-fraction`); the others become -1 (unlabeled).
 */
#ifndef MEDSSL_LABEL_SUBSET_H
#define MEDSSL_LABEL_SUBSET_H

#include <stdint.h>

/* Keeps `labeled_per_class` labels per class (or, if < 0, the fraction
 * `labeled_fraction` of each class, rounded, at least 1 when the fraction is
 * > 0), chosen at random by `seed`; the others become -1. labels (N) in place. */
void labels_keep_stratified(int32_t *labels, int N, int n_classes, int labeled_per_class,
                            double labeled_fraction, uint64_t seed);

#endif
