/* test-sign.c - keys, raw signatures, the payload, and a golden signature. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tap.h"
#include "common/common.h"
#include "common/fsutil.h"
#include "signing/signing.h"
#include "common/banned.h"

static const char *src;

static char *data_path(const char *name)
{
    return xasprintf("%s/tests/data/sign/%s", src, name);
}

static struct buf slurp(const char *name)
{
    struct buf b;
    buf_init(&b, 0);
    char *p = data_path(name);
    if (fs_read_file(p, 1 << 20, &b, NULL) < 0)
        printf("Bail out! cannot read %s\n", p);
    free(p);
    return b;
}

/* Copies a committed private key here with mode 0600 (git keeps 0644). */
static char *private_copy(const char *name, mode_t mode)
{
    struct buf b = slurp(name);
    char *dst = xasprintf("./%s", name);
    unlink(dst);
    fs_write_atomic(dst, b.data, b.len, mode, NULL);
    chmod(dst, mode);
    buf_release(&b);
    return dst;
}

static void chomp(struct buf *b)
{
    while (b->len && b->data[b->len - 1] == '\n')
        b->data[--b->len] = '\0';
}

static void test_golden_ed25519(void)
{
    _cleanup_free_ char *kp = private_copy("ed25519.key", 0600);
    struct signing_key *k = NULL;
    struct kiln_err err = KILN_ERR_INIT;
    ok(signing_key_read(kp, NULL, &k, &err) == 0, "loads the committed ed25519 key");
    if (!k)
        return;
    struct buf id = slurp("ed25519.keyid");
    chomp(&id);
    is_str(signing_key_id(k), id.data, "key ID is sha256 of the DER SubjectPublicKeyInfo");
    is_str(signing_key_algorithm(k), "ed25519", "algorithm");

    /* The payload kiln makes for these fields is the committed one, byte for byte. */
    struct signing_payload p = {
        .type = SIGNING_PAYLOAD_TYPE, .name = "golden", .version = "1.0.0",
        .digest = "sha256:0000000000000000000000000000000000000000000000000000000000000001",
        .media_type = "application/vnd.oci.image.manifest.v1+json", .size = 123,
        .key_id = id.data, .algorithm = "ed25519", .created = "2026-01-01T00:00:00Z",
    };
    _cleanup_free_ char *made = signing_payload_make(&p);
    struct buf payload = slurp("ed25519.payload");
    is_str(made, payload.data, "payload is canonical JSON (sorted keys, compact)");

    unsigned char *sig = NULL;
    size_t n = 0;
    ok(signing_sign_bytes(k, payload.data, payload.len, &sig, &n, &err) == 0, "signs");
    struct buf golden = slurp("ed25519.payload.sig");
    ok(n == golden.len && memcmp(sig, golden.data, n) == 0, "signature equals the golden file (made by openssl)");

    struct signing_pubkey *pub = NULL;
    _cleanup_free_ char *pp = data_path("ed25519.pub");
    ok(signing_pubkey_load(pp, &pub, &err) == 0, "loads the public key");
    ok(pub && signing_verify_bytes(pub, payload.data, payload.len, sig, n, &err) == 0, "verifies");
    payload.data[10] ^= 1;
    ok(pub && signing_verify_bytes(pub, payload.data, payload.len, sig, n, &err) == KILN_EVERIFY,
       "a flipped payload byte fails");
    payload.data[10] ^= 1;
    ok(pub && signing_verify_bytes(pub, payload.data, payload.len, sig, n - 1, &err) == KILN_EVERIFY,
       "a truncated signature fails");
    has_str(err.msg, "bad signature", "and says so");
    signing_pubkey_free(pub);
    free(sig);
    buf_release(&golden);
    buf_release(&payload);
    buf_release(&id);
    signing_key_free(k);
}

