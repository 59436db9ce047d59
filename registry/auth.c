/* auth.c - what registry/ parses from outside: DEST, docker config.json
 * credentials, WWW-Authenticate challenges and the registry's error bodies.
 * No network I/O here. */
#include "registry/registry.h"

#include <ctype.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <string.h>
#include <strings.h>

#include "common/common.h"
#include "common/fsutil.h"
#include "common/banned.h"

/* ---- DEST ---------------------------------------------------------------- */

/* One repository path component: [a-z0-9]+ runs joined by '.', '_', '__' or '-'+. */
static int repo_component_valid(const char *s, size_t n)
{
    if (n == 0 || !(islower((unsigned char)s[0]) || isdigit((unsigned char)s[0])))
        return 0;
    if (!(islower((unsigned char)s[n - 1]) || isdigit((unsigned char)s[n - 1])))
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (islower(ch) || isdigit(ch) || ch == '-')
            continue;
        if (ch == '.' || ch == '_') {
            /* a separator between runs: ".", "_", "__" */
            int under2 = ch == '_' && i + 1 < n && s[i + 1] == '_';
            size_t next = i + 1 + (size_t)under2;
            if (next >= n || !(islower((unsigned char)s[next]) || isdigit((unsigned char)s[next])))
                return 0;
            i = next - 1;
            continue;
        }
        return 0;
    }
    return 1;
}

int registry_repo_valid(const char *repo)
{
    size_t len = strlen(repo);
    if (len == 0 || len > 255)
        return 0;
    const char *p = repo;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (!repo_component_valid(p, n))
            return 0;
        if (!slash)
            return 1;
        p = slash + 1;
    }
}

int registry_tag_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 128 || !(isalnum((unsigned char)s[0]) || s[0] == '_'))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '.' || s[i] == '-'))
            return 0;
    return 1;
}

static int host_valid(const char *h, size_t n)
{
    if (n == 0 || n > 255)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)h[i];
        if (!(isalnum(ch) || ch == '.' || ch == '-' || ch == ':' || ch == '[' || ch == ']'))
            return 0;
    }
    return 1;
}

void registry_ref_release(struct registry_ref *r)
{
    free(r->host);
    free(r->repo);
    free(r->tag);
    free(r->digest);
    memset(r, 0, sizeof(*r));
}

/* DEST (what = "destination", no digest) or SRC (what = "source", digest allowed). */
static int ref_parse(const char *dest, int plain_http, const char *what, struct registry_ref *out,
                     struct kiln_err *err)
{
    memset(out, 0, sizeof(*out));
    const char *s = dest;
    out->plain_http = plain_http;
    if (!strncmp(s, "http://", 7)) {
        out->plain_http = 1;
        s += 7;
    } else if (!strncmp(s, "https://", 8)) {
        if (plain_http)
            return kiln_errf(err, KILN_EINVAL, "%s '%s' says https:// but plain HTTP was asked for", what, dest);
        s += 8;
    }
    const char *slash = strchr(s, '/');
    if (!slash || !host_valid(s, (size_t)(slash - s)))
        return kiln_errf(err, KILN_EINVAL, "%s '%s' is not HOST[:PORT]/REPOSITORY[:TAG]%s", what, dest,
                         strcmp(what, "source") == 0 ? "[@sha256:HEX]" : "");
    _cleanup_free_ char *repo = xstrdup(slash + 1);
    _cleanup_free_ char *digest = NULL;
    char *at = strchr(repo, '@');
    if (at && strcmp(what, "source") != 0)
        return kiln_errf(err, KILN_EINVAL, "%s '%s': a digest cannot be pushed to; give a tag or none", what, dest);
    if (at) {
        if (!digest_valid(at + 1))
            return kiln_errf(err, KILN_EINVAL, "%s '%s': '%s' is not a digest (sha256:<64 lowercase hex>)", what,
                             dest, at + 1);
        digest = xstrdup(at + 1);
        *at = '\0';
    }
    char *colon = strrchr(repo, ':');
    _cleanup_free_ char *tag = NULL;
    if (colon) {
        tag = xstrdup(colon + 1);
        *colon = '\0';
        if (!registry_tag_valid(tag))
            return kiln_errf(err, KILN_EINVAL, "%s '%s': '%s' is not a valid tag", what, dest, tag);
    }
    if (!registry_repo_valid(repo))
        return kiln_errf(err, KILN_EINVAL,
                         "%s '%s': '%s' is not a valid repository (lowercase [a-z0-9._-] components "
                         "separated by '/')", what, dest, repo);
    out->host = xstrndup(s, (size_t)(slash - s));
    out->repo = TAKE_PTR(repo);
    out->tag = TAKE_PTR(tag);
    out->digest = TAKE_PTR(digest);
    return 0;
}

