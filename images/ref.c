/* ref.c - names, versions (semver 2.0.0), channels, digests and references. */
#include "images/ref.h"

#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "common/hash.h"
#include "common/banned.h"

int digest_valid(const char *s)
{
    return s && strncmp(s, "sha256:", 7) == 0 && hash_is_hex(s + 7);
}

const char *digest_hex(const char *digest)
{
    return digest_valid(digest) ? digest + 7 : NULL;
}

#define SHOW(s) kiln_err_shown((s), strlen(s), (char[96]){ 0 }, 96)

static int is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int name_chars_ok(const char *s)
{
    for (; *s; s++)
        if (!is_lower_alnum(*s) && *s != '.' && *s != '_' && *s != '-')
            return 0;
    return 1;
}

int ref_check_name(const char *name, struct kiln_err *err)
{
    if (!name || !name[0])
        return kiln_errf(err, KILN_EINVAL, "image name is empty");
    if (strlen(name) > REF_NAME_MAX)
        return kiln_errf(err, KILN_EINVAL, "image name '%s' is longer than %d characters", SHOW(name),
                         REF_NAME_MAX);
    if (!is_lower_alnum(name[0]) || !name_chars_ok(name))
        return kiln_errf(err, KILN_EINVAL,
                         "image name '%s' is invalid: use lowercase letters, digits, '.', '_' and '-', "
                         "starting with a letter or digit", SHOW(name));
    return 0;
}

int ref_check_channel(const char *channel, struct kiln_err *err)
{
    if (!channel || !channel[0])
        return kiln_errf(err, KILN_EINVAL, "channel name is empty");
    if (strlen(channel) > REF_CHANNEL_MAX)
        return kiln_errf(err, KILN_EINVAL, "channel name '%s' is longer than %d characters", SHOW(channel),
                         REF_CHANNEL_MAX);
    if (!(channel[0] >= 'a' && channel[0] <= 'z') || !name_chars_ok(channel))
        return kiln_errf(err, KILN_EINVAL,
                         "channel name '%s' is invalid: use lowercase letters, digits, '.', '_' and '-', "
                         "starting with a letter (a version is not a channel)", SHOW(channel));
    return 0;
}

/* A numeric identifier: digits, no leading zero (except "0"). [s, e) */
static int numeric_ok(const char *s, const char *e)
{
    if (s == e)
        return 0;
    for (const char *p = s; p < e; p++)
        if (*p < '0' || *p > '9')
            return 0;
    return !(e - s > 1 && s[0] == '0');
}

static int all_digits(const char *s, const char *e)
{
    for (const char *p = s; p < e; p++)
        if (*p < '0' || *p > '9')
            return 0;
    return s != e;
}

/* Dot-separated identifiers of [0-9A-Za-z-] in [s, e), none empty; with
 * strict (a prerelease), numeric ones have no leading zero. */
static int idents_ok(const char *s, const char *e, int strict)
{
    for (;;) {
        const char *dot = memchr(s, '.', (size_t)(e - s));
        const char *end = dot ? dot : e;
        if (s == end)
            return 0;
        for (const char *p = s; p < end; p++) {
            char c = *p;
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-'))
                return 0;
        }
        if (strict && all_digits(s, end) && !numeric_ok(s, end))
            return 0;
        if (!dot)
            return 1;
        s = dot + 1;
    }
}

int ref_check_version(const char *v, struct kiln_err *err)
{
    if (!v || !v[0])
        return kiln_errf(err, KILN_EINVAL, "version is empty");
    size_t len = strlen(v);
    if (len > REF_VERSION_MAX)
        return kiln_errf(err, KILN_EINVAL, "version '%s' is longer than %d characters", SHOW(v), REF_VERSION_MAX);
    const char *plus = strchr(v, '+');
    const char *end = plus ? plus : v + len;
    const char *p = v;
    for (int i = 0; i < 3; i++) {
        const char *e = p;
        while (e < end && *e >= '0' && *e <= '9')
            e++;
        if (!numeric_ok(p, e) || e - p > 18)
            goto bad;
        if (i < 2) {
            if (e == end || *e != '.')
                goto bad;
            p = e + 1;
        } else {
            p = e;
        }
    }
    if (p != end && (*p != '-' || !idents_ok(p + 1, end, 1)))
        goto bad;
    if (!plus)
        return 0;
    if (!idents_ok(plus + 1, v + len, 0))
        goto bad;
    /* Legal semver, but an image reference (an OCI tag) cannot hold '+'. */
    return kiln_errf(err, KILN_EINVAL,
                     "version '%s' has build metadata ('%s'), which kiln does not support: an image "
                     "reference cannot hold '+'; leave it out or make it part of a prerelease ('-...')",
                     SHOW(v), SHOW(plus));
bad:
    return kiln_errf(err, KILN_EINVAL,
                     "version '%s' is not a semantic version (MAJOR.MINOR.PATCH[-PRERELEASE], e.g. 1.2.0 or "
                     "1.2.0-rc.1)", SHOW(v));
}

