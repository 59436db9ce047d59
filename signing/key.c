/* key.c - signing keys: make, load, identify; sign and verify raw bytes.
 *
 * Two algorithms, nothing else: ECDSA on P-256 with SHA-256 (the default)
 * and Ed25519.  A key's ID is the SHA-256 of its DER SubjectPublicKeyInfo,
 * so an auditor computes it with `openssl pkey -pubin -outform DER | sha256sum`.
 * Private key text and passphrases are wiped (OPENSSL_cleanse) before they
 * are freed. */
#include "signing/signing.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "common/fsutil.h"
#include "common/hash.h"
#include "common/banned.h"

struct signing_key {
    EVP_PKEY *pkey;
    const char *alg;
    char id[SIGNING_KEY_ID_SIZE];
};

/* Same shape; a separate type so a private key is never passed where only a
 * public one is meant. */
struct signing_pubkey {
    EVP_PKEY *pkey;
    const char *alg;
    char id[SIGNING_KEY_ID_SIZE];
};

DEFINE_CLEANUP(EVP_PKEY, EVP_PKEY_free)
DEFINE_CLEANUP(EVP_MD_CTX, EVP_MD_CTX_free)
DEFINE_CLEANUP(BIO, BIO_free)

/* The algorithm of pkey, or KILN_EINVAL naming what it is instead. */
static int key_algorithm(EVP_PKEY *pkey, const char *what, const char **alg, struct kiln_err *err)
{
    if (EVP_PKEY_is_a(pkey, "ED25519")) {
        *alg = SIGNING_ALG_ED25519;
        return 0;
    }
    if (EVP_PKEY_is_a(pkey, "EC")) {
        char group[80] = "";
        size_t glen = 0;
        if (EVP_PKEY_get_group_name(pkey, group, sizeof(group), &glen) != 1) {
            ERR_clear_error();
            return kiln_errf(err, KILN_EINVAL, "key '%s': unsupported curve (explicit parameters); "
                             "kiln signs with ecdsa-p256 or ed25519", what);
        }
        if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0) {
            *alg = SIGNING_ALG_ECDSA_P256;
            return 0;
        }
        return kiln_errf(err, KILN_EINVAL, "key '%s': unsupported curve '%s'; kiln signs with "
                         "ecdsa-p256 or ed25519", what, group);
    }
    const char *type = EVP_PKEY_get0_type_name(pkey);
    return kiln_errf(err, KILN_EINVAL, "key '%s': unsupported algorithm '%s'; kiln signs with "
                     "ecdsa-p256 or ed25519", what, type ? type : "unknown");
}

/* "sha256:<hex>" of the DER SubjectPublicKeyInfo of pkey (public part). */
static int key_id(EVP_PKEY *pkey, char id[SIGNING_KEY_ID_SIZE], struct kiln_err *err)
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(pkey, &der);
    if (n <= 0) {
        ERR_clear_error();
        return kiln_errf(err, KILN_EFAIL, "cannot encode the public key");
    }
    char hex[HASH_HEX_LEN + 1];
    hash_sha256_hex(der, (size_t)n, hex);
    OPENSSL_free(der);
    snprintf(id, SIGNING_KEY_ID_SIZE, "sha256:%s", hex);
    return 0;
}

const char *signing_key_id(const struct signing_key *k)
{
    return k->id;
}

const char *signing_key_algorithm(const struct signing_key *k)
{
    return k->alg;
}

const char *signing_pubkey_id(const struct signing_pubkey *k)
{
    return k->id;
}

const char *signing_pubkey_algorithm(const struct signing_pubkey *k)
{
    return k->alg;
}

void signing_key_free(struct signing_key *k)
{
    if (!k)
        return;
    EVP_PKEY_free(k->pkey); /* OpenSSL clears private key material on free */
    OPENSSL_cleanse(k, sizeof(*k));
    free(k);
}

void signing_pubkey_free(struct signing_pubkey *k)
{
    if (!k)
        return;
    EVP_PKEY_free(k->pkey);
    free(k);
}

