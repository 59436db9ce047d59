/* step-users.c - the recipe's `users`, written straight into /etc/passwd,
 * /etc/group and /etc/shadow (password locked with '!'), with a 0700 home
 * (no skeleton) and ~/.ssh/authorized_keys 0600 when keys are given. */
#include "builder/step.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "common/banned.h"

static void append_line(struct buf *b, const char *text, const char *line)
{
    buf_adds(b, text, NULL);
    if (b->len && b->data[b->len - 1] != '\n')
        buf_addch(b, '\n', NULL);
    buf_adds(b, line, NULL);
}

/* Adds user to the member list (field 4) of group in a group file. */
static int add_member(struct buf *out, const char *text, const char *group, const char *user)
{
    int found = 0;
    const char *p = text;
    size_t gl = strlen(group);
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t ll = nl ? (size_t)(nl - p) : strlen(p);
        buf_add(out, p, ll, NULL);
        if (!found && ll > gl && strncmp(p, group, gl) == 0 && p[gl] == ':') {
            found = 1;
            int colons = 0;
            for (size_t i = 0; i < ll; i++)
                colons += p[i] == ':';
            if (colons < 3)
                buf_adds(out, ":", NULL);
            int empty = p[ll - 1] == ':';
            buf_addf(out, NULL, "%s%s", empty ? "" : ",", user);
        }
        buf_addch(out, '\n', NULL);
        p += ll + (nl ? 1 : 0);
    }
    return found;
}

static int add_dir(struct build_ctx *ctx, const char *what, const char *path, unsigned mode, uint32_t uid,
                   uint32_t gid, struct kiln_err *err)
{
    _cleanup_free_ char *dest = NULL;
    int r = step_resolve_dest(ctx, what, path, &dest, err);
    if (r < 0)
        return r;
    struct tree_new_entry ne = { .path = dest, .type = TREE_DIR, .mode = mode, .uid = uid, .gid = gid,
                                 .mtime = ctx->sde };
    return tree_add(ctx->tree, what, &ne, NULL, err);
}

/* A field of /etc/passwd or /etc/group must not carry a separator. */
static int field_ok(const char *s)
{
    return s && *s && !strpbrk(s, ":\n\r,");
}