static void test_ecdsa_committed_signature(void)
{
    struct signing_pubkey *pub = NULL;
    struct kiln_err err = KILN_ERR_INIT;
    _cleanup_free_ char *pp = data_path("ecdsa.pub");
    ok(signing_pubkey_load(pp, &pub, &err) == 0, "loads the ecdsa public key");
    if (!pub)
        return;
    struct buf id = slurp("ecdsa.keyid");
    chomp(&id);
    is_str(signing_pubkey_id(pub), id.data, "ecdsa key ID matches openssl | sha256sum");
    struct buf payload = slurp("ecdsa.payload"), sig = slurp("ecdsa.payload.sig");
    ok(signing_verify_bytes(pub, payload.data, payload.len, (unsigned char *)sig.data, sig.len, &err) == 0,
       "verifies the signature openssl made");
    struct signing_payload p;
    ok(signing_payload_parse(payload.data, payload.len, &p, &err) == 0, "parses the payload");
    is_str(p.key_id, id.data, "payload key ID");
    is_int(p.size, 123, "payload size");
    signing_payload_release(&p);

    sig.data[sig.len / 2] ^= 0x40;
    ok(signing_verify_bytes(pub, payload.data, payload.len, (unsigned char *)sig.data, sig.len, &err) == KILN_EVERIFY,
       "a flipped signature byte fails");
    memset(sig.data, 'A', sig.len);
    ok(signing_verify_bytes(pub, payload.data, payload.len, (unsigned char *)sig.data, sig.len, &err) == KILN_EVERIFY,
       "a garbage signature fails (DER parse error is not success)");
    ok(signing_verify_bytes(pub, payload.data, payload.len, (unsigned char *)sig.data, 0, &err) == KILN_EVERIFY,
       "an empty signature fails");

    /* A signature by one key is not valid for another. */
    struct signing_pubkey *other = NULL;
    _cleanup_free_ char *op = data_path("other.pub");
    struct buf good = slurp("ecdsa.payload.sig");
    ok(signing_pubkey_load(op, &other, &err) == 0 &&
       signing_verify_bytes(other, payload.data, payload.len, (unsigned char *)good.data, good.len, &err) ==
           KILN_EVERIFY, "another key does not verify it");
    signing_pubkey_free(other);
    buf_release(&good);
    buf_release(&sig);
    buf_release(&payload);
    buf_release(&id);
    signing_pubkey_free(pub);
}

static void refuse_pub(const char *name, const char *want)
{
    struct signing_pubkey *pub = NULL;
    struct kiln_err err = KILN_ERR_INIT;
    _cleanup_free_ char *p = data_path(name);
    int r = signing_pubkey_load(p, &pub, &err);
    ok(r == KILN_EINVAL && !pub, "refuses %s as a public key", name);
    has_str(err.msg, want, "with a clear error");
}

