/* base-debian.c - a Debian root filesystem from mmdebstrap, cached by its parameters. */
#include "builder/base.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "common/fsutil.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/run.h"
#include "common/banned.h"

#define DEFAULT_MIRROR "http://deb.debian.org/debian"
#define DEFAULT_VARIANT "minbase"
#define MMDEBSTRAP_TIMEOUT 3600

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The packages, sorted and comma-joined (caller-owned); "" when none. */
static char *include_list(const struct recipe_base *b)
{
    struct buf out = BUF_INIT;
    buf_init(&out, 0);
    if (b->packages.n) {
        char **v = xcalloc(b->packages.n, sizeof(char *));
        memcpy(v, b->packages.v, b->packages.n * sizeof(char *));
        qsort(v, b->packages.n, sizeof(char *), cmp_str);
        for (size_t i = 0; i < b->packages.n; i++) {
            if (i && strcmp(v[i], v[i - 1]) == 0)
                continue;
            if (out.len)
                buf_addch(&out, ',', NULL);
            buf_adds(&out, v[i], NULL);
        }
        free(v);
    }
    return buf_detach(&out, NULL);
}

void base_debian_key(const struct recipe_base *b, char key[HASH_HEX_LEN + 1])
{
    _cleanup_free_ char *inc = include_list(b);
    _cleanup_free_ char *s = xasprintf("kiln-debian-v1\nsuite=%s\nvariant=%s\nmirror=%s\ninclude=%s\narch=amd64\n",
                                       b->suite ? b->suite : "", b->variant ? b->variant : DEFAULT_VARIANT,
                                       b->mirror ? b->mirror : DEFAULT_MIRROR, inc);
    hash_sha256_hex(s, strlen(s), key);
}

int base_debian_tar(const struct recipe_base *b, const char *cache_dir, char **tar_path,
                    char sha256[HASH_HEX_LEN + 1], struct kiln_err *err)
{
    if (!b->suite || !*b->suite)
        return kiln_errf(err, KILN_EINVAL, "base 'debian' needs a suite");
    char key[HASH_HEX_LEN + 1];
    base_debian_key(b, key);
    _cleanup_free_ char *dir = path_join(cache_dir, "debian");
    _cleanup_free_ char *name = xasprintf("%s.tar", key);
    _cleanup_free_ char *dest = path_join(dir, name);
    const char *variant = b->variant ? b->variant : DEFAULT_VARIANT;
    const char *mirror = b->mirror ? b->mirror : DEFAULT_MIRROR;
    if (!fs_exists(dest)) {
        int ret = fs_mkdir_p(dir, 0755, err);
        if (ret < 0)
            return ret;
        if (!run_have("mmdebstrap"))
            return kiln_errf(err, KILN_EFAIL, "base 'debian' needs mmdebstrap, and it is not installed");
        _cleanup_free_ char *tmpdir = NULL;
        ret = fs_mkdtemp(dir, "partial.", &tmpdir, err);
        if (ret < 0)
            return ret;
        _cleanup_free_ char *tmp = path_join(tmpdir, "rootfs.tar");
        _cleanup_free_ char *inc = include_list(b);
        _cleanup_free_ char *variant_opt = xasprintf("--variant=%s", variant);
        _cleanup_free_ char *inc_opt = xasprintf("--include=%s", inc);
        char *argv[8];
        size_t k = 0;
        argv[k++] = "mmdebstrap";
        argv[k++] = "--quiet";
        argv[k++] = variant_opt;
        if (*inc)
            argv[k++] = inc_opt;
        argv[k++] = b->suite;
        argv[k++] = tmp;
        argv[k++] = (char *)mirror;
        argv[k] = NULL;
        kiln_log(KILN_LOG_INFO, "bootstrapping Debian %s (%s%s%s) with mmdebstrap", b->suite, variant,
                 *inc ? " + " : "", inc);
        struct run_opts opts = { .log_lines = 1, .timeout_sec = MMDEBSTRAP_TIMEOUT };
        ret = run_argv(argv, &opts, NULL, err);
        if (ret == 0 && rename(tmp, dest) < 0)
            ret = kiln_errno(err, KILN_EFAIL, errno, "cannot move the Debian rootfs to '%s'", dest);
        if (ret == 0)
            ret = fs_fsync_dir(dir, err);
        fs_rm_rf(tmpdir, NULL);
        if (ret < 0)
            return kiln_err_prefix(err, "base 'debian %s'", b->suite);
    } else {
        kiln_log(KILN_LOG_INFO, "using the cached Debian %s rootfs", b->suite);
    }
    int ret = hash_file_sha256(dest, sha256, NULL, err);
    if (ret < 0)
        return ret;
    *tar_path = TAKE_PTR(dest);
    return 0;
}
