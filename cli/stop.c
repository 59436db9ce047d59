/* stop.c - what a command does when it is stopped by a signal. */
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/run.h"
#include "common/banned.h"

static sigset_t stop_signals;
static int (*stop_cleanup)(void);

/* Waits for SIGINT, SIGTERM or SIGHUP; runs the cleanup and exits 128+sig. */
static void *stop_thread(void *ud)
{
    (void)ud;
    int sig = 0;
    if (sigwait(&stop_signals, &sig) != 0)
        return NULL;
    static const char removed[] = "kiln: interrupted; nothing was written\n";
    static const char plain[] = "kiln: interrupted\n";
    run_kill_all();
    int r = stop_cleanup ? stop_cleanup() : 0;
    ssize_t w = r > 0 ? write(2, removed, sizeof(removed) - 1) : write(2, plain, sizeof(plain) - 1);
    (void)w;
    _exit(128 + sig);
}

int cli_on_stop(int (*cleanup)(void), struct kiln_err *err)
{
    /* A background job starts with SIGINT ignored, and an ignored signal
     * never reaches sigwait(): a command must still stop cleanly.  SIGHUP
     * keeps what nohup chose. */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    stop_cleanup = cleanup;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    pthread_t th;
    int rc = pthread_create(&th, NULL, stop_thread, NULL);
    if (rc != 0)
        return kiln_errno(err, KILN_EFAIL, rc, "cannot start the signal thread");
    pthread_detach(th);
    return 0;
}
