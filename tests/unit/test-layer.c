/* test-layer.c - the layer writer: gzip (two workers) and zstd output
 * decompress to the tar whose digest is the diff_id, and the same tree
 * always gives the same bytes. */
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "builder/layer.h"
#include "common/common.h"
#include "common/fsutil.h"
#include "tap.h"
#include "common/banned.h"

static struct build_opts opts;

static struct build_ctx *ctx_new(struct store *st)
{
    struct kiln_err err = KILN_ERR_INIT;
    struct build_ctx *ctx = xcalloc(1, sizeof(*ctx));
    pthread_mutex_init(&ctx->lock, NULL);
    ctx->store = st;
    ctx->opts = &opts;
    if (tree_new(".", NULL, &ctx->tree, &err) < 0) {
        printf("Bail out! %s\n", err.msg);
        exit(1);
    }
    /* Several MiB of compressible but varied content: many chunks, dictionaries used. */
    struct tree_new_entry ne = { .path = "data/big", .type = TREE_FILE, .mode = 0644 };
    struct tree_entry *e;
    tree_add(ctx->tree, "test", &ne, &e, &err);
    tree_content_begin(ctx->tree, &err);
    char line[128];
    for (unsigned i = 0; i < 200000; i++) {
        int n = snprintf(line, sizeof(line), "line %u of the test data %u\n", i, (i * 2654435761u) % 1000);
        tree_content_write(ctx->tree, "test", line, (size_t)n, &err);
    }
    tree_content_end(ctx->tree, e, &err);
    ne.path = "etc/small";
    tree_add(ctx->tree, "test", &ne, &e, &err);
    tree_set_inline(ctx->tree, e, "small\n", 6, &err);
    return ctx;
}

static void ctx_free(struct build_ctx *ctx)
{
    for (size_t i = 0; i < ctx->n_blobs; i++)
        store_blob_abort(ctx->blobs[i].w);
    free(ctx->blobs);
    tree_free(ctx->tree);
    free(ctx);
}

/* The last held blob's temp file, decompressed with the reference
 * decoders; returns the SHA-256 of the result. */
static int decompressed_sha(struct build_ctx *ctx, enum layer_compression c, char hex[HASH_HEX_LEN + 1])
{
    const char *path = store_blob_tmp_path(ctx->blobs[ctx->n_blobs - 1].w);
    struct buf in = BUF_INIT;
    struct kiln_err err = KILN_ERR_INIT;
    if (fs_read_file(path, 0, &in, &err) < 0)
        return -1;
    struct hash_ctx *h = hash_new();
    unsigned char *out = xmalloc(1 << 20);
    int r = 0;
    if (c == LAYER_GZIP) {
        z_stream z;
        memset(&z, 0, sizeof(z));
        inflateInit2(&z, 31);
        z.next_in = (unsigned char *)in.data;
        z.avail_in = (uInt)in.len;
        int zr;
        do {
            z.next_out = out;
            z.avail_out = 1 << 20;
            zr = inflate(&z, Z_NO_FLUSH);
            hash_update(h, out, (1 << 20) - z.avail_out);
        } while (zr == Z_OK);
        r = zr == Z_STREAM_END && z.avail_in == 0 ? 0 : -1; /* CRC and length checked by zlib */
        inflateEnd(&z);
    } else {
        ZSTD_DCtx *d = ZSTD_createDCtx();
        ZSTD_inBuffer ib = { in.data, in.len, 0 };
        size_t zr = 1;
        while (ib.pos < ib.size) {
            ZSTD_outBuffer ob = { out, 1 << 20, 0 };
            zr = ZSTD_decompressStream(d, &ob, &ib);
            if (ZSTD_isError(zr)) {
                r = -1;
                break;
            }
            hash_update(h, out, ob.pos);
        }
        if (zr != 0)
            r = -1;
        ZSTD_freeDCtx(d);
    }
    hash_final_hex(h, hex);
    hash_free(h);
    free(out);
    buf_release(&in);
    return r;
}

static void check(struct store *st, enum layer_compression c, const char *name)
{
    struct kiln_err err = KILN_ERR_INIT;
    struct build_ctx *a = ctx_new(st), *b = ctx_new(st);
    struct layer_info la, lb;
    ok(layer_write(a, c, 0, &la, &err) == 0, "%s: write a layer: %s", name, err.msg);
    char hex[HASH_HEX_LEN + 1];
    ok(decompressed_sha(a, c, hex) == 0, "%s: the reference decoder accepts it", name);
    ok(strcmp(la.diff_id + 7, hex) == 0, "%s: it decompresses to the tar named by the diff_id", name);
    ok(la.tar_size > 5 * (1 << 20), "%s: the tar spans several chunks (%llu bytes)", name,
       (unsigned long long)la.tar_size);
    ok(la.size < la.tar_size / 3, "%s: and is compressed", name);
    ok(layer_write(b, c, 0, &lb, &err) == 0, "%s: write it again", name);
    is_str(la.digest, lb.digest, "%s: the same bytes both times", name);
    ctx_free(a);
    ctx_free(b);
}

int main(void)
{
    tap_tmpdir();
    struct store *st = NULL;
    struct kiln_err err = KILN_ERR_INIT;
    if (store_open("store", STORE_CREATE, &st, &err) < 0) {
        printf("Bail out! %s\n", err.msg);
        return 1;
    }
    check(st, LAYER_GZIP, "gzip");
    check(st, LAYER_ZSTD, "zstd");

    struct build_ctx *c = ctx_new(st);
    struct layer_info l;
    ok(layer_write(c, LAYER_NONE, 0, &l, &err) == 0, "an uncompressed layer");
    is_str(l.digest, l.diff_id, "its digest is its diff_id");
    ctx_free(c);

    c = ctx_new(st);
    struct layer_info lt;
    ok(layer_write(c, LAYER_GZIP, 1, &lt, &err) == 0 && lt.tar_stored, "a gzip layer with the tar beside it");
    ok(c->n_blobs == 2 && strcmp(c->blobs[1].digest, lt.diff_id) == 0 && c->blobs[1].size == lt.tar_size,
       "the tee'd blob is the uncompressed tar");
    ctx_free(c);
    store_close(st);
    return tap_done();
}
