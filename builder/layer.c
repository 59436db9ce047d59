/* layer.c - tree -> tar -> (gzip | zstd) -> store blob, in one pass.
 *
 * The caller's thread writes the tar and hashes it (the diff_id) into 1 MiB
 * chunks.  Workers compress the chunks and append them to the blob in order.
 * gzip runs on two workers, pigz-style: every chunk is an independent raw
 * deflate stream primed with the previous chunk's last 32 KiB and ended with
 * a sync flush, so the output depends only on the input, never on which
 * worker ran first; the CRC-32s are combined in order.  zstd runs on one
 * worker with zstd's own fixed worker count. */
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
#define DICT (32u << 10)
#define NBUF 6
#define MAX_WORKERS 2
#define GZIP_LEVEL 4  /* zlib 4: smaller than umoci's layers at about the same CPU cost */
#define ZSTD_LEVEL 3
#define ZSTD_WORKERS 2  /* fixed: zstd's output depends on it being >= 1, not on scheduling */

struct chunk {
    unsigned char *data;
    size_t len;
    unsigned char dict[DICT];
    size_t dict_len;
    uint64_t seq;
    int last;
    /* worker output */
    unsigned char *out;
    size_t out_cap, out_len;
    uLong crc;
};

struct pipe {
    struct build_ctx *ctx;
    enum layer_compression comp;
    int nworkers;
    /* producer */
    struct hash_ctx *tar_hash;
    uint64_t tar_size;
    struct chunk *cur;
    uint64_t next_seq;
    unsigned char tail[DICT];
    size_t tail_len;
    /* queues */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct chunk bufs[NBUF];
    struct chunk *full[NBUF];
    size_t nfull, head;
    struct chunk *free_[NBUF];
    size_t nfree;
    uint64_t next_write;
    int done;                   /* the last chunk has been written */
    int failed;
    struct kiln_err cerr;
    /* output state (only the worker whose turn it is touches it) */
    struct build_blob_writer *bw;
    struct build_blob_writer *tee;  /* the uncompressed tar, or NULL */
    uLong crc;
    uint64_t in_total;
    ZSTD_CCtx *zc;
};

static struct chunk *get_free(struct pipe *p)
{
    pthread_mutex_lock(&p->mu);
    while (!p->nfree)
        pthread_cond_wait(&p->cv, &p->mu);
    struct chunk *c = p->free_[--p->nfree];
    pthread_mutex_unlock(&p->mu);
    c->len = 0;
    c->last = 0;
    c->seq = p->next_seq++;
    memcpy(c->dict, p->tail, p->tail_len);
    c->dict_len = p->tail_len;
    return c;
}

