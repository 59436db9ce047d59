/* export-docker.c - the container image as a `docker load`-able tar:
 *
 *   <config hex>.json          the image config, as stored
 *   <diff_id hex>/layer.tar    each layer, uncompressed (its sha256 is the diff_id)
 *   manifest.json              [{"Config":..,"RepoTags":["NAME:VERSION"],"Layers":[..]}]
 *
 * Layers are decompressed into the export's work directory first (a tar
 * header needs the size), each checked against its digest and diff_id,
 * then the tar is written in sorted order with fixed owners and times. */
#include "images/export.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "common/fsutil.h"
#include "common/banned.h"

DEFINE_CLEANUP(struct archive, archive_write_free)

#define DOCKER_MAX_LAYERS 1000

enum item_kind { ITEM_DIR, ITEM_MEM, ITEM_FILE, ITEM_BLOB };

struct item {
    char *name;      /* path in the tar */
    enum item_kind kind;
    char *source;    /* ITEM_FILE: a path; ITEM_BLOB: a digest */
    const char *mem; /* ITEM_MEM */
};

static int cmp_item(const void *a, const void *b)
{
    return strcmp(((const struct item *)a)->name, ((const struct item *)b)->name);
}

/* Decompresses layer `digest` into path; its sha256 must be diff_id. */
static int unpack_layer(const struct export_source *s, const char *digest, const char *diff_id,
                        const char *path, struct kiln_err *err)
{
    struct export_layer l;
    int r = export_layer_open(s, digest, 1, &l, err);
    if (r < 0)
        return r;
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        export_layer_close(&l);
        return kiln_errno(err, KILN_EFAIL, errno, "cannot create '%s'", path);
    }
    struct hash_ctx *h = hash_new();
    struct archive_entry *e;
    if (!h || archive_read_next_header(l.ar, &e) != ARCHIVE_OK) {
        r = h ? export_layer_error(&l, err)
              : kiln_errf(err, KILN_ENOMEM, "out of memory");
        goto out;
    }
    for (;;) {
        la_ssize_t n = archive_read_data(l.ar, l.chunk, EXPORT_LAYER_CHUNK);
        if (n < 0) {
            r = export_layer_error(&l, err);
            goto out;
        }
        if (n == 0)
            break;
        hash_update(h, l.chunk, (size_t)n);
        r = fs_write_all(fd, l.chunk, (size_t)n, path, err);
        if (r < 0)
            goto out;
    }
    r = export_layer_finish(&l, err);
    if (r < 0)
        goto out;
    r = export_blob_hash_check(h, diff_id, err);
    h = NULL;
    if (r < 0)
        kiln_err_prefix(err, "layer '%s' does not match its diff_id", digest);
out:
    hash_free(h);
    export_layer_close(&l);
    return r;
}

/* Writes one regular file entry from fd (size bytes); checks digest when set. */
static int add_fd(struct archive *ar, const struct export_source *s, const char *name, int fd,
                  uint64_t size, const char *digest, const char *tmp, struct kiln_err *err)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, (la_int64_t)size);
    archive_entry_set_mtime(e, s->created, 0);
    int ar_r = archive_write_header(ar, e);
    archive_entry_free(e);
    if (ar_r != ARCHIVE_OK)
        return kiln_errf(err, KILN_EFAIL, "cannot write '%s': %s", tmp, archive_error_string(ar));
    struct hash_ctx *h = digest ? hash_new() : NULL;
    if (digest && !h)
        return kiln_errf(err, KILN_ENOMEM, "out of memory");
    _cleanup_free_ char *chunk = xmalloc(EXPORT_LAYER_CHUNK);
    uint64_t done = 0;
    int r = 0;
    for (;;) {
        ssize_t n = read(fd, chunk, EXPORT_LAYER_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = kiln_errno(err, KILN_EFAIL, errno, "cannot read '%s'", name);
            break;
        }
        if (n == 0)
            break;
        if (done + (uint64_t)n > size) {
            r = kiln_errf(err, KILN_EFAIL, "'%s' grew while it was copied", name);
            break;
        }
        done += (uint64_t)n;
        if (h)
            hash_update(h, chunk, (size_t)n);
        if (archive_write_data(ar, chunk, (size_t)n) != n) {
            r = kiln_errf(err, KILN_EFAIL, "cannot write '%s': %s", tmp, archive_error_string(ar));
            break;
        }
    }
    if (r == 0 && done != size)
        r = kiln_errf(err, KILN_EFAIL, "'%s' shrank while it was copied", name);
    if (r < 0) {
        hash_free(h);
        return r;
    }
    return h ? export_blob_hash_check(h, digest, err) : 0;
}