static int add_user(struct build_ctx *ctx, const struct recipe_user *u, struct kiln_err *err)
{
    _cleanup_free_ char *what = xasprintf("users: '%s'", u->name);
    if (!field_ok(u->name) || (u->shell && (!field_ok(u->shell))))
        return kiln_errf(err, KILN_EINVAL, "%s: names and shells cannot contain ':', ',' or line breaks", what);
    for (size_t i = 0; i < u->groups.n; i++)
        if (!field_ok(u->groups.v[i]))
            return kiln_errf(err, KILN_EINVAL, "%s: group names cannot contain ':', ',' or line breaks", what);
    for (size_t i = 0; i < u->ssh_authorized_keys.n; i++)
        if (strpbrk(u->ssh_authorized_keys.v[i], "\n\r"))
            return kiln_errf(err, KILN_EINVAL, "%s: an ssh key cannot contain line breaks", what);
    _cleanup_free_ char *passwd = NULL, *group = NULL, *shadow = NULL;
    int r;
    if ((r = step_read_text(ctx, "/etc/passwd", &passwd, NULL, err)) < 0 ||
        (r = step_read_text(ctx, "/etc/group", &group, NULL, err)) < 0 ||
        (r = step_read_text(ctx, "/etc/shadow", &shadow, NULL, err)) < 0)
        return r;
    long id, gid;
    if (step_db_lookup(passwd, u->name, &id, NULL))
        return kiln_errf(err, KILN_EINVAL, "%s: the user exists in the image already", what);
    long uid = u->uid;
    if (uid < 0) {
        for (uid = 1000; step_db_has_id(passwd, uid); uid++)
            ;
    } else if (step_db_has_id(passwd, uid)) {
        return kiln_errf(err, KILN_EINVAL, "%s: uid %ld is taken in the image", what, uid);
    }
    /* /etc/gshadow, when the image has one, follows /etc/group. */
    _cleanup_free_ char *gshadow = NULL;
    size_t gslen = 0;
    if ((r = step_read_text(ctx, "/etc/gshadow", &gshadow, &gslen, err)) < 0)
        return r;
    /* The user's own group: same name, gid = uid when free. */
    if (step_db_lookup(group, u->name, &id, NULL)) {
        gid = id;
    } else {
        if (gslen) {
            _cleanup_free_ char *gsl = xasprintf("%s:!::\n", u->name);
            struct buf g = BUF_INIT;
            append_line(&g, gshadow, gsl);
            free(gshadow);
            gshadow = buf_detach(&g, &gslen);
        }
        for (gid = uid; step_db_has_id(group, gid); gid++)
            ;
        _cleanup_free_ char *gl = xasprintf("%s:x:%ld:\n", u->name, gid);
        struct buf g = BUF_INIT;
        append_line(&g, group, gl);
        free(group);
        group = buf_detach(&g, NULL);
    }
    for (size_t i = 0; i < u->groups.n; i++) {
        struct buf g = BUF_INIT;
        int found = add_member(&g, group, u->groups.v[i], u->name);
        free(group);
        group = buf_detach(&g, NULL);
        if (!found)
            return kiln_errf(err, KILN_EINVAL, "%s: group '%s' is not in the image's /etc/group", what,
                             u->groups.v[i]);
        if (gslen) {
            struct buf gs = BUF_INIT;
            add_member(&gs, gshadow, u->groups.v[i], u->name);
            free(gshadow);
            gshadow = buf_detach(&gs, &gslen);
        }
    }
    _cleanup_free_ char *home = xasprintf("/home/%s", u->name);
    const char *shell = u->shell ? u->shell : "/bin/sh";
    _cleanup_free_ char *pl = xasprintf("%s:x:%ld:%ld::%s:%s\n", u->name, uid, gid, home, shell);
    _cleanup_free_ char *sl = xasprintf("%s:!:%lld:0:99999:7:::\n", u->name, (long long)(ctx->sde / 86400));
    struct buf p = BUF_INIT, s = BUF_INIT;
    append_line(&p, passwd, pl);
    append_line(&s, shadow, sl);
    /* /etc/shadow: a new one is 0640 root:shadow when that group exists. */
    long shadow_gid = 0;
    if (!step_db_lookup(group, "shadow", &shadow_gid, NULL))
        shadow_gid = 0;
    if ((r = step_write_text(ctx, what, "/etc/passwd", p.data, p.len, 0644, 0, 0, err)) == 0 &&
        (r = step_write_text(ctx, what, "/etc/group", group, strlen(group), 0644, 0, 0, err)) == 0)
        r = step_write_text(ctx, what, "/etc/shadow", s.data, s.len, 0640, 0, (uint32_t)shadow_gid, err);
    if (r == 0 && gslen)
        r = step_write_text(ctx, what, "/etc/gshadow", gshadow, gslen, 0640, 0, (uint32_t)shadow_gid, err);
    buf_release(&p);
    buf_release(&s);
    if (r < 0)
        return r;

    if ((r = add_dir(ctx, what, home, 0700, (uint32_t)uid, (uint32_t)gid, err)) < 0)
        return r;
    if (u->ssh_authorized_keys.n) {
        _cleanup_free_ char *ssh = xasprintf("%s/.ssh", home);
        if ((r = add_dir(ctx, what, ssh, 0700, (uint32_t)uid, (uint32_t)gid, err)) < 0)
            return r;
        struct buf k = BUF_INIT;
        for (size_t i = 0; i < u->ssh_authorized_keys.n; i++)
            buf_addf(&k, NULL, "%s\n", u->ssh_authorized_keys.v[i]);
        _cleanup_free_ char *ak = xasprintf("%s/authorized_keys", ssh);
        r = step_write_text(ctx, what, ak, k.data, k.len, 0600, (uint32_t)uid, (uint32_t)gid, err);
        buf_release(&k);
        if (r < 0)
            return r;
    }
    return 0;
}

int step_users_run(struct build_ctx *ctx, struct kiln_err *err)
{
    for (size_t i = 0; i < ctx->recipe->n_users; i++) {
        int r = add_user(ctx, &ctx->recipe->users[i], err);
        if (r < 0)
            return r;
    }
    return 0;
}
