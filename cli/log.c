/* log.c - the program's log sink: what reaches the terminal while kiln works. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "common/log.h"
#include "common/banned.h"

static struct cli_ctx *log_ctx;
static int progress_shown;

static void clear_progress(void)
{
    if (progress_shown) {
        fputs("\r\033[K", stderr);
        progress_shown = 0;
    }
}

static void on_message(int level, const char *msg, void *ud)
{
    (void)ud;
    if (level == KILN_LOG_DEBUG && !log_ctx->verbose)
        return;
    if (level == KILN_LOG_INFO && (log_ctx->quiet && !log_ctx->verbose))
        return;
    clear_progress();
    if (level == KILN_LOG_WARN)
        fprintf(stderr, "kiln: warning: %s\n", msg);
    else
        fprintf(stderr, "%s\n", msg);
}

static void on_progress(const char *stage, uint64_t done, uint64_t total, void *ud)
{
    (void)ud;
    if (log_ctx->quiet || !log_ctx->tty)
        return;
    if (total)
        fprintf(stderr, "\r\033[K%s %3u%%", stage, (unsigned)(done * 100 / total));
    else
        fprintf(stderr, "\r\033[K%s %llu MiB", stage, (unsigned long long)(done >> 20));
    progress_shown = 1;
    if (total && done >= total)
        clear_progress();
    fflush(stderr);
}

void cli_setup_log(struct cli_ctx *ctx)
{
    log_ctx = ctx;
    struct kiln_log_sink sink = { on_message, on_progress, NULL };
    kiln_log_set_sink(&sink);
}
