/* reference — naive, obviously-correct implementations the fast paths are
 * tested against (direct convolution, etc.). Test-only code. */
#ifndef MEDSSL_REFERENCE_H
#define MEDSSL_REFERENCE_H

#endif