/* ---- keygen ------------------------------------------------------------------ */

/* Writes the contents of a memory BIO to a new file (O_EXCL). */
static int write_bio_file(BIO *b, const char *path, mode_t mode, int *created, struct kiln_err *err)
{
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    if (n <= 0 || !data)
        return kiln_errf(err, KILN_EFAIL, "cannot encode the key for '%s'", path);
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0)
        return kiln_errno(err, errno == EEXIST ? KILN_EEXIST : KILN_EFAIL, errno, "cannot create '%s'", path);
    *created = 1;
    if (fchmod(fd, mode) < 0)
        return kiln_errno(err, KILN_EFAIL, errno, "cannot set the mode of '%s'", path);
    int r = fs_write_all(fd, data, (size_t)n, path, err);
    if (r < 0)
        return r;
    if (fsync(fd) < 0)
        return kiln_errno(err, KILN_EFAIL, errno, "cannot sync '%s'", path);
    if (close(TAKE_FD(fd)) < 0)
        return kiln_errno(err, KILN_EFAIL, errno, "cannot write '%s'", path);
    return 0;
}

int signing_keygen(const char *prefix, const char *algorithm, const char *passphrase,
                   char key_id_out[SIGNING_KEY_ID_SIZE], struct kiln_err *err)
{
    if (!algorithm)
        algorithm = SIGNING_ALG_ECDSA_P256;
    _cleanup_(EVP_PKEY_freep) EVP_PKEY *pkey = NULL;
    if (strcmp(algorithm, SIGNING_ALG_ECDSA_P256) == 0)
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    else if (strcmp(algorithm, SIGNING_ALG_ED25519) == 0)
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    else
        return kiln_errf(err, KILN_EINVAL, "unsupported algorithm '%s'; use ecdsa-p256 or ed25519", algorithm);
    if (!pkey) {
        ERR_clear_error();
        return kiln_errf(err, KILN_EFAIL, "cannot generate a %s key", algorithm);
    }
    if (passphrase && !passphrase[0])
        return kiln_errf(err, KILN_EINVAL, "the passphrase is empty");

    /* Secure memory BIO: its buffer is cleansed when freed. */
    _cleanup_(BIO_freep) BIO *priv = BIO_new(BIO_s_secmem());
    _cleanup_(BIO_freep) BIO *pub = BIO_new(BIO_s_mem());
    if (!priv || !pub)
        return kiln_errf(err, KILN_ENOMEM, "out of memory");
    int ok;
    if (passphrase)
        ok = PEM_write_bio_PKCS8PrivateKey(priv, pkey, EVP_aes_256_cbc(), passphrase,
                                           (int)strlen(passphrase), NULL, NULL);
    else
        ok = PEM_write_bio_PKCS8PrivateKey(priv, pkey, NULL, NULL, 0, NULL, NULL);
    if (ok != 1 || PEM_write_bio_PUBKEY(pub, pkey) != 1) {
        ERR_clear_error();
        return kiln_errf(err, KILN_EFAIL, "cannot encode the new key");
    }
    int r = key_id(pkey, key_id_out, err);
    if (r < 0)
        return r;

    _cleanup_free_ char *key_path = xasprintf("%s.key", prefix);
    _cleanup_free_ char *pub_path = xasprintf("%s.pub", prefix);
    int key_created = 0, pub_created = 0;
    r = write_bio_file(priv, key_path, 0600, &key_created, err);
    if (r == 0)
        r = write_bio_file(pub, pub_path, 0644, &pub_created, err);
    if (r < 0) {
        if (key_created)
            unlink(key_path);
        if (pub_created)
            unlink(pub_path);
        return r;
    }
    _cleanup_free_ char *dir = path_dirname(key_path);
    return fs_fsync_dir(dir, err);
}

/* ---- loading private keys ------------------------------------------------------ */

/* 1 if the PEM text contains s. */
static int pem_has(const char *pem, size_t len, const char *s)
{
    return memmem(pem, len, s, strlen(s)) != NULL;
}

