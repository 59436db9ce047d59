/* creds.c - registry credentials for push and pull, from the docker config
 * files: $REGISTRY_AUTH_FILE, then $DOCKER_CONFIG/config.json (or
 * ~/.docker/config.json); kiln login writes the first of them. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/fsutil.h"
#include "common/run.h"
#include "images/store.h"
#include "registry/registry.h"
#include "common/banned.h"

char *cli_registry_auth_file(void)
{
    const char *f = getenv("REGISTRY_AUTH_FILE");
    if (f && f[0])
        return xstrdup(f);
    const char *dc = getenv("DOCKER_CONFIG");
    if (dc && dc[0])
        return xasprintf("%s/config.json", dc);
    const char *home = getenv("HOME");
    if (home && home[0])
        return xasprintf("%s/.docker/config.json", home);
    return NULL;
}

/* Asks `docker-credential-NAME get` for host's credentials (host on its
 * standard input, its answer on standard output, at most 64 KiB, 30 s):
 * 1 with them, 0 when it has none. */
static int helper_get(const char *helper, const char *host, char **user, char **password, struct kiln_err *err)
{
    _cleanup_free_ char *prog = xasprintf("docker-credential-%s", helper);
    char *argv[] = { prog, (char *)"get", NULL };
    struct buf out BUF_CLEANUP = BUF_INIT;
    buf_init(&out, 64u << 10);
    struct run_opts ro = { .out = &out, .timeout_sec = 30, .in = host, .out_only = 1 };
    int status = 0;
    if (!run_have(prog))
        return kiln_errf(err, KILN_EFAIL, "the docker config names credential helper '%s', but '%s' is not on PATH",
                         helper, prog);
    int r = run_argv(argv, &ro, &status, err);
    if (r == 0)
        r = registry_creds_helper_answer(helper, status, out.data, out.len, user, password, err);
    if (out.data)
        explicit_bzero(out.data, out.len);
    return r;
}

int cli_registry_creds(const char *host, char **user, char **password, struct kiln_err *err)
{
    char *files[2] = { NULL, NULL };
    size_t n = 0;
    const char *f = getenv("REGISTRY_AUTH_FILE");
    if (f && f[0])
        files[n++] = xstrdup(f);
    const char *dc = getenv("DOCKER_CONFIG");
    const char *home = getenv("HOME");
    if (dc && dc[0])
        files[n++] = xasprintf("%s/config.json", dc);
    else if (home && home[0])
        files[n++] = xasprintf("%s/.docker/config.json", home);
    *user = *password = NULL;
    _cleanup_free_ char *helper = NULL;
    int r = registry_creds_helper((const char *const *)files, n, host, &helper, err);
    if (r == 1)
        r = helper_get(helper, host, user, password, err);
    /* no helper, or it has nothing for host: the auths entries */
    if (r == 0)
        r = registry_creds_find((const char *const *)files, n, host, user, password, err);
    for (size_t i = 0; i < n; i++)
        free(files[i]);
    return r < 0 ? r : 0;
}

void cli_registry_creds_free(char *user, char *password)
{
    free(user);
    if (password) {
        explicit_bzero(password, strlen(password));
        free(password);
    }
}

int cli_registry_promote(const struct registry_ref *dest, struct registry_promote_opts *o,
                         struct registry_promote_result *res, struct kiln_err *err)
{
    memset(res, 0, sizeof(*res));
    char *user = NULL, *password = NULL;
    int r = cli_registry_creds(dest->host, &user, &password, err);
    o->conn.user = user;
    o->conn.password = password;
    /* the statement is made in a scratch store, removed afterwards */
    const char *tmp = getenv("TMPDIR");
    _cleanup_free_ char *scratch = NULL;
    struct store *st = NULL;
    if (r == 0)
        r = fs_mkdtemp(tmp && tmp[0] ? tmp : "/tmp", "kiln-statement-", &scratch, err);
    if (r == 0)
        r = store_open(scratch, STORE_CREATE, &st, err);
    if (r == 0)
        r = registry_promote(st, dest, o, res, err);
    store_close(st);
    if (scratch)
        fs_rm_rf(scratch, NULL);
    o->conn.user = o->conn.password = NULL;
    cli_registry_creds_free(user, password);
    return r;
}