static void push_full(struct pipe *p, struct chunk *c)
{
    if (c->len >= DICT) {
        memcpy(p->tail, c->data + c->len - DICT, DICT);
        p->tail_len = DICT;
    }
    pthread_mutex_lock(&p->mu);
    p->full[(p->head + p->nfull) % NBUF] = c;
    p->nfull++;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static int emit(struct pipe *p, const void *data, size_t len, struct kiln_err *err)
{
    return len ? build_blob_write(p->bw, data, len, err) : 0;
}

/* gzip: compress one chunk on its own (any worker, any order). */
static int gzip_chunk(z_stream *z, struct chunk *c, struct kiln_err *err)
{
    if (deflateReset(z) != Z_OK)
        return kiln_errf(err, KILN_EFAIL, "gzip compression failed");
    if (c->dict_len && deflateSetDictionary(z, c->dict, (uInt)c->dict_len) != Z_OK)
        return kiln_errf(err, KILN_EFAIL, "gzip compression failed");
    z->next_in = c->data;
    z->avail_in = (uInt)c->len;
    z->next_out = c->out;
    z->avail_out = (uInt)c->out_cap;
    int zr = deflate(z, c->last ? Z_FINISH : Z_SYNC_FLUSH);
    if ((c->last && zr != Z_STREAM_END) || (!c->last && zr != Z_OK) || z->avail_in)
        return kiln_errf(err, KILN_EFAIL, "gzip compression failed");
    c->out_len = c->out_cap - z->avail_out;
    c->crc = crc32(0, c->data, (uInt)c->len);
    return 0;
}

/* In order: append a processed chunk to the blob. */
static int write_chunk(struct pipe *p, struct chunk *c, struct kiln_err *err)
{
    int r = 0;
    if (p->tee && c->len && (r = build_blob_write(p->tee, c->data, c->len, err)) < 0)
        return r;
    switch (p->comp) {
    case LAYER_NONE:
        return emit(p, c->data, c->len, err);
    case LAYER_GZIP: {
        if (c->seq == 0) {
            /* mtime 0, XFL 0, OS 3 (Unix), no name: what zlib itself writes for levels 2-8. */
            static const unsigned char hdr[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3 };
            if ((r = emit(p, hdr, sizeof(hdr), err)) < 0)
                return r;
        }
        if ((r = emit(p, c->out, c->out_len, err)) < 0)
            return r;
        p->crc = crc32_combine(p->crc, c->crc, (z_off_t)c->len);
        p->in_total += c->len;
        if (c->last) {
            unsigned char tr[8];
            uint32_t crc = (uint32_t)p->crc, isize = (uint32_t)p->in_total;
            for (int i = 0; i < 4; i++) {
                tr[i] = (unsigned char)(crc >> (8 * i));
                tr[4 + i] = (unsigned char)(isize >> (8 * i));
            }
            return emit(p, tr, sizeof(tr), err);
        }
        return 0;
    }
    case LAYER_ZSTD: {
        ZSTD_inBuffer in = { c->data, c->len, 0 };
        for (;;) {
            ZSTD_outBuffer o = { c->out, c->out_cap, 0 };
            size_t left = ZSTD_compressStream2(p->zc, &o, &in, c->last ? ZSTD_e_end : ZSTD_e_continue);
            if (ZSTD_isError(left))
                return kiln_errf(err, KILN_EFAIL, "zstd compression failed: %s", ZSTD_getErrorName(left));
            if ((r = emit(p, c->out, o.pos, err)) < 0)
                return r;
            if (c->last ? left == 0 : in.pos == in.size && o.pos < c->out_cap)
                break;
        }
        return 0;
    }
    }
    return 0;
}

static void *worker(void *ud)
{
    struct pipe *p = ud;
    z_stream z;
    memset(&z, 0, sizeof(z));
    int zok = p->comp != LAYER_GZIP ||
              deflateInit2(&z, GZIP_LEVEL, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->nfull && !p->done)
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->done) {
            pthread_mutex_unlock(&p->mu);
            break;
        }
        struct chunk *c = p->full[p->head];
        p->head = (p->head + 1) % NBUF;
        p->nfull--;
        int failed = p->failed;
        pthread_mutex_unlock(&p->mu);

        struct kiln_err e = KILN_ERR_INIT;
        int r = 0;
        if (!zok)
            r = kiln_errf(&e, KILN_EFAIL, "cannot start gzip compression");
        else if (!failed && p->comp == LAYER_GZIP)
            r = gzip_chunk(&z, c, &e);

        pthread_mutex_lock(&p->mu);
        while (p->next_write != c->seq)
            pthread_cond_wait(&p->cv, &p->mu);
        failed = p->failed;
        pthread_mutex_unlock(&p->mu);
        /* Our turn: nobody else writes until next_write moves on. */
        if (r == 0 && !failed)
            r = write_chunk(p, c, &e);
        pthread_mutex_lock(&p->mu);
        if (r < 0 && !p->failed) {
            p->failed = 1;
            p->cerr = e;
        }
        p->next_write++;
        if (c->last)
            p->done = 1;
        p->free_[p->nfree++] = c;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    if (p->comp == LAYER_GZIP && zok)
        deflateEnd(&z);
    return NULL;
}

