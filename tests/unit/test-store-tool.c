/* test-store-tool.c - drives the store from shell tests.
 *
 * Without arguments it is a TAP test of its own commands.  With arguments:
 *   put STORE FILE                  store FILE as a blob, print its digest
 *   add STORE NAME VERSION DIGEST [--auto] [--channel C] [--force]
 *                                   list a stored manifest, print the version
 *   refer STORE SUBJECT DIGEST      list DIGEST as a referrer of SUBJECT
 *   churn STORE NAME [LAYER_BYTES]  add auto-versioned images forever (for kill tests);
 *                                   prints one line per image added
 *   verify STORE                    re-hash every blob and walk every listed image
 * Exit status: 0 ok, 1 failed (message on stderr). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "common/fsutil.h"
#include "common/hash.h"
#include "images/store.h"
#include "tests/unit/tap.h"

static int fail(const struct kiln_err *err)
{
    fprintf(stderr, "test-store-tool: %s\n", err->msg);
    return 1;
}

static struct store *open_rw(const char *dir, struct kiln_err *err)
{
    struct store *st = NULL;
    if (store_open(dir, STORE_CREATE, &st, err) < 0)
        return NULL;
    return st;
}

static int cmd_put(char **argv, struct kiln_err *err)
{
    struct store *st = open_rw(argv[0], err);
    if (!st)
        return fail(err);
    char d[DIGEST_STR_SIZE];
    int r = store_blob_put_file(st, argv[1], d, NULL, err);
    store_close(st);
    if (r < 0)
        return fail(err);
    printf("%s\n", d);
    return 0;
}

static int cmd_add(int argc, char **argv, struct kiln_err *err)
{
    struct store_image img = { .name = argv[1], .version = argv[2], .digest = argv[3] };
    int flags = 0;
    for (int i = 4; i < argc; i++) {
        if (!strcmp(argv[i], "--auto"))
            flags |= STORE_ADD_AUTO_VERSION;
        else if (!strcmp(argv[i], "--force"))
            flags |= STORE_ADD_FORCE;
        else if (!strcmp(argv[i], "--channel") && i + 1 < argc)
            img.channel = argv[++i];
    }
    struct store *st = open_rw(argv[0], err);
    if (!st)
        return fail(err);
    char *v = NULL;
    int r = store_image_add(st, &img, flags, &v, err);
    store_close(st);
    if (r < 0)
        return fail(err);
    printf("%s\n", v);
    free(v);
    return 0;
}

static int cmd_refer(char **argv, struct kiln_err *err)
{
    struct store *st = open_rw(argv[0], err);
    if (!st)
        return fail(err);
    int r = store_referrer_add(st, argv[1], argv[2], NULL, NULL, 0, NULL, err);
    store_close(st);
    return r < 0 ? fail(err) : 0;
}

/* One small image: a layer of pseudo-random bytes, a config naming it, a manifest. */
static int make_image(struct store *st, unsigned long seq, size_t layer_bytes, char out[DIGEST_STR_SIZE],
                      struct kiln_err *err)
{
    struct store_blob_writer *w;
    int r = store_blob_begin(st, &w, err);
    if (r < 0)
        return r;
    unsigned char chunk[4096];
    unsigned long x = seq * 2654435761ul + (unsigned long)getpid();
    size_t left = layer_bytes;
    while (left) {
        for (size_t i = 0; i < sizeof(chunk); i++) {
            x = x * 6364136223846793005ul + 1442695040888963407ul;
            chunk[i] = (unsigned char)(x >> 33);
        }
        size_t n = left < sizeof(chunk) ? left : sizeof(chunk);
        if ((r = store_blob_write(w, chunk, n, err)) < 0) {
            store_blob_abort(w);
            return r;
        }
        left -= n;
    }
    char layer[DIGEST_STR_SIZE], cfg[DIGEST_STR_SIZE];
    uint64_t lsize;
    if ((r = store_blob_commit(w, NULL, layer, &lsize, err)) < 0)
        return r;
    _cleanup_free_ char *c = xasprintf("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Env\":[\"SEQ=%lu\"]},"
                                       "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}", seq, layer);
    if ((r = store_blob_put(st, c, strlen(c), cfg, err)) < 0)
        return r;
    _cleanup_free_ char *m = xasprintf(
        "{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_MANIFEST "\","
        "\"config\":{\"mediaType\":\"" OCI_MT_CONFIG "\",\"digest\":\"%s\",\"size\":%zu},"
        "\"layers\":[{\"mediaType\":\"" OCI_MT_LAYER_TAR "\",\"digest\":\"%s\",\"size\":%llu}]}",
        cfg, strlen(c), layer, (unsigned long long)lsize);
    return store_blob_put(st, m, strlen(m), out, err);
}

