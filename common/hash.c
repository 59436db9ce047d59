#include "common/hash.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/banned.h"

struct hash_ctx {
    EVP_MD_CTX *md;
};

static struct hash_ctx *hash_new_md(const EVP_MD *md)
{
    struct hash_ctx *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->md = EVP_MD_CTX_new();
    if (!h->md || EVP_DigestInit_ex(h->md, md, NULL) != 1) {
        EVP_MD_CTX_free(h->md);
        free(h);
        return NULL;
    }
    return h;
}

struct hash_ctx *hash_new(void)
{
    return hash_new_md(EVP_sha256());
}

struct hash_ctx *hash_new_sha1(void)
{
    return hash_new_md(EVP_sha1());
}

void hash_update(struct hash_ctx *h, const void *data, size_t len)
{
    if (len && EVP_DigestUpdate(h->md, data, len) != 1)
        abort();
}

static void to_hex(const unsigned char *d, size_t n, char *hex)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[2 * n] = '\0';
}

void hash_final_hex(struct hash_ctx *h, char hex[HASH_HEX_LEN + 1])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_DigestFinal_ex(h->md, d, &n) != 1 || (n != 32 && n != 20))
        abort();
    to_hex(d, n, hex);
}

void hash_free(struct hash_ctx *h)
{
    if (!h)
        return;
    EVP_MD_CTX_free(h->md);
    free(h);
}

void hash_sha256_hex(const void *data, size_t len, char hex[HASH_HEX_LEN + 1])
{
    unsigned char d[32];
    unsigned int n = 0;
    if (EVP_Digest(data, len, d, &n, EVP_sha256(), NULL) != 1 || n != 32)
        abort();
    to_hex(d, n, hex);
}

int hash_fd_sha256(int fd, const char *name, char hex[HASH_HEX_LEN + 1], uint64_t *size, struct kiln_err *err)
{
    struct hash_ctx *h = hash_new();
    if (!h)
        return kiln_errf(err, KILN_ENOMEM, "out of memory");
    static __thread unsigned char chunk[1 << 16];
    uint64_t total = 0;
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            hash_free(h);
            return kiln_errno(err, KILN_EFAIL, e, "cannot read '%s'", name);
        }
        if (n == 0)
            break;
        hash_update(h, chunk, (size_t)n);
        total += (uint64_t)n;
    }
    hash_final_hex(h, hex);
    hash_free(h);
    if (size)
        *size = total;
    return 0;
}

int hash_file_sha256(const char *path, char hex[HASH_HEX_LEN + 1], uint64_t *size, struct kiln_err *err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kiln_errno(err, errno == ENOENT ? KILN_ENOTFOUND : KILN_EFAIL, errno, "cannot open '%s'", path);
    return hash_fd_sha256(fd, path, hex, size, err);
}

int hash_is_hex(const char *s)
{
    size_t i;
    for (i = 0; s[i]; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return i == HASH_HEX_LEN;
}