int registry_ref_parse(const char *dest, int plain_http, struct registry_ref *out, struct kiln_err *err)
{
    return ref_parse(dest, plain_http, "destination", out, err);
}

int registry_src_parse(const char *src, int plain_http, struct registry_ref *out, struct kiln_err *err)
{
    int r = ref_parse(src, plain_http, "source", out, err);
    if (r == 0 && !out->tag && !out->digest) {
        registry_ref_release(out);
        return kiln_errf(err, KILN_EINVAL, "source '%s' names no tag and no digest (REPOSITORY:TAG or "
                         "REPOSITORY@sha256:HEX)", src);
    }
    return r;
}

int registry_host_parse(const char *s, int plain_http, struct registry_ref *out, struct kiln_err *err)
{
    memset(out, 0, sizeof(*out));
    const char *h = s;
    out->plain_http = plain_http;
    if (!strncmp(h, "http://", 7)) {
        out->plain_http = 1;
        h += 7;
    } else if (!strncmp(h, "https://", 8)) {
        if (plain_http)
            return kiln_errf(err, KILN_EINVAL, "registry '%s' says https:// but plain HTTP was asked for", s);
        h += 8;
    }
    size_t n = strlen(h);
    if (n && h[n - 1] == '/')
        n--;
    if (!host_valid(h, n))
        return kiln_errf(err, KILN_EINVAL, "registry '%s' is not HOST[:PORT]", s);
    out->host = xstrndup(h, n);
    out->repo = xstrdup("");
    return 0;
}

/* ---- credentials ----------------------------------------------------------- */

/* The host[:port] of a config.json key: "https://h:5000/v1/" -> "h:5000". */
static char *auth_key_host(const char *key)
{
    const char *p = strstr(key, "://");
    p = p ? p + 3 : key;
    size_t n = strcspn(p, "/");
    return xstrndup(p, n);
}

static int host_matches(const char *key, const char *host)
{
    _cleanup_free_ char *h = auth_key_host(key);
    if (!strcmp(h, host))
        return 1;
    /* docker writes Docker Hub's credentials under its v1 index */
    return !strcmp(h, "index.docker.io") && (!strcmp(host, "docker.io") || !strcmp(host, "registry-1.docker.io"));
}

static int decode_auth(const char *b64, const char *file, const char *key, char **user, char **password,
                       struct kiln_err *err)
{
    size_t n = strlen(b64);
    if (n == 0 || n % 4 != 0 || n > 16384)
        return kiln_errf(err, KILN_EINVAL, "'%s': auths.\"%s\".auth is not base64", file, key);
    _cleanup_free_ unsigned char *raw = xmalloc(n / 4 * 3 + 1);
    int len = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)n);
    if (len < 0)
        return kiln_errf(err, KILN_EINVAL, "'%s': auths.\"%s\".auth is not base64", file, key);
    if (b64[n - 1] == '=')
        len--;
    if (b64[n - 2] == '=')
        len--;
    raw[len] = '\0';
    char *colon = memchr(raw, ':', (size_t)len);
    if (!colon || memchr(raw, '\0', (size_t)len))
        return kiln_errf(err, KILN_EINVAL, "'%s': auths.\"%s\".auth is not base64 of USER:PASSWORD", file, key);
    *user = xstrndup((const char *)raw, (size_t)(colon - (char *)raw));
    *password = xstrdup(colon + 1);
    explicit_bzero(raw, (size_t)len);
    return 1;
}

