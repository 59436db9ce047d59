/* build-disk.c - the pipeline's side of VM images: debian and disk bases,
 * the guest stage hook and the qcow2/raw outputs. */
#include "builder/base.h"
#include "builder/output.h"
#include "builder/step.h"
#include "disk/disk.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "common/fsutil.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/banned.h"

/* Replaces ctx->tree with the rootfs in tar (our own or a checked source: devices allowed). */
static int tree_from_tar(struct build_ctx *ctx, const char *what, const char *tar, struct kiln_err *err)
{
    struct tree_limits lim = ctx->opts->limits;
    lim.allow_devices = 1;
    struct tree *t = NULL;
    int r = tree_new(ctx->scratch, &lim, &t, err);
    if (r < 0)
        return r;
    tree_set_epoch(t, ctx->sde);
    _cleanup_close_ int fd = open(tar, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        tree_free(t);
        return kiln_errno(err, KILN_EFAIL, errno, "%s: cannot open '%s'", what, tar);
    }
    if ((r = tree_read_tar(t, what, fd, NULL, err)) < 0) {
        tree_free(t);
        return r;
    }
    tree_free(ctx->tree);
    ctx->tree = t;
    return 0;
}

int base_debian_run(struct build_ctx *ctx, struct kiln_err *err)
{
    const struct recipe_base *b = &ctx->recipe->base;
    if (!ctx->debian)
        return kiln_errf(err, KILN_EFAIL, "base 'debian': the mirror was not checked");
    _cleanup_free_ char *tar = NULL;
    char hex[HASH_HEX_LEN + 1];
    int r = base_debian_tar(ctx->debian, ctx->opts->cache_dir, &tar, hex, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *what = xasprintf("base debian '%s'", b->suite);
    if ((r = tree_from_tar(ctx, what, tar, err)) < 0)
        return r;
    _cleanup_free_ char *name = xasprintf("base debian %s %s (mmdebstrap, %s)", b->suite,
                                          b->variant ? b->variant : "minbase",
                                          b->mirror ? b->mirror : "http://deb.debian.org/debian");
    build_add_input(ctx, name, tar, hex);
    base_debian_inputs(ctx, ctx->debian);
    return 0;
}

int base_disk_run(struct build_ctx *ctx, struct kiln_err *err)
{
    const struct recipe_base *b = &ctx->recipe->base;
    /* Opened inside the build context and held open: qemu-img and the
     * appliance read this very file through /proc/PID/fd/N, whatever
     * happens to the path meanwhile. */
    _cleanup_close_ int fd = recipe_open_input(ctx->recipe, "base.disk.path", b->path, O_RDONLY | O_NOCTTY, NULL,
                                               err);
    if (fd < 0)
        return fd;
    _cleanup_free_ char *src = xasprintf("/proc/%ld/fd/%d", (long)getpid(), fd);
    _cleanup_free_ char *tar = path_join(ctx->scratch, "base-disk.tar");
    int r = base_disk_tar(b, src, tar, err);
    if (r < 0)
        return r;
    const char *slash = strrchr(b->path, '/');
    _cleanup_free_ char *what = xasprintf("base disk '%s'", slash ? slash + 1 : b->path);
    r = tree_from_tar(ctx, what, tar, err);
    unlink(tar);
    if (r < 0)
        return r;
    char hex[HASH_HEX_LEN + 1];
    if (lseek(fd, 0, SEEK_SET) < 0)
        return kiln_errno(err, KILN_EFAIL, errno, "%s", what);
    if ((r = hash_fd_sha256(fd, b->path, hex, NULL, err)) < 0)
        return r;
    _cleanup_free_ char *name = xasprintf("base disk %s", slash ? slash + 1 : b->path);
    build_add_input(ctx, name, b->path, hex);
    return 0;
}

int step_disk_possible(const struct recipe *r, struct kiln_err *err)
{
    if (!recipe_needs_guest(r) || host_disk_possible(r))
        return 0;
    for (size_t i = 0; i < r->n_files; i++)
        if (r->files[i].after_run)
            return kiln_errf(err, KILN_EINVAL, "%s:%u:%u: 'files[%zu].after_run' needs the disk laid out on the "
                             "host, after the guest stage; here the appliance lays it out (secure_boot, a file "
                             "system other than ext4, kiln not running as root, or parted, sfdisk, mke2fs, debugfs "
                             "or dumpe2fs missing)", r->source ? r->source : r->path, r->files[i].pos.line,
                             r->files[i].pos.col, i);
    return 0;
}

/* What the guest or disk step made becomes the build's: the raw disk (if
 * any) for the disk outputs, and whether the sysprep check held. */
static void keep_result(struct build_ctx *ctx, struct guest_result *res)
{
    free(ctx->guest_disk);
    ctx->guest_disk = TAKE_PTR(res->disk_raw);
    ctx->sysprep_verified = res->sysprep_verified;
    guest_result_release(res);
}

/* The disk laid out on the host from the tree; guest_verified: the guest
 * stage's own sysprep check (1 when there was none). */
static int lay_out_on_host(struct build_ctx *ctx, const char *out_tar, int guest_verified, struct kiln_err *err)
{
    struct guest_result res;
    if (host_disk_stage(ctx->recipe, ctx->tree, ctx->scratch, out_tar, &res, err) < 0)
        return kiln_err_prefix(err, "disk");
    res.sysprep_verified = res.sysprep_verified && guest_verified;
    keep_result(ctx, &res);
    return 0;
}

int step_disk_run(struct build_ctx *ctx, const char *in_tar, const char *out_tar, struct kiln_err *err)
{
    const struct recipe *r = ctx->recipe;
    int rc = disk_check_boot_tree(r, ctx->tree, err);
    if (rc < 0)
        return rc;
    if (host_disk_possible(r))
        return lay_out_on_host(ctx, out_tar, recipe_needs_guest(r) ? ctx->sysprep_verified : 1, err);
    /* Nothing runs inside the image (step_disk_possible() held before the
     * build began): the appliance lays the disk out. */
    struct guest_result res;
    if (guest_stage_run(r, in_tar, ctx->scratch, ctx->sde, 1, out_tar, &res, err) < 0)
        return kiln_err_prefix(err, "disk");
    keep_result(ctx, &res);
    return 0;
}

int step_guest_run(struct build_ctx *ctx, const char *in_tar, const char *out_tar, int lay_out_disk,
                   struct kiln_err *err)
{
    /* What the in-guest steps need, checked on the tree before any appliance starts. */
    if (ctx->recipe->n_run && !tree_resolve(ctx->tree, "/bin/sh"))
        return kiln_errf(err, KILN_EINVAL, "'run' needs a shell, and the image has no '/bin/sh'");
    if (ctx->recipe->packages.n && !tree_resolve(ctx->tree, "/usr/bin/apt-get"))
        return kiln_errf(err, KILN_EINVAL, "'packages' needs apt-get, and the image has no '/usr/bin/apt-get'");
    int r = disk_check_boot_tree(ctx->recipe, ctx->tree, err);
    if (r < 0)
        return r;
    struct guest_result res;
    if (!lay_out_disk) {
        /* the disk step lays the disk out, after the files that come after this step */
        if (guest_stage_run(ctx->recipe, in_tar, ctx->scratch, ctx->sde, 0, out_tar, &res, err) < 0)
            return kiln_err_prefix(err, "guest stage");
    } else if (host_disk_eligible(ctx->recipe)) {
        return lay_out_on_host(ctx, out_tar, 1, err);
    } else if (host_disk_possible(ctx->recipe)) {
        /* The appliance runs the in-guest steps on a scratch disk; the
         * host lays the disk out from its (reproducible) tree. */
        _cleanup_free_ char *mid = xasprintf("%s/guest-mid.tar", ctx->scratch);
        r = guest_stage_run(ctx->recipe, in_tar, ctx->scratch, ctx->sde, 0, mid, &res, err);
        if (r < 0)
            return kiln_err_prefix(err, "guest stage");
        int verified = res.sysprep_verified;
        guest_result_release(&res);
        r = tree_from_tar(ctx, "guest stage output", mid, err);
        unlink(mid);
        if (r < 0)
            return r;
        return lay_out_on_host(ctx, out_tar, verified, err);
    } else if (guest_stage_run(ctx->recipe, in_tar, ctx->scratch, ctx->sde, 1, out_tar, &res, err) < 0) {
        return kiln_err_prefix(err, "guest stage");
    }
    keep_result(ctx, &res);
    return 0;
}

static int same_layout(const struct recipe_output *a, const struct recipe_output *b)
{
    const char *fa = a->filesystem ? a->filesystem : "ext4";
    const char *fb = b->filesystem ? b->filesystem : "ext4";
    return a->size == b->size && a->partition_table == b->partition_table && a->bootable == b->bootable &&
           a->firmware == b->firmware && a->secure_boot == b->secure_boot && strcmp(fa, fb) == 0;
}

static int blob_from_file(struct build_ctx *ctx, const char *path, char digest[DIGEST_STR_SIZE],
                          uint64_t *size, struct kiln_err *err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kiln_errno(err, KILN_EFAIL, errno, "cannot open '%s'", path);
    struct build_blob_writer *w = NULL;
    int r = build_blob_begin(ctx, &w, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *chunk = xmalloc(1 << 20);
    for (;;) {
        ssize_t n = read(fd, chunk, 1 << 20);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            build_blob_cancel(w);
            return kiln_errno(err, KILN_EFAIL, errno, "cannot read '%s'", path);
        }
        if (n == 0)
            break;
        if ((r = build_blob_write(w, chunk, (size_t)n, err)) < 0) {
            build_blob_cancel(w);
            return r;
        }
    }
    return build_blob_end(w, digest, size, err);
}

int output_disk_run(struct build_ctx *ctx, const struct recipe_output *o, struct output_desc *out,
                    struct kiln_err *err)
{
    const char *name = o->type == OUTPUT_QCOW2 ? "qcow2" : "raw";
    if (!ctx->guest_disk)
        return kiln_errf(err, KILN_EFAIL, "output '%s': the guest stage made no disk", name);
    const struct recipe_output *first = recipe_first_disk(ctx->recipe);
    if (first && !same_layout(first, o))
        return kiln_errf(err, KILN_EINVAL, "output '%s': every disk output of a recipe must have the same size, partition table, filesystem, bootable and firmware setting", name);
    int r = build_files_blob(ctx, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *dest = xasprintf("%s/disk-out.%s", ctx->scratch, name);
    if ((r = disk_write_output(ctx->guest_disk, o, dest, err)) < 0)
        return r;
    char ddigest[DIGEST_STR_SIZE];
    uint64_t dsize = 0;
    kiln_log(KILN_LOG_INFO, "storing the %s disk", name);
    r = blob_from_file(ctx, dest, ddigest, &dsize, err);
    unlink(dest);
    if (r < 0)
        return kiln_err_prefix(err, "output '%s'", name);
    char edigest[DIGEST_STR_SIZE];
    if ((r = build_blob_put(ctx, "{}", 2, edigest, NULL, err)) < 0)
        return r;
    const char *at = o->type == OUTPUT_QCOW2 ? KILN_AT_QCOW2 : KILN_AT_RAW;
    const char *mt = o->type == OUTPUT_QCOW2 ? KILN_MT_QCOW2 : KILN_MT_RAW;
    _cleanup_free_ char *title = xasprintf("%s.%s", ctx->recipe->name, name);
    json_t *ann = output_annotations(ctx);
    if (o->bootable) {
        json_object_set_new(ann, KILN_ANN_DISK_BOOTABLE, json_string("true"));
        /* What boot-test boots by default: every firmware the disk claims. */
        json_object_set_new(ann, KILN_ANN_DISK_FIRMWARE, json_string(recipe_firmware_name(o->firmware)));
        if (o->secure_boot)
            json_object_set_new(ann, KILN_ANN_DISK_SECURE_BOOT, json_string("true"));
    }
    if (ctx->recipe->boot_test.marker)
        json_object_set_new(ann, KILN_ANN_BOOT_MARKER, json_string(ctx->recipe->boot_test.marker));
    if (ctx->recipe->boot_test.timeout) {
        char t[32];
        snprintf(t, sizeof(t), "%u", ctx->recipe->boot_test.timeout);
        json_object_set_new(ann, KILN_ANN_BOOT_TIMEOUT, json_string(t));
    }
    json_t *m = json_pack("{s:i,s:s,s:s,s:{s:s,s:s,s:i},s:[{s:s,s:s,s:I,s:{s:s}}],s:o}", "schemaVersion", 2,
                          "mediaType", OCI_MT_MANIFEST, "artifactType", at, "config", "mediaType",
                          OCI_MT_EMPTY, "digest", OCI_EMPTY_DIGEST, "size", 2, "layers", "mediaType", mt,
                          "digest", ddigest, "size", (json_int_t)dsize, "annotations",
                          OCI_ANN_TITLE, title, "annotations", ann);
    r = build_blob_put_json(ctx, m, out->digest, &out->size, err);
    json_decref(m);
    if (r < 0)
        return r;
    out->media_type = OCI_MT_MANIFEST;
    out->artifact_type = at;
    out->content_media_type = mt;
    out->content_size = dsize;
    return 0;
}
