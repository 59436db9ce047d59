/* drift.c - a disk against its image's signed file manifest. */
#include "fleet/drift.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "disk/disk.h"
#include "images/export.h"
#include "images/manifest.h"
#include "signing/signing.h"
#include "tree/tree.h"
#include "common/banned.h"

#define DRIFT_MAX_PATTERN 4096

/* Written by a booted Debian system by itself: logs, journals, leases,
 * random seeds, the machine ID and SSH host keys made at first boot,
 * caches, spools, temporary files, systemd's and apt's state. */
const char *const drift_default_ignore[] = {
    "/etc/machine-id",
    "/etc/adjtime",
    "/etc/resolv.conf",
    "/etc/ssh/ssh_host_*",
    "/boot/grub/grubenv",
    "/boot/efi/**",       /* the EFI System Partition: not in the root's file manifest */
    "/root/.lesshst",
    "/tmp/**",
    "/var/tmp/**",
    "/var/log/**",
    "/var/cache/**",
    "/var/spool/**",
    "/var/backups/**",
    "/var/lib/dbus/machine-id",
    "/var/lib/dhcp/**",
    "/var/lib/dhcpcd/**",
    "/var/lib/systemd/**",
    "/var/lib/private/**",
    "/var/lib/logrotate/**",
    "/var/lib/sudo/**",
    "/var/lib/cloud/**",
    "/var/lib/apt/lists/**",
    NULL,
};

/* Matches one pattern component-wise: p and s point at the start of a
 * component (just after a '/'). */
static int match_from(const char *p, const char *s)
{
    for (;;) {
        if (p[0] == '*' && p[1] == '*' && (p[2] == '/' || p[2] == '\0')) {
            /* "**" at the end: one or more whole components; "**" then "/": zero or more. */
            if (p[2] == '\0')
                return *s != '\0';
            const char *rest = p + 3;
            for (const char *q = s;; ) {
                if (match_from(rest, q))
                    return 1;
                const char *slash = strchr(q, '/');
                if (!slash)
                    return 0;
                q = slash + 1;
            }
        }
        /* One component of p against one of s. */
        const char *pe = strchrnul(p, '/'), *se = strchrnul(s, '/');
        _cleanup_free_ char *pc = strndup(p, (size_t)(pe - p));
        _cleanup_free_ char *sc = strndup(s, (size_t)(se - s));
        if (!pc || !sc)
            return 0;
        if (fnmatch(pc, sc, 0) != 0)
            return 0;
        if (*pe == '\0' || *se == '\0')
            return *pe == '\0' && *se == '\0';
        p = pe + 1;
        s = se + 1;
    }
}

int drift_match(const char *pattern, const char *path)
{
    if (pattern[0] != '/' || path[0] != '/')
        return 0;
    return match_from(pattern + 1, path + 1);
}

int drift_pattern_check(const char *pattern, const char *what, struct kiln_err *err)
{
    size_t len = strlen(pattern);
    if (pattern[0] != '/')
        return kiln_errf(err, KILN_EINVAL, "%s: pattern '%.200s' is not an absolute path", what, pattern);
    if (len > DRIFT_MAX_PATTERN)
        return kiln_errf(err, KILN_EINVAL, "%s: pattern '%.200s...' is longer than %d bytes", what, pattern,
                         DRIFT_MAX_PATTERN);
    for (const char *c = pattern + 1;;) {
        const char *e = strchrnul(c, '/');
        size_t n = (size_t)(e - c);
        if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
            return kiln_errf(err, KILN_EINVAL, "%s: pattern '%.200s' has an empty, '.' or '..' component",
                             what, pattern);
        for (const char *k = c; k < e; k++)
            if ((unsigned char)*k < 0x20)
                return kiln_errf(err, KILN_EINVAL, "%s: pattern '%.200s' holds a control character", what,
                                 pattern);
        if (!*e)
            return 0;
        c = e + 1;
    }
}

/* The image's own patterns: the dev.kiln.drift.ignore annotation of its
 * manifest or index (a JSON array of strings), appended to list. */