static int sink(void *ud, const void *data, size_t len, struct kiln_err *err)
{
    struct pipe *p = ud;
    pthread_mutex_lock(&p->mu);
    int failed = p->failed;
    pthread_mutex_unlock(&p->mu);
    if (failed)
        return kiln_errf(err, p->cerr.code ? p->cerr.code : KILN_EFAIL, "%s", p->cerr.msg);
    hash_update(p->tar_hash, data, len);
    p->tar_size += len;
    const unsigned char *d = data;
    while (len) {
        if (!p->cur)
            p->cur = get_free(p);
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

int layer_write(struct build_ctx *ctx, enum layer_compression comp, int tee, struct layer_info *out,
                struct kiln_err *err)
{
    struct pipe p;
    memset(&p, 0, sizeof(p));
    p.ctx = ctx;
    p.comp = comp;
    p.nworkers = comp == LAYER_GZIP ? MAX_WORKERS : 1;
    p.crc = crc32(0, NULL, 0);
    p.tar_hash = hash_new();
    if (!p.tar_hash)
        return kiln_errf(err, KILN_ENOMEM, "out of memory");
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    size_t out_cap = comp == LAYER_ZSTD ? ZSTD_CStreamOutSize() : CHUNK + CHUNK / 8 + 4096;
    for (int i = 0; i < NBUF; i++) {
        p.bufs[i].data = xmalloc(CHUNK);
        if (comp != LAYER_NONE) {
            p.bufs[i].out = xmalloc(out_cap);
            p.bufs[i].out_cap = out_cap;
        }
        p.free_[p.nfree++] = &p.bufs[i];
    }
    pthread_t th[MAX_WORKERS];
    int started = 0, r = 0;
    if (comp == LAYER_ZSTD) {
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
    if (tee && comp != LAYER_NONE && (r = build_blob_begin(ctx, &p.tee, err)) < 0) {
        build_blob_cancel(p.bw);
        goto out;
    }
    for (; started < p.nworkers; started++)
        if (pthread_create(&th[started], NULL, worker, &p) != 0)
            break;
    if (!started) {
        build_blob_cancel(p.bw);
        build_blob_cancel(p.tee);
        r = kiln_errf(err, KILN_EFAIL, "cannot start the compression thread");
        goto out;
    }
    r = tree_write_tar(ctx->tree, sink, &p, err);
    /* Always hand the workers a last chunk so they end. */
    if (!p.cur)
        p.cur = get_free(&p);
    p.cur->last = 1;
    push_full(&p, p.cur);
    p.cur = NULL;
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    if (r == 0 && p.failed) {
        *err = p.cerr;
        r = p.cerr.code ? p.cerr.code : KILN_EFAIL;
    }
    if (r < 0) {
        build_blob_cancel(p.bw);
        build_blob_cancel(p.tee);
        goto out;
    }
    if (p.tee) {
        char td[DIGEST_STR_SIZE];
        if ((r = build_blob_end(p.tee, td, NULL, err)) < 0) {
            build_blob_cancel(p.bw);
            goto out;
        }
        out->tar_stored = 1;
    } else {
        out->tar_stored = 0;
    }
    char hex[HASH_HEX_LEN + 1];
    hash_final_hex(p.tar_hash, hex);
    snprintf(out->diff_id, sizeof(out->diff_id), "sha256:%s", hex);
    out->tar_size = p.tar_size;
    r = build_blob_end(p.bw, out->digest, &out->size, err);
out:
    ZSTD_freeCCtx(p.zc);
    hash_free(p.tar_hash);
    for (int i = 0; i < NBUF; i++) {
        free(p.bufs[i].data);
        free(p.bufs[i].out);
    }
    pthread_mutex_destroy(&p.mu);
    pthread_cond_destroy(&p.cv);
    return r;
}