static void test_public_key_refusals(void)
{
    refuse_pub("ecdsa.key", "holds a private key");
    refuse_pub("cert.pem", "holds a certificate");
    refuse_pub("p384.pub", "unsupported curve 'secp384r1'");
    refuse_pub("secp256k1.pub", "unsupported curve 'secp256k1'");
    refuse_pub("rsa.pub", "unsupported algorithm 'RSA'");
    refuse_pub("README", "holds no PEM public key");
    refuse_pub("nosuch.pub", "does not exist");
    /* A PEM block that decodes but is not a SubjectPublicKeyInfo. */
    fs_write_atomic("junk.pub", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", 56, 0644, NULL);
    struct signing_pubkey *pub = NULL;
    struct kiln_err err = KILN_ERR_INIT;
    ok(signing_pubkey_load("junk.pub", &pub, &err) == KILN_EINVAL, "refuses a PEM block that is not a key");
    has_str(err.msg, "not a valid SubjectPublicKeyInfo", "and says so");
    /* Two keys in one file: which one is meant? */
    struct buf a = slurp("ecdsa.pub"), b = slurp("other.pub");
    buf_add(&a, b.data, b.len, NULL);
    fs_write_atomic("two.pub", a.data, a.len, 0644, NULL);
    ok(signing_pubkey_load("two.pub", &pub, &err) == KILN_EINVAL, "refuses two public keys in one file");
    buf_release(&a);
    buf_release(&b);
}

static void test_private_key_handling(void)
{
    struct signing_key *k = NULL;
    struct kiln_err err = KILN_ERR_INIT;
    _cleanup_free_ char *open_key = private_copy("ecdsa.key", 0644);
    ok(signing_key_read(open_key, NULL, &k, &err) == KILN_EINVAL, "refuses a key readable by others");
    has_str(err.msg, "chmod 600", "and says how to fix it");

    _cleanup_free_ char *enc = private_copy("encrypted.key", 0600);
    ok(signing_key_read(enc, NULL, &k, &err) == KILN_EINVAL, "an encrypted key without a passphrase is refused");
    has_str(err.msg, "is encrypted", "and says why");
    ok(signing_key_read(enc, "wrong horse", &k, &err) == KILN_EINVAL, "a wrong passphrase is KILN_EINVAL");
    has_str(err.msg, "wrong passphrase", "and says so");
    ok(signing_key_read(enc, "correct horse", &k, &err) == 0, "the right passphrase loads it");
    signing_key_free(k);
    k = NULL;

    /* From PEM text in memory ($KILN_SIGNING_KEY in the CLI, for CI). */
    struct buf pem = slurp("ecdsa.key"), id = slurp("ecdsa.keyid");
    chomp(&id);
    ok(signing_key_from_pem(pem.data, pem.len, NULL, "$KILN_SIGNING_KEY", &k, &err) == 0, "loads a key from PEM text");
    if (k)
        is_str(signing_key_id(k), id.data, "same key ID as the file");
    signing_key_free(k);
    k = NULL;
    _cleanup_free_ char *pubp = data_path("ecdsa.pub");
    struct buf pub = slurp("ecdsa.pub");
    ok(signing_key_from_pem(pub.data, pub.len, NULL, "x", &k, &err) == KILN_EINVAL, "a public key cannot sign");
    buf_release(&pub);
    buf_release(&pem);
    buf_release(&id);
}

static void test_keygen(void)
{
    char id[SIGNING_KEY_ID_SIZE], id2[SIGNING_KEY_ID_SIZE];
    struct kiln_err err = KILN_ERR_INIT;
    ok(signing_keygen("k1", NULL, NULL, id, &err) == 0, "keygen makes an ecdsa-p256 key");
    struct stat sb;
    ok(stat("k1.key", &sb) == 0 && (sb.st_mode & 0777) == 0600, "the private key is mode 0600");
    ok(signing_keygen("k1", NULL, NULL, id2, &err) == KILN_EEXIST, "keygen never overwrites a key");
    struct signing_key *k = NULL;
    struct signing_pubkey *p = NULL;
    ok(signing_key_read("k1.key", NULL, &k, &err) == 0 && signing_pubkey_load("k1.pub", &p, &err) == 0,
       "both halves load");
    if (k && p) {
        is_str(signing_key_id(k), id, "the private key has the printed ID");
        is_str(signing_pubkey_id(p), id, "the public key has the printed ID");
        unsigned char *sig = NULL;
        size_t n = 0;
        ok(signing_sign_bytes(k, "x", 1, &sig, &n, &err) == 0 && signing_verify_bytes(p, "x", 1, sig, n, &err) == 0,
           "what one signs the other verifies");
        free(sig);
    }
    signing_key_free(k);
    signing_pubkey_free(p);
    k = NULL;
    ok(signing_keygen("k2", "ed25519", "s3cret", id, &err) == 0, "keygen makes an encrypted ed25519 key");
    struct buf b;
    buf_init(&b, 0);
    fs_read_file("k2.key", 0, &b, NULL);
    has_str(b.data, "BEGIN ENCRYPTED PRIVATE KEY", "as encrypted PKCS#8");
    buf_release(&b);
    ok(signing_key_read("k2.key", "s3cret", &k, &err) == 0 && strcmp(signing_key_algorithm(k), "ed25519") == 0,
       "and loads back with its passphrase");
    signing_key_free(k);
    ok(signing_keygen("k3", "rsa", NULL, id, &err) == KILN_EINVAL, "refuses an unsupported algorithm");
    ok(!fs_exists("k3.key") && !fs_exists("k3.pub"), "and leaves no file behind");
}

static void test_payload_parse(void)
{
    struct signing_payload p;
    struct kiln_err err = KILN_ERR_INIT;
    static const char *bad[] = {
        "",
        "[]",
        "{\"type\":\"dev.kiln.signature.v1\"}",
        "{\"algorithm\":\"rsa\",\"created\":\"x\",\"image\":{\"digest\":\"sha256:0000000000000000000000000000000000000000000000000000000000000001\",\"mediaType\":\"m\",\"size\":1},\"keyId\":\"sha256:0000000000000000000000000000000000000000000000000000000000000001\",\"type\":\"dev.kiln.signature.v1\"}",
        "{\"algorithm\":\"ed25519\",\"created\":\"x\",\"image\":{\"digest\":\"sha256:00\",\"mediaType\":\"m\",\"size\":1},\"keyId\":\"sha256:0000000000000000000000000000000000000000000000000000000000000001\",\"type\":\"dev.kiln.signature.v1\"}",
        "{\"algorithm\":\"ed25519\",\"created\":\"x\",\"image\":{\"digest\":\"sha256:0000000000000000000000000000000000000000000000000000000000000001\",\"mediaType\":\"m\",\"size\":-1},\"keyId\":\"sha256:0000000000000000000000000000000000000000000000000000000000000001\",\"type\":\"dev.kiln.signature.v1\"}",
        "{\"type\":\"a\",\"type\":\"b\"}",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        ok(signing_payload_parse(bad[i], strlen(bad[i]), &p, &err) == KILN_EINVAL, "refuses bad payload %zu (%s)", i,
           err.msg);
}

int main(void)
{
    src = getenv("KILN_SRC");
    if (!src) {
        static char cwd[4096];
        src = getcwd(cwd, sizeof(cwd)) ? cwd : ".";
    }
    tap_tmpdir();
    test_golden_ed25519();
    test_ecdsa_committed_signature();
    test_public_key_refusals();
    test_private_key_handling();
    test_keygen();
    test_payload_parse();
    return tap_done();
}