static int image_patterns(const struct export_source *s, json_t *list, struct kiln_err *err)
{
    const char *v = json_string_value(json_object_get(json_object_get(s->top_doc, "annotations"),
                                                      KILN_ANN_DRIFT_IGNORE));
    if (!v)
        return 0;
    json_auto_t *a = json_loads(v, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_array(a) || json_array_size(a) > DRIFT_MAX_PATTERNS)
        return kiln_errf(err, KILN_EINVAL, "image '%s': annotation '%s' is not a list of at most %d patterns",
                         s->ref, KILN_ANN_DRIFT_IGNORE, DRIFT_MAX_PATTERNS);
    size_t i;
    json_t *p;
    json_array_foreach(a, i, p) {
        const char *pat = json_string_value(p);
        if (!pat)
            return kiln_errf(err, KILN_EINVAL, "image '%s': annotation '%s' holds a non-string", s->ref,
                             KILN_ANN_DRIFT_IGNORE);
        int r = drift_pattern_check(pat, "image's drift.ignore", err);
        if (r < 0)
            return kiln_err_prefix(err, "image '%s'", s->ref);
        json_array_append(list, p);
    }
    return 0;
}

/* Verifies the image: a trusted signature over exactly it (the blobs it
 * reads later are each checked against their digests as they are read). */
static int verify_image(const struct export_source *s, const struct drift_opts *o, char **key_id,
                        struct kiln_err *err)
{
    struct signing_verify_opts vo = { o->keys, o->n_keys, s->name, s->version, 1 };
    const char *digest = json_string_value(json_object_get(s->top, "digest"));
    const char *mt = json_string_value(json_object_get(s->top, "mediaType"));
    json_int_t size = json_integer_value(json_object_get(s->top, "size"));
    if (!digest || !mt)
        return kiln_errf(err, KILN_EINVAL, "image '%s' has no digest or media type in the store's index", s->ref);
    json_t *rep = NULL;
    int r = signing_verify_image(s->st, digest, mt, (long long)size, &vo, &rep, err);
    if (r == 0) {
        size_t i;
        json_t *sig;
        json_array_foreach(json_object_get(rep, "signatures"), i, sig)
            if (json_is_true(json_object_get(sig, "valid")) && !*key_id) {
                const char *k = json_string_value(json_object_get(sig, "keyId"));
                *key_id = xstrdup(k ? k : "");
            }
    }
    json_decref(rep);
    if (r < 0)
        return kiln_err_prefix(err, "image '%s' failed verification", s->ref);
    return 0;
}

/* The tar exclude patterns for what patterns ignore as a whole directory
 * (a path without wildcards, then a slash and two stars): never read, so a
 * running host's logs and journals cannot change under the read.
 * NULL-terminated, owned. */
static char **tar_skips(json_t *patterns)
{
    char **v = xcalloc(json_array_size(patterns) + 1, sizeof(char *));
    size_t n = 0, i;
    json_t *p;
    json_array_foreach(patterns, i, p) {
        const char *s = json_string_value(p);
        size_t len = s ? strlen(s) : 0;
        if (len < 4 || s[0] != '/' || strcmp(s + len - 3, "/**") != 0)
            continue;
        if (strcspn(s, "*?[\\") != len - 2)
            continue;
        v[n++] = xasprintf(".%.*s/*", (int)(len - 3), s);
    }
    return v;
}

/* The file manifest of the disk's root file system, without what ignore
 * leaves out as a whole directory. */