struct pass {
    const char *s;
};

static int pass_cb(char *buf, int size, int rwflag, void *u)
{
    (void)rwflag;
    const struct pass *p = u;
    if (!p || !p->s)
        return -1; /* never prompt: kiln runs unattended */
    size_t n = strlen(p->s);
    if (n > (size_t)size)
        return -1;
    memcpy(buf, p->s, n);
    return (int)n;
}

int signing_key_from_pem(const char *pem, size_t len, const char *passphrase, const char *what,
                         struct signing_key **out, struct kiln_err *err)
{
    *out = NULL;
    if (len > SIGNING_KEY_FILE_LIMIT)
        return kiln_errf(err, KILN_EINVAL, "key '%s' is larger than %u bytes", what, SIGNING_KEY_FILE_LIMIT);
    /* PKCS#8 encrypted, or a traditional PEM key with Proc-Type: 4,ENCRYPTED */
    int encrypted = pem_has(pem, len, "-----BEGIN ENCRYPTED PRIVATE KEY-----") || pem_has(pem, len, "4,ENCRYPTED");
    if (!pem_has(pem, len, "PRIVATE KEY-----")) {
        if (pem_has(pem, len, "-----BEGIN PUBLIC KEY-----"))
            return kiln_errf(err, KILN_EINVAL, "key '%s' is a public key; signing needs the private key", what);
        return kiln_errf(err, KILN_EINVAL, "key '%s' holds no PEM private key", what);
    }
    if (encrypted && !passphrase)
        return kiln_errf(err, KILN_EINVAL, "key '%s' is encrypted: give its passphrase with --passphrase-env "
                         "VAR or $KILN_SIGNING_PASSPHRASE", what);
    _cleanup_(BIO_freep) BIO *b = BIO_new_mem_buf(pem, (int)len);
    if (!b)
        return kiln_errf(err, KILN_ENOMEM, "out of memory");
    struct pass p = { encrypted ? passphrase : NULL };
    _cleanup_(EVP_PKEY_freep) EVP_PKEY *pkey = PEM_read_bio_PrivateKey_ex(b, NULL, pass_cb, &p, NULL, NULL);
    if (!pkey) {
        ERR_clear_error();
        if (encrypted)
            return kiln_errf(err, KILN_EINVAL, "key '%s': wrong passphrase or corrupt key", what);
        return kiln_errf(err, KILN_EINVAL, "key '%s' is not a valid PEM private key", what);
    }
    const char *alg = NULL;
    int r = key_algorithm(pkey, what, &alg, err);
    if (r < 0)
        return r;
    struct signing_key *k = xcalloc(1, sizeof(*k));
    k->alg = alg;
    if ((r = key_id(pkey, k->id, err)) < 0) {
        signing_key_free(k);
        return r;
    }
    k->pkey = TAKE_PTR(pkey);
    *out = k;
    return 0;
}

/* Reads a private key file into a buffer that is wiped afterwards. */
static int read_secret_file(const char *path, char **data, size_t *len, struct kiln_err *err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kiln_errno(err, errno == ENOENT ? KILN_EINVAL : KILN_EFAIL, errno, "cannot open key '%s'", path);
    struct stat sb;
    if (fstat(fd, &sb) < 0)
        return kiln_errno(err, KILN_EFAIL, errno, "cannot stat key '%s'", path);
    if (!S_ISREG(sb.st_mode))
        return kiln_errf(err, KILN_EINVAL, "key '%s' is not a regular file", path);
    if (sb.st_mode & 0077)
        return kiln_errf(err, KILN_EINVAL, "key '%s' is accessible by group or others (mode %04o): "
                         "run chmod 600 '%s'", path, (unsigned)(sb.st_mode & 07777), path);
    if (sb.st_size > (off_t)SIGNING_KEY_FILE_LIMIT)
        return kiln_errf(err, KILN_EINVAL, "key '%s' is larger than %u bytes", path, SIGNING_KEY_FILE_LIMIT);
    char *buf = xmalloc(SIGNING_KEY_FILE_LIMIT + 1);
    size_t n = 0;
    for (;;) {
        ssize_t got = read(fd, buf + n, SIGNING_KEY_FILE_LIMIT + 1 - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            int e = errno;
            OPENSSL_cleanse(buf, SIGNING_KEY_FILE_LIMIT + 1);
            free(buf);
            return kiln_errno(err, KILN_EFAIL, e, "cannot read key '%s'", path);
        }
        if (got == 0)
            break;
        n += (size_t)got;
        if (n > SIGNING_KEY_FILE_LIMIT) {
            OPENSSL_cleanse(buf, SIGNING_KEY_FILE_LIMIT + 1);
            free(buf);
            return kiln_errf(err, KILN_EINVAL, "key '%s' is larger than %u bytes", path, SIGNING_KEY_FILE_LIMIT);
        }
    }
    *data = buf;
    *len = n;
    return 0;
}

