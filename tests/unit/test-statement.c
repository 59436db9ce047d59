/* test-statement.c - the channel statement payload: made, parsed back, and
 * hostile inputs refused with a message naming the problem. */
#include "signing/signing.h"

#include <stdio.h>
#include <string.h>

#include "common/common.h"
#include "tests/unit/tap.h"
#include "common/banned.h"

#define D1 "sha256:0000000000000000000000000000000000000000000000000000000000000001"
#define K1 "sha256:00000000000000000000000000000000000000000000000000000000000000aa"

static const char *good =
    "{\"algorithm\":\"ed25519\",\"channel\":\"stable\",\"created\":\"2026-01-02T03:04:05Z\",\"digest\":\"" D1 "\","
    "\"expires\":\"2026-02-01T03:04:05Z\",\"keyId\":\"" K1 "\",\"name\":\"web\",\"type\":\"dev.kiln.channel.v1\","
    "\"version\":\"1.4.0\"}";

/* good with the first occurrence of from replaced by to */
static char *variant(const char *from, const char *to)
{
    const char *p = strstr(good, from);
    if (!p)
        return xstrdup(good);
    return xasprintf("%.*s%s%s", (int)(p - good), good, to, p + strlen(from));
}

static void refused(const char *from, const char *to, const char *want, const char *what)
{
    _cleanup_free_ char *t = variant(from, to);
    struct signing_statement s;
    struct kiln_err err = KILN_ERR_INIT;
    int r = signing_statement_parse(t, strlen(t), &s, &err);
    is_int(r, KILN_EINVAL, "refused: %s", what);
    has_str(err.msg, want, "  the message names it (%s)", what);
    ok(s.type == NULL && s.name == NULL, "  nothing left in the result (%s)", what);
}

static void test_roundtrip(void)
{
    struct signing_statement s;
    struct kiln_err err = KILN_ERR_INIT;
    is_int(signing_statement_parse(good, strlen(good), &s, &err), 0, "a good statement parses");
    is_str(s.channel, "stable", "channel");
    is_str(s.name, "web", "name");
    is_str(s.version, "1.4.0", "version");
    is_str(s.digest, D1, "digest");
    is_int(s.created_t, 1767323045, "created as a Unix time");
    is_int(s.expires_t, 1767323045 + 30 * 86400, "expires as a Unix time");
    _cleanup_free_ char *again = signing_statement_make(&s);
    is_str(again, good, "made again: the same canonical bytes");
    signing_statement_release(&s);
}