int ref_check_auto_base(const char *base, struct kiln_err *err)
{
    int r = ref_check_version(base, err);
    if (r < 0)
        return r;
    if (strchr(base, '-'))
        return kiln_errf(err, KILN_EINVAL,
                         "auto version base '%s' must be MAJOR.MINOR.PATCH without a prerelease", base);
    return 0;
}

static int layout_char_ok(char c, int first)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')
        return 1;
    return !first && c && strchr(".-:+@/", c);
}

int ref_check_layout_name(const char *s, struct kiln_err *err)
{
    if (!s || !s[0])
        return kiln_errf(err, KILN_EINVAL, "reference name is empty");
    int ok = strlen(s) <= REF_LAYOUT_NAME_MAX && layout_char_ok(s[0], 1);
    for (const char *p = s + 1; ok && *p; p++)
        ok = layout_char_ok(*p, 0);
    if (!ok)
        return kiln_errf(err, KILN_EINVAL,
                         "'%s' is not a valid reference name (a tag, or NAME:VERSION in a kiln store: letters, "
                         "digits and '_', then also '.', '-', ':', '+', '@', '/'; at most %d characters)",
                         SHOW(s), REF_LAYOUT_NAME_MAX);
    return 0;
}

/* Compares numbers given as digit strings without leading zeros. */
static int numcmp(const char *a, size_t la, const char *b, size_t lb)
{
    if (la != lb)
        return la < lb ? -1 : 1;
    int c = memcmp(a, b, la);
    return c < 0 ? -1 : c > 0;
}

int semver_cmp(const char *a, const char *b)
{
    /* MAJOR.MINOR.PATCH */
    for (int i = 0; i < 3; i++) {
        size_t la = strspn(a, "0123456789"), lb = strspn(b, "0123456789");
        int c = numcmp(a, la, b, lb);
        if (c)
            return c;
        a += la;
        b += lb;
        if (i < 2) {
            if (*a == '.')
                a++;
            if (*b == '.')
                b++;
        }
    }
    /* A version without prerelease has higher precedence. */
    if (*a != '-' || *b != '-') {
        if (*a == '-')
            return -1;
        if (*b == '-')
            return 1;
        return 0;
    }
    a++;
    b++;
    for (;;) {
        size_t la = strcspn(a, "."), lb = strcspn(b, ".");
        int na = all_digits(a, a + la), nb = all_digits(b, b + lb);
        int c;
        if (na && nb)
            c = numcmp(a, la, b, lb);
        else if (na)
            c = -1; /* numeric identifiers sort below alphanumeric ones */
        else if (nb)
            c = 1;
        else {
            size_t m = la < lb ? la : lb;
            c = memcmp(a, b, m);
            c = c < 0 ? -1 : c > 0 ? 1 : (la < lb ? -1 : la > lb);
        }
        if (c)
            return c;
        a += la;
        b += lb;
        if (*a == '\0' || *b == '\0')
            return *a ? 1 : *b ? -1 : 0; /* more identifiers = higher */
        a++;
        b++;
    }
}

void image_ref_release(struct image_ref *r)
{
    if (!r)
        return;
    free(r->name);
    free(r->version);
    free(r->channel);
    free(r->digest);
    memset(r, 0, sizeof(*r));
}

int image_ref_parse(const char *s, struct image_ref *out, struct kiln_err *err)
{
    memset(out, 0, sizeof(*out));
    if (!s || !s[0])
        return kiln_errf(err, KILN_EINVAL, "image reference is empty");
    if (strlen(s) > REF_NAME_MAX + 1 + REF_VERSION_MAX + 8)
        return kiln_errf(err, KILN_EINVAL, "image reference '%.40s...' is too long", s);
    const char *at = strchr(s, '@');
    const char *colon = strchr(s, ':');
    int r;
    if (at && (!colon || at < colon)) {
        out->name = xstrndup(s, (size_t)(at - s));
        if (!digest_valid(at + 1)) {
            image_ref_release(out);
            return kiln_errf(err, KILN_EINVAL, "image reference '%s': '%s' is not a digest (sha256:<64 hex>)",
                             s, at + 1);
        }
        out->kind = REF_DIGEST;
        out->digest = xstrdup(at + 1);
    } else if (colon) {
        out->name = xstrndup(s, (size_t)(colon - s));
        const char *tag = colon + 1;
        if (tag[0] >= '0' && tag[0] <= '9') {
            if ((r = ref_check_version(tag, err)) < 0)
                goto fail;
            out->kind = REF_VERSION;
            out->version = xstrdup(tag);
        } else {
            if ((r = ref_check_channel(tag, err)) < 0)
                goto fail;
            out->kind = REF_CHANNEL;
            out->channel = xstrdup(tag);
        }
    } else {
        out->kind = REF_LATEST;
        out->name = xstrdup(s);
    }
    if ((r = ref_check_name(out->name, err)) < 0)
        goto fail;
    return 0;
fail:
    kiln_err_prefix(err, "image reference '%s'", s);
    image_ref_release(out);
    return r;
}
