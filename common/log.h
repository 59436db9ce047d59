/* log.h - the one way modules say what they are doing.
 *
 * Modules never print: they call kiln_log()/kiln_progress(), and the
 * program (cli/) installs a sink that decides what reaches the user.
 * With no sink installed, nothing is shown. */
#ifndef KILN_LOG_H
#define KILN_LOG_H

#include <stdint.h>

#include "common/err.h"

enum kiln_log_level {
    KILN_LOG_DEBUG = 0,
    KILN_LOG_INFO = 1,   /* a step starts or ends; a line of build output */
    KILN_LOG_WARN = 2,   /* something the user should know, e.g. KVM fallback */
};

struct kiln_log_sink {
    void (*message)(int level, const char *msg, void *ud);
    /* total 0 = unknown; called with done == total at the end of a stage */
    void (*progress)(const char *stage, uint64_t done, uint64_t total, void *ud);
    void *ud;
};

void kiln_log_set_sink(const struct kiln_log_sink *sink);
void kiln_log(int level, const char *fmt, ...) KILN_PRINTF(2, 3);
void kiln_progress(const char *stage, uint64_t done, uint64_t total);

#endif