static int cmd_churn(int argc, char **argv, struct kiln_err *err)
{
    size_t layer_bytes = argc > 2 ? (size_t)strtoul(argv[2], NULL, 10) : 262144;
    for (unsigned long seq = 1;; seq++) {
        struct store *st = open_rw(argv[0], err);
        if (!st)
            return fail(err);
        char d[DIGEST_STR_SIZE];
        struct store_image img = { .name = argv[1], .version = "1.0.0", .channel = "edge" };
        img.digest = d;
        char *v = NULL;
        int r = make_image(st, seq, layer_bytes, d, err);
        if (r == 0)
            r = store_image_add(st, &img, STORE_ADD_AUTO_VERSION, &v, err);
        if (r == 0 && seq % 3 == 0)
            r = store_channel_set(st, argv[1], "stable", v, err);
        store_close(st);
        if (r < 0)
            return fail(err);
        printf("%s %s\n", v, d);
        fflush(stdout);
        free(v);
    }
}

static int count_walk(const struct oci_desc *d, const struct oci_desc *parent, void *ud, struct kiln_err *err)
{
    (void)parent;
    const struct store *st = ud;
    if (oci_media_type_is_manifest(d->media_type) || oci_media_type_is_index(d->media_type))
        return 0; /* read and verified by the walk itself */
    return store_blob_verify(st, d->digest, d->size, err);
}

static int cmd_verify(char **argv, struct kiln_err *err)
{
    struct store *st = NULL;
    if (store_open(argv[0], 0, &st, err) < 0)
        return fail(err);
    int r = 0;
    _cleanup_free_ char *blobs = path_join(argv[0], "blobs/sha256");
    DIR *d = opendir(blobs);
    struct dirent *e;
    size_t n = 0;
    while (r == 0 && d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        _cleanup_free_ char *dg = xasprintf("sha256:%s", e->d_name);
        r = store_blob_verify(st, dg, -1, err);
        n++;
    }
    if (d)
        closedir(d);
    json_t *index = NULL;
    if (r == 0)
        r = store_index_read(st, &index, err);
    size_t i;
    json_t *ent;
    json_array_foreach(index ? json_object_get(index, "manifests") : NULL, i, ent) {
        struct oci_desc desc;
        if (r == 0)
            r = oci_desc_parse(ent, "index entry", &desc, err);
        if (r == 0) {
            r = store_walk(st, &desc, STORE_WALK_SUBJECT, count_walk, st, err);
            oci_desc_release(&desc);
        }
    }
    json_decref(index);
    store_close(st);
    if (r < 0)
        return fail(err);
    printf("# %zu blobs verified\n", n);
    return 0;
}

static int self_test(void)
{
    tap_tmpdir();
    struct kiln_err err = KILN_ERR_INIT;
    struct store *st = open_rw("s", &err);
    char d[DIGEST_STR_SIZE];
    ok(st && make_image(st, 1, 1000, d, &err) == 0, "makes an image");
    struct store_image img = { .name = "x", .version = "1.0.0", .digest = d };
    ok(store_image_add(st, &img, STORE_ADD_AUTO_VERSION, NULL, &err) == 0, "lists it");
    store_close(st);
    char *argv[] = { "s" };
    is_int(cmd_verify(argv, &err), 0, "verify passes");
    return tap_done();
}

int main(int argc, char **argv)
{
    struct kiln_err err = KILN_ERR_INIT;
    if (argc < 2)
        return self_test();
    const char *cmd = argv[1];
    int n = argc - 2;
    char **a = argv + 2;
    if (!strcmp(cmd, "put") && n == 2)
        return cmd_put(a, &err);
    if (!strcmp(cmd, "add") && n >= 4)
        return cmd_add(n, a, &err);
    if (!strcmp(cmd, "refer") && n == 3)
        return cmd_refer(a, &err);
    if (!strcmp(cmd, "churn") && n >= 2)
        return cmd_churn(n, a, &err);
    if (!strcmp(cmd, "verify") && n == 1)
        return cmd_verify(a, &err);
    fprintf(stderr, "usage: test-store-tool put|add|refer|churn|verify ...\n");
    return 2;
}