int signing_key_read(const char *path, const char *passphrase, struct signing_key **out,
                     struct kiln_err *err)
{
    *out = NULL;
    char *data = NULL;
    size_t len = 0;
    int r = read_secret_file(path, &data, &len, err);
    if (r < 0)
        return r;
    r = signing_key_from_pem(data, len, passphrase, path, out, err);
    OPENSSL_cleanse(data, SIGNING_KEY_FILE_LIMIT + 1);
    free(data);
    return r;
}

/* ---- loading public keys ------------------------------------------------------- */

int signing_pubkey_from_pem(const char *pem, size_t len, const char *what,
                            struct signing_pubkey **out, struct kiln_err *err)
{
    *out = NULL;
    if (len > SIGNING_KEY_FILE_LIMIT)
        return kiln_errf(err, KILN_EINVAL, "public key '%s' is larger than %u bytes", what, SIGNING_KEY_FILE_LIMIT);
    /* Look at every PEM block before parsing any: exactly one PUBLIC KEY. */
    if (pem_has(pem, len, "PRIVATE KEY-----"))
        return kiln_errf(err, KILN_EINVAL, "public key '%s' holds a private key; give the .pub file "
                         "(and keep the private key secret)", what);
    if (pem_has(pem, len, "-----BEGIN CERTIFICATE") || pem_has(pem, len, "-----BEGIN TRUSTED CERTIFICATE") ||
        pem_has(pem, len, "-----BEGIN X509 CERTIFICATE"))
        return kiln_errf(err, KILN_EINVAL, "public key '%s' holds a certificate, not a public key; "
                         "extract the key with 'openssl x509 -pubkey -noout'", what);
    _cleanup_(BIO_freep) BIO *b = BIO_new_mem_buf(pem, (int)len);
    if (!b)
        return kiln_errf(err, KILN_ENOMEM, "out of memory");
    _cleanup_(EVP_PKEY_freep) EVP_PKEY *pkey = NULL;
    int blocks = 0;
    for (;;) {
        char *name = NULL, *header = NULL;
        unsigned char *data = NULL;
        long dlen = 0;
        if (PEM_read_bio(b, &name, &header, &data, &dlen) != 1) {
            ERR_clear_error();
            break;
        }
        blocks++;
        int bad = 0;
        if (strcmp(name, "PUBLIC KEY") != 0 || header[0] || blocks > 1) {
            bad = 1;
        } else {
            const unsigned char *p = data;
            pkey = d2i_PUBKEY_ex(NULL, &p, dlen, NULL, NULL);
            if (!pkey || p != data + dlen)
                bad = 2;
        }
        if (bad) {
            _cleanup_free_ char *nm = xstrdup(name);
            OPENSSL_free(name);
            OPENSSL_free(header);
            OPENSSL_free(data);
            ERR_clear_error();
            if (bad == 2)
                return kiln_errf(err, KILN_EINVAL, "public key '%s' is not a valid SubjectPublicKeyInfo", what);
            if (blocks > 1)
                return kiln_errf(err, KILN_EINVAL, "public key '%s' holds more than one PEM block", what);
            return kiln_errf(err, KILN_EINVAL, "public key '%s' holds a '%s' block, not a PUBLIC KEY", what, nm);
        }
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(data);
    }
    if (!pkey)
        return kiln_errf(err, KILN_EINVAL, "public key '%s' holds no PEM public key", what);
    const char *alg = NULL;
    int r = key_algorithm(pkey, what, &alg, err);
    if (r < 0)
        return r;
    struct signing_pubkey *k = xcalloc(1, sizeof(*k));
    k->alg = alg;
    if ((r = key_id(pkey, k->id, err)) < 0) {
        signing_pubkey_free(k);
        return r;
    }
    k->pkey = TAKE_PTR(pkey);
    *out = k;
    return 0;
}

