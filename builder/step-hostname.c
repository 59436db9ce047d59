/* step-hostname.c - /etc/hostname and the 127.0.1.1 line of /etc/hosts. */
#include "builder/step.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "common/banned.h"

int step_hostname_run(struct build_ctx *ctx, struct kiln_err *err)
{
    const char *h = ctx->recipe->hostname;
    if (!*h || strpbrk(h, " \t\n\r/:"))
        return kiln_errf(err, KILN_EINVAL, "hostname '%s' is not a host name", h);
    _cleanup_free_ char *line = xasprintf("%s\n", h);
    int r = step_write_text(ctx, "hostname", "/etc/hostname", line, strlen(line), 0644, 0, 0, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *hosts = NULL;
    size_t len = 0;
    if ((r = step_read_text(ctx, "/etc/hosts", &hosts, &len, err)) < 0)
        return r;
    struct buf b = BUF_INIT;
    if (len == 0) {
        buf_adds(&b, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n", NULL);
    } else {
        /* Keep every line but an earlier 127.0.1.1 one. */
        const char *p = hosts;
        while (*p) {
            const char *nl = strchr(p, '\n');
            size_t ll = nl ? (size_t)(nl - p) : strlen(p);
            if (!(ll >= 9 && strncmp(p, "127.0.1.1", 9) == 0 && (ll == 9 || p[9] == ' ' || p[9] == '\t'))) {
                buf_add(&b, p, ll, NULL);
                buf_addch(&b, '\n', NULL);
            }
            p += ll + (nl ? 1 : 0);
        }
    }
    buf_addf(&b, NULL, "127.0.1.1\t%s\n", h);
    r = step_write_text(ctx, "hostname", "/etc/hosts", b.data, b.len, 0644, 0, 0, err);
    buf_release(&b);
    return r;
}