static int add_item(struct archive *ar, const struct export_source *s, const struct item *it,
                    const char *tmp, struct kiln_err *err)
{
    if (it->kind == ITEM_DIR || it->kind == ITEM_MEM) {
        size_t len = it->kind == ITEM_MEM ? strlen(it->mem) : 0;
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, it->name);
        archive_entry_set_filetype(e, it->kind == ITEM_DIR ? AE_IFDIR : AE_IFREG);
        archive_entry_set_perm(e, it->kind == ITEM_DIR ? 0755 : 0644);
        archive_entry_set_size(e, (la_int64_t)len);
        archive_entry_set_mtime(e, s->created, 0);
        int r = archive_write_header(ar, e);
        archive_entry_free(e);
        if (r != ARCHIVE_OK || (len && archive_write_data(ar, it->mem, len) != (la_ssize_t)len))
            return kiln_errf(err, KILN_EFAIL, "cannot write '%s': %s", tmp,
                             archive_error_string(ar));
        return 0;
    }
    _cleanup_close_ int fd = -1;
    uint64_t size = 0;
    if (it->kind == ITEM_BLOB) {
        int r = export_blob_open(s, it->source, &fd, &size, err);
        if (r < 0)
            return r;
        return add_fd(ar, s, it->name, fd, size, it->source, tmp, err);
    }
    fd = open(it->source, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return kiln_errno(err, KILN_EFAIL, errno, "cannot open '%s'", it->source);
    return add_fd(ar, s, it->name, fd, (uint64_t)st.st_size, NULL, tmp, err);
}

/* A tag docker accepts: lowercase repository, [A-Za-z0-9_.-] tag. */
static int docker_tag_ok(const char *name, const char *version)
{
    if (!name || !version || !name[0] || !version[0] || strlen(version) > 128)
        return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr("._-/", *p)))
            return 0;
    for (const char *p = version; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("._-", *p)))
            return 0;
    return version[0] != '.' && version[0] != '-';
}

int export_write_docker_archive(const struct export_source *s, const char *tmp,
                                struct kiln_err *err)
{
    if (!s->image || !s->config)
        return kiln_errf(err, KILN_EINVAL, "image '%s' has no container image to export", s->ref);
    json_t *layers = json_object_get(s->image, "layers");
    json_t *diff_ids = json_object_get(json_object_get(s->config, "rootfs"), "diff_ids");
    size_t n = json_array_size(layers);
    if (!json_is_array(layers) || !json_is_array(diff_ids) || json_array_size(diff_ids) != n)
        return kiln_errf(err, KILN_EINVAL,
                         "image '%s': the config's diff_ids do not match the manifest's layers",
                         s->ref);
    if (n > DOCKER_MAX_LAYERS)
        return kiln_errf(err, KILN_EINVAL, "image '%s' has more than %d layers", s->ref,
                         DOCKER_MAX_LAYERS);
    const char *config = json_string_value(json_object_get(json_object_get(s->image, "config"),
                                                           "digest"));
    _cleanup_free_ char *work = path_dirname(tmp);

    size_t cap = 2 * n + 2, count = 0;
    struct item *items = xcalloc(cap, sizeof(*items));
    json_t *layer_names = json_array();
    int r = 0;
    items[count++] = (struct item){ xasprintf("%s.json", config + 7), ITEM_BLOB, xstrdup(config),
                                    NULL };
    for (size_t i = 0; i < n && r == 0; i++) {
        const char *digest = json_string_value(json_object_get(json_array_get(layers, i), "digest"));
        const char *diff = json_string_value(json_array_get(diff_ids, i));
        if (!digest || !diff || strncmp(diff, "sha256:", 7) != 0 || !hash_is_hex(diff + 7)) {
            r = kiln_errf(err, KILN_EINVAL, "image '%s': layer %zu has no valid digest or diff_id",
                          s->ref, i + 1);
            break;
        }
        _cleanup_free_ char *name = xasprintf("%s/layer.tar", diff + 7);
        json_array_append_new(layer_names, json_string(name));
        int seen = 0;
        for (size_t k = 0; k < count; k++)
            if (strcmp(items[k].name, name) == 0)
                seen = 1;
        if (seen)
            continue;
        _cleanup_free_ char *path = xasprintf("%s/layer-%s.tar", work, diff + 7);
        r = unpack_layer(s, digest, diff, path, err);
        items[count++] = (struct item){ xstrndup(diff + 7, HASH_HEX_LEN), ITEM_DIR, NULL, NULL };
        items[count++] = (struct item){ TAKE_PTR(name), ITEM_FILE, TAKE_PTR(path), NULL };
    }

    _cleanup_free_ char *manifest = NULL;
    if (r == 0) {
        json_t *tags = json_array();
        if (docker_tag_ok(s->name, s->version))
            json_array_append_new(tags, json_string(s->ref_name));
        json_auto_t *m = json_pack("[{s:s+,s:o,s:O}]", "Config", config + 7,
                                                      ".json", "RepoTags", tags, "Layers",
                                                      layer_names);
        manifest = m ? json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        if (!manifest)
            r = kiln_errf(err, KILN_ENOMEM, "out of memory");
        else
            items[count++] = (struct item){ xstrdup("manifest.json"), ITEM_MEM, NULL, manifest };
    }
    json_decref(layer_names);

    if (r == 0) {
        qsort(items, count, sizeof(*items), cmp_item);
        _cleanup_(archive_write_freep) struct archive *ar = export_tar_open(tmp, err);
        if (!ar)
            r = err->code;
        for (size_t i = 0; r == 0 && i < count; i++)
            r = add_item(ar, s, &items[i], tmp, err);
        if (r == 0)
            r = export_tar_close(ar, tmp, err);
    }
    for (size_t i = 0; i < count; i++) {
        if (items[i].kind == ITEM_FILE)
            unlink(items[i].source);
        free(items[i].name);
        free(items[i].source);
    }
    free(items);
    return r;
}