/* The docker config at file, parsed (at most 1 MiB; the bytes read are
 * wiped): 0 with *out NULL when there is no such file. */
static int config_load(const char *file, json_t **out, struct kiln_err *err)
{
    *out = NULL;
    if (!fs_exists(file))
        return 0;
    struct buf b BUF_CLEANUP = BUF_INIT;
    int r = fs_read_file(file, 1u << 20, &b, err);
    if (r < 0)
        return r;
    json_error_t jerr;
    *out = json_loadb(b.data, b.len, 0, &jerr);
    explicit_bzero(b.data, b.len);
    if (!*out)
        return kiln_errf(err, KILN_EINVAL, "'%s':%d: %s", file, jerr.line, jerr.text);
    return 0;
}

static int creds_in_file(const char *file, const char *host, char **user, char **password, struct kiln_err *err)
{
    json_t *j = NULL;
    int r = config_load(file, &j, err);
    if (r < 0 || !j)
        return r;
    json_t *auths = json_object_get(j, "auths");
    r = 0;
    const char *key;
    json_t *v;
    if (auths && !json_is_object(auths))
        r = kiln_errf(err, KILN_EINVAL, "'%s': \"auths\" is not an object", file);
    json_object_foreach(json_is_object(auths) ? auths : NULL, key, v) {
        if (r != 0 || !host_matches(key, host))
            continue;
        const char *a = json_string_value(json_object_get(v, "auth"));
        if (a)
            r = decode_auth(a, file, key, user, password, err);
    }
    json_decref(j);
    return r;
}

int registry_creds_find(const char *const *files, size_t n_files, const char *host, char **user,
                        char **password, struct kiln_err *err)
{
    *user = *password = NULL;
    for (size_t i = 0; i < n_files; i++) {
        if (!files[i])
            continue;
        int r = creds_in_file(files[i], host, user, password, err);
        if (r != 0)
            return r;
    }
    return 0;
}

static int helper_name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '.' || s[i] == '_' || s[i] == '-'))
            return 0;
    return 1;
}

/* 1 with *helper when file names one for host, 0 when not. */
static int helper_in_file(const char *file, const char *host, char **helper, struct kiln_err *err)
{
    json_t *j = NULL;
    int r = config_load(file, &j, err);
    if (r < 0 || !j)
        return r;
    const char *name = NULL, *key;
    json_t *v, *helpers = json_object_get(j, "credHelpers");
    json_object_foreach(json_is_object(helpers) ? helpers : NULL, key, v) {
        if (!name && host_matches(key, host))
            name = json_string_value(v);
    }
    if (!name)
        name = json_string_value(json_object_get(j, "credsStore"));
    r = 0;
    if (name && name[0] && !helper_name_valid(name))
        r = kiln_errf(err, KILN_EINVAL, "'%s': credential helper '%s' is not a valid name ([A-Za-z0-9._-])", file,
                      name);
    else if (name && name[0]) {
        *helper = xstrdup(name);
        r = 1;
    }
    json_decref(j);
    return r;
}

int registry_creds_helper(const char *const *files, size_t n_files, const char *host, char **helper,
                          struct kiln_err *err)
{
    *helper = NULL;
    for (size_t i = 0; i < n_files; i++) {
        if (!files[i])
            continue;
        int r = helper_in_file(files[i], host, helper, err);
        if (r != 0)
            return r;
    }
    return 0;
}

int registry_creds_helper_answer(const char *helper, int status, const char *out, size_t len, char **user,
                                 char **password, struct kiln_err *err)
{
    *user = *password = NULL;
    if (status != 0) {
        if (out && memmem(out, len, "credentials not found", 21))
            return 0;
        /* its first line says why */
        size_t n = out ? strcspn(out, "\n") : 0;
        if (n > len)
            n = len;
        return kiln_errf(err, KILN_EFAIL, "credential helper 'docker-credential-%s' failed (exit %d)%s%.*s", helper,
                         status, n ? ": " : "", (int)(n > 200 ? 200 : n), out ? out : "");
    }
    json_t *j = json_loadb(out ? out : "", len, 0, NULL);
    const char *u = json_string_value(json_object_get(j, "Username"));
    const char *secret = json_string_value(json_object_get(j, "Secret"));
    int r = 1;
    if (!u || !secret || !secret[0])
        r = kiln_errf(err, KILN_EFAIL, "credential helper 'docker-credential-%s' answered with no Username and "
                      "Secret", helper);
    else {
        *user = xstrdup(u);
        *password = xstrdup(secret);
    }
    if (j) {
        json_t *s = json_object_get(j, "Secret");
        if (json_is_string(s))
            explicit_bzero((char *)json_string_value(s), strlen(json_string_value(s)));
        json_decref(j);
    }
    return r;
}

