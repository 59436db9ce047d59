/* common.h - what every kiln source file includes first. */
#ifndef KILN_COMMON_H
#define KILN_COMMON_H

#include "common/buf.h"
#include "common/cleanup.h"
#include "common/err.h"

#define KILN_VERSION "0.1.0"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