static int disk_manifest(const char *disk_path, json_t *ignore, const char *scratch, json_t **out,
                         struct kiln_err *err)
{
    _cleanup_free_ char *tar = path_join(scratch, "disk-root.tar");
    char **skip = tar_skips(ignore);
    int r = disk_read_root(disk_path, (const char *const *)skip, tar, err);
    strv_free(skip);
    if (r < 0)
        return r;
    struct tree_limits lim;
    tree_limits_default(&lim);
    lim.allow_devices = 1; /* only read and hashed, never extracted */
    struct tree *t = NULL;
    if ((r = tree_new(scratch, &lim, &t, err)) < 0) {
        unlink(tar);
        return r;
    }
    _cleanup_close_ int fd = open(tar, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        r = kiln_errno(err, KILN_EFAIL, errno, "cannot open '%s'", tar);
    else
        r = tree_read_tar(t, "the disk's root file system", fd, NULL, err);
    unlink(tar);
    if (r == 0)
        *out = tree_file_manifest(t);
    tree_free(t);
    if (r < 0)
        return kiln_err_prefix(err, "disk '%s'", disk_path);
    return 0;
}

static int ignored(json_t *patterns, const char *path)
{
    size_t i;
    json_t *p;
    json_array_foreach(patterns, i, p)
        if (drift_match(json_string_value(p), path))
            return 1;
    return 0;
}

/* Leaves out of d what a pattern matches. */
static void filter(struct drift_report *rep)
{
    struct diff *d = &rep->diff;
    size_t k = 0;
    d->added = d->removed = d->changed = 0;
    for (size_t i = 0; i < d->n; i++) {
        struct diff_entry e = d->v[i];
        if (ignored(rep->ignore, e.path)) {
            free(e.path);
            rep->ignored++;
            continue;
        }
        if (e.op == '+')
            d->added++;
        else if (e.op == '-')
            d->removed++;
        else
            d->changed++;
        d->v[k++] = e;
    }
    d->n = k;
}

int drift_check(const char *disk_path, const struct drift_opts *o, struct drift_report *rep,
                struct kiln_err *err)
{
    memset(rep, 0, sizeof(*rep));
    struct export_source *s = NULL;
    int r = export_source_load(o->store, o->ref, &s, err);
    if (r < 0)
        return r;
    json_t *ignore = json_array();
    json_t *want = NULL, *have = NULL;
    char *key_id = NULL;
    for (const char *const *p = drift_default_ignore; *p; p++)
        json_array_append_new(ignore, json_string(*p));
    if ((r = verify_image(s, o, &key_id, err)) == 0 && (r = image_patterns(s, ignore, err)) == 0) {
        for (size_t i = 0; i < o->n_ignore; i++)
            json_array_append_new(ignore, json_string(o->ignore[i]));
        r = export_source_files(s, &want, err);
    }
    if (r == 0) {
        kiln_log(KILN_LOG_INFO, "reading disk '%s' (read-only)", disk_path);
        r = disk_manifest(disk_path, ignore, o->scratch, &have, err);
    }
    if (r == 0)
        r = diff_files(want, have, &rep->diff, err);
    if (r == 0) {
        rep->image = xasprintf("%s:%s", s->name, s->version);
        rep->digest = xstrdup(json_string_value(json_object_get(s->top, "digest")));
        rep->key_id = key_id;
        rep->ignore = ignore;
        filter(rep);
    } else {
        free(key_id);
        json_decref(ignore);
    }
    json_decref(want);
    json_decref(have);
    export_source_free(s);
    return r;
}

json_t *drift_report_json(const struct drift_report *rep, const char *disk_path)
{
    json_t *j = diff_to_json(&rep->diff);
    json_object_set_new(j, "image", json_string(rep->image));
    json_object_set_new(j, "digest", json_string(rep->digest));
    json_object_set_new(j, "keyId", json_string(rep->key_id ? rep->key_id : ""));
    json_object_set_new(j, "disk", json_string(disk_path));
    json_object_set_new(j, "drift", json_boolean(rep->diff.n > 0));
    json_object_set_new(j, "ignored", json_integer((json_int_t)rep->ignored));
    json_object_set(j, "ignore", rep->ignore);
    return j;
}

void drift_report_release(struct drift_report *rep)
{
    free(rep->image);
    free(rep->digest);
    free(rep->key_id);
    json_decref(rep->ignore);
    diff_release(&rep->diff);
    memset(rep, 0, sizeof(*rep));
}
