/* creds.c - registry credentials for push and pull, from the docker config
 * files: $REGISTRY_AUTH_FILE, then $DOCKER_CONFIG/config.json (or
 * ~/.docker/config.json); kiln login writes the first of them. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/fsutil.h"
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
    int r = registry_creds_find((const char *const *)files, n, host, user, password, err);
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
