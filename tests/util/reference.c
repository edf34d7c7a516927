/* reference — naive implementations for tests (see reference.h). */
#include "reference.h"