static void test_hostile(void)
{
    struct signing_statement s;
    struct kiln_err err = KILN_ERR_INIT;
    is_int(signing_statement_parse("", 0, &s, &err), KILN_EINVAL, "empty input refused");
    is_int(signing_statement_parse("[1,2]", 5, &s, &err), KILN_EINVAL, "an array refused");
    has_str(err.msg, "not a JSON object", "  named");
    is_int(signing_statement_parse(good, strlen(good) - 1, &s, &err), KILN_EINVAL, "truncated JSON refused");
    _cleanup_free_ char *huge = xcalloc(1, SIGNING_PAYLOAD_LIMIT + 2);
    memset(huge, ' ', SIGNING_PAYLOAD_LIMIT + 1);
    is_int(signing_statement_parse(huge, SIGNING_PAYLOAD_LIMIT + 1, &s, &err), KILN_EINVAL, "oversized refused");
    has_str(err.msg, "larger than", "  named");
    refused("\"type\":\"dev.kiln.channel.v1\"", "\"type\":\"dev.kiln.signature.v1\"", "has type", "another type");
    refused("\"name\":\"web\",", "", "no 'name'", "a missing name");
    refused("\"name\":\"web\"", "\"name\":\"web\",\"name\":\"db\"", "not JSON", "a duplicated member");
    refused("\"name\":\"web\"", "\"name\":\"web\",\"extra\":\"x\"", "members it should not have", "an extra member");
    refused("\"name\":\"web\"", "\"name\":7", "'name' is not a valid string", "a number for a name");
    refused("\"name\":\"web\"", "\"name\":\"\"", "'name' is not a valid string", "an empty name");
    refused("\"name\":\"web\"", "\"name\":\"w\\u0000b\"", "not JSON", "a NUL in a name");
    refused("\"channel\":\"stable\"", "\"channel\":\"st able\"", "not printable", "a space in a channel");
    refused("\"channel\":\"stable\"", "\"channel\":\"st\\nable\"", "not printable", "a newline in a channel");
    refused(D1, "sha256:XYZ", "not sha256:<hex>", "a digest that is not hex");
    refused(K1, "md5:00", "not sha256:<hex>", "a key ID that is not sha256");
    refused("\"ed25519\"", "\"rsa\"", "unsupported algorithm", "an unknown algorithm");
    refused("2026-02-01T03:04:05Z", "2026-02-30T03:04:05Z", "not YYYY-MM-DDTHH:MM:SSZ", "no such day");
    refused("2026-02-01T03:04:05Z", "2026-02-01 03:04:05", "not printable", "not RFC 3339");
    refused("2026-02-01T03:04:05Z", "2026-02-01T03:04:05+01:00", "not YYYY-MM-DDTHH:MM:SSZ", "an offset");
    refused("2026-02-01T03:04:05Z", "+026-02-01T03:04:05Z", "not YYYY-MM-DDTHH:MM:SSZ", "a sign in the year");
    refused("2026-02-01T03:04:05Z", "2025-02-01T03:04:05Z", "expires", "expiry before creation");
    refused("2026-02-01T03:04:05Z", "2026-01-02T03:04:05Z", "expires", "expiry at creation");
    /* a long string */
    char big[400];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    _cleanup_free_ char *q = xasprintf("\"%s\"", big);
    refused("\"web\"", q, "'name' is not a valid string", "a 399-byte name");
}

static void test_revocation(void)
{
    static const char *rev = "{\"algorithm\":\"ed25519\",\"created\":\"2026-01-02T03:04:05Z\",\"digest\":\"" D1 "\","
                             "\"keyId\":\"" K1 "\",\"name\":\"web\",\"type\":\"dev.kiln.revocation.v1\","
                             "\"version\":\"1.4.0\"}";
    struct signing_statement s;
    struct kiln_err err = KILN_ERR_INIT;
    is_int(signing_statement_parse(rev, strlen(rev), &s, &err), 0, "a revocation parses");
    ok(s.channel == NULL && s.expires == NULL, "  with no channel and no expiry");
    _cleanup_free_ char *again = signing_statement_make(&s);
    is_str(again, rev, "  made again: the same canonical bytes");
    signing_statement_release(&s);
    /* a channel statement relabelled as a revocation has members a revocation has not */
    _cleanup_free_ char *t = variant("dev.kiln.channel.v1", "dev.kiln.revocation.v1");
    is_int(signing_statement_parse(t, strlen(t), &s, &err), KILN_EINVAL, "a channel statement typed revocation is refused");
    has_str(err.msg, "members it should not have", "  named");
    /* and a revocation relabelled as a channel statement lacks its members */
    char *u = xstrdup(rev);
    char *p = strstr(u, "revocation");
    memcpy(p, "channel.v1\"", 11);
    memmove(p + 11, p + strlen("revocation.v1\""), strlen(p + strlen("revocation.v1\"")) + 1);
    is_int(signing_statement_parse(u, strlen(u), &s, &err), KILN_EINVAL, "a revocation typed channel is refused");
    has_str(err.msg, "no 'channel'", "  named");
    free(u);
}

static void test_rfc3339(void)
{
    int64_t t = 0;
    is_int(signing_rfc3339_parse("1970-01-01T00:00:00Z", &t), 0, "the epoch parses");
    is_int(t, 0, "  to 0");
    is_int(signing_rfc3339_parse("2026-13-01T00:00:00Z", &t), -1, "month 13 refused");
    is_int(signing_rfc3339_parse("2026-01-01T00:00:00Zx", &t), -1, "trailing bytes refused");
    is_int(signing_rfc3339_parse(NULL, &t), -1, "NULL refused");
}

int main(void)
{
    tap_tmpdir();
    test_roundtrip();
    test_hostile();
    test_revocation();
    test_rfc3339();
    return tap_done();
}