int signing_pubkey_load(const char *path, struct signing_pubkey **out, struct kiln_err *err)
{
    *out = NULL;
    struct buf b;
    buf_init(&b, 0);
    int r = fs_read_file(path, SIGNING_KEY_FILE_LIMIT, &b, err);
    if (r == KILN_ENOTFOUND)
        r = kiln_errf(err, KILN_EINVAL, "public key '%s' does not exist", path);
    if (r == 0)
        r = signing_pubkey_from_pem(b.data, b.len, path, out, err);
    buf_release(&b);
    return r;
}

/* ---- raw signatures ---------------------------------------------------------------- */

/* ECDSA signs a SHA-256 digest; Ed25519 signs the message itself. */
static const char *md_name(const char *alg)
{
    return strcmp(alg, SIGNING_ALG_ECDSA_P256) == 0 ? "SHA256" : NULL;
}

int signing_sign_bytes(const struct signing_key *k, const void *data, size_t len,
                       unsigned char **sig, size_t *sig_len, struct kiln_err *err)
{
    *sig = NULL;
    *sig_len = 0;
    _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx)
        return kiln_errf(err, KILN_ENOMEM, "out of memory");
    size_t n = 0;
    if (EVP_DigestSignInit_ex(ctx, NULL, md_name(k->alg), NULL, NULL, k->pkey, NULL) != 1 ||
        EVP_DigestSign(ctx, NULL, &n, data, len) != 1) {
        ERR_clear_error();
        return kiln_errf(err, KILN_EFAIL, "cannot sign with key '%s'", k->id);
    }
    unsigned char *s = xmalloc(n);
    if (EVP_DigestSign(ctx, s, &n, data, len) != 1) {
        ERR_clear_error();
        free(s);
        return kiln_errf(err, KILN_EFAIL, "cannot sign with key '%s'", k->id);
    }
    *sig = s;
    *sig_len = n;
    return 0;
}

int signing_verify_bytes(const struct signing_pubkey *k, const void *data, size_t len,
                         const unsigned char *sig, size_t sig_len, struct kiln_err *err)
{
    if (strcmp(k->alg, SIGNING_ALG_ED25519) == 0 && sig_len != 64)
        return kiln_errf(err, KILN_EVERIFY, "bad signature: an ed25519 signature has 64 bytes, this one %zu", sig_len);
    if (sig_len == 0 || sig_len > SIGNING_SIG_LIMIT)
        return kiln_errf(err, KILN_EVERIFY, "bad signature: %zu bytes", sig_len);
    _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx)
        return kiln_errf(err, KILN_ENOMEM, "out of memory");
    if (EVP_DigestVerifyInit_ex(ctx, NULL, md_name(k->alg), NULL, NULL, k->pkey, NULL) != 1) {
        ERR_clear_error();
        return kiln_errf(err, KILN_EFAIL, "cannot verify with key '%s'", k->id);
    }
    /* 1 is valid; 0 is a bad signature and -1 an error (a malformed one): both fail. */
    int r = EVP_DigestVerify(ctx, sig, sig_len, data, len);
    ERR_clear_error();
    if (r != 1)
        return kiln_errf(err, KILN_EVERIFY, "bad signature by key '%s'", k->id);
    return 0;
}
