/* layer.c - tree -> tar -> (gzip | zstd) -> store blob, in one pass on two threads. */
#include "builder/layer.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "common/common.h"
#include "common/banned.h"

#define CHUNK (1u << 20)
#define NBUF 4
#define GZIP_LEVEL 6
#define ZSTD_LEVEL 3
#define ZSTD_WORKERS 2  /* fixed: zstd's output depends on it being >= 1, not on scheduling */

struct chunk {
    unsigned char *data;
    size_t len;
    int last;
};

struct pipe {
    struct build_ctx *ctx;
    enum layer_compression comp;
    /* producer side */
    struct hash_ctx *tar_hash;
    uint64_t tar_size;
    struct chunk *cur;
    /* queue of full chunks, and free chunks */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct chunk bufs[NBUF];
    struct chunk *full[NBUF];
    size_t nfull, head;
    struct chunk *free_[NBUF];
    size_t nfree;
    int failed;                 /* consumer failed: its error is in cerr */
    struct kiln_err cerr;
    /* consumer side */
    struct build_blob_writer *bw;
    z_stream z;
    ZSTD_CCtx *zc;
    unsigned char *out;
};

static struct chunk *get_free(struct pipe *p)
{
    pthread_mutex_lock(&p->mu);
    while (!p->nfree && !p->failed)
        pthread_cond_wait(&p->cv, &p->mu);
    struct chunk *c = p->failed ? NULL : p->free_[--p->nfree];
    pthread_mutex_unlock(&p->mu);
    if (c) {
        c->len = 0;
        c->last = 0;
    }
    return c;
}

static void push_full(struct pipe *p, struct chunk *c)
{
    pthread_mutex_lock(&p->mu);
    p->full[(p->head + p->nfull) % NBUF] = c;
    p->nfull++;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static int emit(struct pipe *p, const unsigned char *data, size_t len, struct kiln_err *err)
{
    return len ? build_blob_write(p->bw, data, len, err) : 0;
}

static int compress_chunk(struct pipe *p, struct chunk *c, struct kiln_err *err)
{
    int r = 0;
    switch (p->comp) {
    case LAYER_NONE:
        return emit(p, c->data, c->len, err);
    case LAYER_GZIP:
        p->z.next_in = c->data;
        p->z.avail_in = (uInt)c->len;
        for (;;) {
            p->z.next_out = p->out;
            p->z.avail_out = CHUNK;
            int zr = deflate(&p->z, c->last ? Z_FINISH : Z_NO_FLUSH);
            if (zr == Z_STREAM_ERROR)
                return kiln_errf(err, KILN_EFAIL, "gzip compression failed");
            if ((r = emit(p, p->out, CHUNK - p->z.avail_out, err)) < 0)
                return r;
            if (c->last ? zr == Z_STREAM_END : p->z.avail_in == 0 && p->z.avail_out != 0)
                break;
        }
        return 0;
    case LAYER_ZSTD: {
        ZSTD_inBuffer in = { c->data, c->len, 0 };
        for (;;) {
            ZSTD_outBuffer o = { p->out, CHUNK, 0 };
            size_t left = ZSTD_compressStream2(p->zc, &o, &in, c->last ? ZSTD_e_end : ZSTD_e_continue);
            if (ZSTD_isError(left))
                return kiln_errf(err, KILN_EFAIL, "zstd compression failed: %s", ZSTD_getErrorName(left));
            if ((r = emit(p, p->out, o.pos, err)) < 0)
                return r;
            if (c->last ? left == 0 : in.pos == in.size && o.pos < CHUNK)
                break;
        }
        return 0;
    }
    }
    return 0;
}

static void *consumer(void *ud)
{
    struct pipe *p = ud;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->nfull)
            pthread_cond_wait(&p->cv, &p->mu);
        struct chunk *c = p->full[p->head];
        p->head = (p->head + 1) % NBUF;
        p->nfull--;
        pthread_mutex_unlock(&p->mu);
        int last = c->last;
        int r = p->failed ? 0 : compress_chunk(p, c, &p->cerr);
        pthread_mutex_lock(&p->mu);
        if (r < 0)
            p->failed = 1;
        p->free_[p->nfree++] = c;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        if (last)
            return NULL;
    }
}