int registry_creds_store(const char *file, const char *host, const char *user, const char *password,
                         struct kiln_err *err)
{
    if (!user[0] || strchr(user, ':'))
        return kiln_errf(err, KILN_EINVAL, "user name '%s' is empty or holds a ':'", user);
    json_t *j = NULL;
    if (fs_exists(file)) {
        struct buf b BUF_CLEANUP = BUF_INIT;
        int r = fs_read_file(file, 1u << 20, &b, err);
        if (r < 0)
            return r;
        json_error_t jerr;
        j = json_loadb(b.data, b.len, 0, &jerr);
        if (b.data)
            explicit_bzero(b.data, b.len);
        if (!j)
            return kiln_errf(err, KILN_EINVAL, "'%s':%d: %s", file, jerr.line, jerr.text);
        if (!json_is_object(j)) {
            json_decref(j);
            return kiln_errf(err, KILN_EINVAL, "'%s' is not a JSON object", file);
        }
    } else {
        j = json_object();
    }
    json_t *auths = json_object_get(j, "auths");
    if (auths && !json_is_object(auths)) {
        json_decref(j);
        return kiln_errf(err, KILN_EINVAL, "'%s': \"auths\" is not an object", file);
    }
    if (!auths) {
        auths = json_object();
        json_object_set_new(j, "auths", auths);
    }
    /* drop the entries for this host under other spellings ("https://h/v1/"): the lookup takes the first */
    const char *key;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(auths, tmp, key, v) {
        if (host_matches(key, host))
            json_object_del(auths, key);
    }
    _cleanup_free_ char *pair = xasprintf("%s:%s", user, password);
    size_t n = strlen(pair);
    _cleanup_free_ char *b64 = xmalloc(4 * ((n + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)pair, (int)n);
    explicit_bzero(pair, n);
    json_object_set_new(auths, host, json_pack("{s:s}", "auth", b64));
    explicit_bzero(b64, strlen(b64));
    char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(j);
    if (!text)
        return kiln_errf(err, KILN_ENOMEM, "cannot encode '%s'", file);
    size_t tlen = strlen(text);
    int r = fs_write_atomic(file, text, tlen, 0600, err);
    explicit_bzero(text, tlen);
    free(text);
    return r;
}

/* ---- WWW-Authenticate ------------------------------------------------------ */

void registry_challenge_release(struct registry_challenge *c)
{
    free(c->scheme);
    free(c->realm);
    free(c->service);
    free(c->scope);
    free(c->error);
    memset(c, 0, sizeof(*c));
}

static int is_token_char(char ch)
{
    return isalnum((unsigned char)ch) || (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* Reads a token or a quoted-string at p into *out; returns the position after it, or NULL. */
static const char *read_value(const char *p, char **out)
{
    struct buf b BUF_CLEANUP = BUF_INIT;
    if (*p == '"') {
        for (p++; *p && *p != '"'; p++) {
            if (*p == '\\' && p[1])
                p++;
            buf_addch(&b, *p, NULL);
        }
        if (*p != '"')
            return NULL;
        p++;
    } else {
        while (is_token_char(*p) || *p == '/' || *p == ':' || *p == '=')
            buf_addch(&b, *p++, NULL);
        if (b.len == 0)
            return NULL;
    }
    *out = buf_detach(&b, NULL);
    return p;
}

int registry_challenge_parse(const char *header, struct registry_challenge *out, struct kiln_err *err)
{
    memset(out, 0, sizeof(*out));
    if (!header || strlen(header) > 8192)
        return kiln_errf(err, KILN_EINVAL, "malformed WWW-Authenticate header (missing or too long)");
    struct registry_challenge cur = { 0 }, best = { 0 };
    const char *p = skip_ws(header);
    int r = 0;
    while (*p && r == 0) {
        /* a scheme */
        const char *s = p;
        while (is_token_char(*p))
            p++;
        if (p == s) {
            r = kiln_errf(err, KILN_EINVAL, "malformed WWW-Authenticate header '%s'", header);
            break;
        }
        registry_challenge_release(&cur);
        cur.scheme = xstrndup(s, (size_t)(p - s));
        p = skip_ws(p);
        /* its parameters: name=value, comma separated, until a token without '=' */
        while (*p) {
            const char *n = p;
            while (is_token_char(*p))
                p++;
            size_t nlen = (size_t)(p - n);
            const char *q = skip_ws(p);
            if (nlen == 0 || *q != '=') {
                p = n;
                break; /* the next challenge's scheme */
            }
            q = skip_ws(q + 1);
            char *val = NULL;
            q = read_value(q, &val);
            if (!q) {
                r = kiln_errf(err, KILN_EINVAL, "malformed WWW-Authenticate header '%s'", header);
                break;
            }
            char **slot = NULL;
            if (nlen == 5 && !strncasecmp(n, "realm", 5))
                slot = &cur.realm;
            else if (nlen == 7 && !strncasecmp(n, "service", 7))
                slot = &cur.service;
            else if (nlen == 5 && !strncasecmp(n, "scope", 5))
                slot = &cur.scope;
            else if (nlen == 5 && !strncasecmp(n, "error", 5))
                slot = &cur.error;
            if (slot) {
                free(*slot);
                *slot = val;
            } else {
                free(val);
            }
            p = skip_ws(q);
            if (*p == ',')
                p = skip_ws(p + 1);
            else if (*p) {
                r = kiln_errf(err, KILN_EINVAL, "malformed WWW-Authenticate header '%s'", header);
                break;
            }
        }
        if (r < 0)
            break;
        int bearer = !strcasecmp(cur.scheme, "Bearer");
        int basic = !strcasecmp(cur.scheme, "Basic");
        if (bearer || (basic && !best.scheme)) {
            registry_challenge_release(&best);
            best = cur;
            memset(&cur, 0, sizeof(cur));
        }
    }
    registry_challenge_release(&cur);
    if (r == 0 && !best.scheme)
        r = kiln_errf(err, KILN_EINVAL, "WWW-Authenticate '%s' offers neither Bearer nor Basic", header);
    if (r == 0 && !strcasecmp(best.scheme, "Bearer") && (!best.realm || !best.realm[0]))
        r = kiln_errf(err, KILN_EINVAL, "WWW-Authenticate '%s': a Bearer challenge without a realm", header);
    if (r < 0) {
        registry_challenge_release(&best);
        return r;
    }
    *out = best;
    return 0;
}

/* ---- error bodies -------------------------------------------------------- */

char *registry_error_body_message(const char *body, size_t len)
{
    if (!body || len == 0)
        return NULL;
    json_t *j = json_loadb(body, len, 0, NULL);
    json_t *errors = json_object_get(j, "errors");
    if (!json_is_array(errors) || json_array_size(errors) == 0) {
        json_decref(j);
        return NULL;
    }
    struct buf b BUF_CLEANUP = BUF_INIT;
    buf_init(&b, 2048);
    size_t i;
    json_t *e;
    json_array_foreach(errors, i, e) {
        if (i == 3)
            break;
        const char *code = json_string_value(json_object_get(e, "code"));
        const char *msg = json_string_value(json_object_get(e, "message"));
        if (!code && !msg)
            continue;
        if (b.len)
            buf_adds(&b, "; ", NULL);
        buf_addf(&b, NULL, "%s", code ? code : "UNKNOWN");
        if (msg && msg[0])
            buf_addf(&b, NULL, ": %.300s", msg);
    }
    json_decref(j);
    if (b.len == 0)
        return NULL;
    return buf_detach(&b, NULL);
}
