#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>

#include "common/banned.h"

static struct kiln_log_sink current;

void kiln_log_set_sink(const struct kiln_log_sink *sink)
{
    if (sink)
        current = *sink;
    else
        current = (struct kiln_log_sink){ 0 };
}

void kiln_log(int level, const char *fmt, ...)
{
    if (!current.message)
        return;
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    current.message(level, msg, current.ud);
}

void kiln_progress(const char *stage, uint64_t done, uint64_t total)
{
    if (current.progress)
        current.progress(stage, done, total, current.ud);
}