static int sink(void *ud, const void *data, size_t len, struct kiln_err *err)
{
    struct pipe *p = ud;
    hash_update(p->tar_hash, data, len);
    p->tar_size += len;
    const unsigned char *d = data;
    while (len) {
        if (!p->cur && !(p->cur = get_free(p)))
            return kiln_errf(err, p->cerr.code ? p->cerr.code : KILN_EFAIL, "%s", p->cerr.msg);
        size_t room = CHUNK - p->cur->len;
        size_t n = len < room ? len : room;
        memcpy(p->cur->data + p->cur->len, d, n);
        p->cur->len += n;
        d += n;
        len -= n;
        if (p->cur->len == CHUNK) {
            push_full(p, p->cur);
            p->cur = NULL;
        }
    }
    return 0;
}

int layer_write(struct build_ctx *ctx, enum layer_compression comp, struct layer_info *out, struct kiln_err *err)
{
    struct pipe p;
    memset(&p, 0, sizeof(p));
    p.ctx = ctx;
    p.comp = comp;
    p.tar_hash = hash_new();
    if (!p.tar_hash)
        return kiln_errf(err, KILN_ENOMEM, "out of memory");
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    p.out = xmalloc(CHUNK);
    for (int i = 0; i < NBUF; i++) {
        p.bufs[i].data = xmalloc(CHUNK);
        p.free_[p.nfree++] = &p.bufs[i];
    }
    int r = 0, zinit = 0;
    if (comp == LAYER_GZIP) {
        /* windowBits 31: a gzip wrapper whose header has mtime 0 and no name. */
        if (deflateInit2(&p.z, GZIP_LEVEL, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
            r = kiln_errf(err, KILN_EFAIL, "cannot start gzip compression");
            goto out;
        }
        zinit = 1;
    } else if (comp == LAYER_ZSTD) {
        p.zc = ZSTD_createCCtx();
        if (!p.zc || ZSTD_isError(ZSTD_CCtx_setParameter(p.zc, ZSTD_c_compressionLevel, ZSTD_LEVEL))) {
            r = kiln_errf(err, KILN_EFAIL, "cannot start zstd compression");
            goto out;
        }
        /* Multi-threading may be compiled out; then the single-threaded output is used everywhere. */
        ZSTD_CCtx_setParameter(p.zc, ZSTD_c_nbWorkers, ZSTD_WORKERS);
    }
    if ((r = build_blob_begin(ctx, &p.bw, err)) < 0)
        goto out;
    pthread_t th;
    if (pthread_create(&th, NULL, consumer, &p) != 0) {
        build_blob_cancel(p.bw);
        r = kiln_errf(err, KILN_EFAIL, "cannot start the compression thread");
        goto out;
    }
    r = tree_write_tar(ctx->tree, sink, &p, err);
    /* Always hand the consumer a last chunk so it ends. */
    if (!p.cur)
        p.cur = get_free(&p);
    if (!p.cur) {
        /* consumer failed and holds no free chunk: it already drained; feed a dummy */
        pthread_mutex_lock(&p.mu);
        while (!p.nfree)
            pthread_cond_wait(&p.cv, &p.mu);
        p.cur = p.free_[--p.nfree];
        pthread_mutex_unlock(&p.mu);
        p.cur->len = 0;
    }
    p.cur->last = 1;
    push_full(&p, p.cur);
    p.cur = NULL;
    pthread_join(th, NULL);
    if (r == 0 && p.failed) {
        *err = p.cerr;
        r = p.cerr.code ? p.cerr.code : KILN_EFAIL;
    }
    if (r < 0) {
        build_blob_cancel(p.bw);
        goto out;
    }
    char hex[HASH_HEX_LEN + 1];
    hash_final_hex(p.tar_hash, hex);
    snprintf(out->diff_id, sizeof(out->diff_id), "sha256:%s", hex);
    out->tar_size = p.tar_size;
    r = build_blob_end(p.bw, out->digest, &out->size, err);
out:
    if (zinit)
        deflateEnd(&p.z);
    ZSTD_freeCCtx(p.zc);
    hash_free(p.tar_hash);
    for (int i = 0; i < NBUF; i++)
        free(p.bufs[i].data);
    free(p.out);
    pthread_mutex_destroy(&p.mu);
    pthread_cond_destroy(&p.cv);
    return r;
}
