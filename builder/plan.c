/* plan.c - recipe -> ordered steps, each with the key of what can change its result; no I/O. */
#include "builder/plan.h"

#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "common/banned.h"

const char *plan_step_name(enum plan_step_kind k)
{
    switch (k) {
    case PLAN_BASE: return "base";
    case PLAN_FILES: return "files";
    case PLAN_USERS: return "users";
    case PLAN_HOSTNAME: return "hostname";
    case PLAN_OWNERS: return "owners";
    case PLAN_GUEST: return "guest";
    case PLAN_FILES_LATE: return "files-after-run";
    case PLAN_DISK: return "disk";
    case PLAN_OUTPUT: return "output";
    }
    return "unknown";
}

static json_t *jstr(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *jstrv(const struct strv *v)
{
    json_t *a = json_array();
    for (size_t i = 0; i < v->n; i++)
        json_array_append_new(a, json_string(v->v[i]));
    return a;
}

static const char *base_kind_name(enum recipe_base_kind k)
{
    switch (k) {
    case BASE_SCRATCH: return "scratch";
    case BASE_TARBALL: return "tarball";
    case BASE_DIRECTORY: return "directory";
    case BASE_OCI: return "oci";
    case BASE_DEBIAN: return "debian";
    case BASE_DISK: return "disk";
    }
    return "unknown";
}

static json_t *base_inputs(const struct recipe *r, const struct plan_opts *po)
{
    const struct recipe_base *b = &r->base;
    json_t *j = json_object();
    /* SOURCE_DATE_EPOCH is every entry's mtime clamp from the base on. */
    if (po->has_source_date_epoch)
        json_object_set_new(j, "source_date_epoch", json_integer((json_int_t)po->source_date_epoch));
    json_object_set_new(j, "kind", json_string(base_kind_name(b->kind)));
    if (b->path)
        json_object_set_new(j, "path", json_string(b->path));
    if (b->sha256[0])
        json_object_set_new(j, "sha256", json_string(b->sha256));
    if (b->ref)
        json_object_set_new(j, "ref", json_string(b->ref));
    if (b->suite)
        json_object_set_new(j, "suite", json_string(b->suite));
    if (b->variant)
        json_object_set_new(j, "variant", json_string(b->variant));
    if (b->mirror)
        json_object_set_new(j, "mirror", json_string(b->mirror));
    json_object_set_new(j, "packages", jstrv(&b->packages));
    if (b->kind == BASE_DEBIAN) {
        json_object_set_new(j, "components", jstrv(&b->components));
        json_t *suites = json_array();
        for (size_t i = 0; i < b->n_suites; i++)
            json_array_append_new(suites, json_pack("[so]", b->suites[i].suite, jstr(b->suites[i].mirror)));
        json_object_set_new(j, "suites", suites);
        json_object_set_new(j, "snapshot", jstr(b->snapshot));
    }
    return j;
}

/* The files written before the guest stage (late 0) or after it (late 1). */
static json_t *files_inputs(const struct recipe *r, int late)
{
    json_t *a = json_array();
    for (size_t i = 0; i < r->n_files; i++) {
        const struct recipe_file *f = &r->files[i];
        if (f->after_run != late)
            continue;
        json_t *o = json_object();
        json_object_set_new(o, "dest", json_string(f->dest));
        if (f->src)
            json_object_set_new(o, "src", json_string(f->src));
        if (f->link)
            json_object_set_new(o, "link", json_string(f->link));
        if (f->content) {
            char hex[HASH_HEX_LEN + 1];
            hash_sha256_hex(f->content, f->content_len, hex);
            json_object_set_new(o, "content_sha256", json_string(hex));
        }
        json_object_set_new(o, "mode", f->has_mode ? json_integer(f->mode) : json_null());
        json_object_set_new(o, "owner", jstr(f->owner));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *users_inputs(const struct recipe *r)
{
    json_t *a = json_array();
    for (size_t i = 0; i < r->n_users; i++) {
        const struct recipe_user *u = &r->users[i];
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(u->name));
        json_object_set_new(o, "uid", json_integer(u->uid));
        json_object_set_new(o, "groups", jstrv(&u->groups));
        json_object_set_new(o, "shell", jstr(u->shell));
        json_object_set_new(o, "ssh_authorized_keys", jstrv(&u->ssh_authorized_keys));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *disk_layout(const struct recipe_output *o)
{
    json_t *j = json_pack("{s:I,s:o,s:b,s:s}", "size", (json_int_t)o->size, "filesystem", jstr(o->filesystem),
                          "bootable", o->bootable, "partition_table",
                          o->partition_table == PARTITION_MBR ? "mbr" : "gpt");
    if (o->bootable) {
        json_object_set_new(j, "firmware", json_string(recipe_firmware_name(o->firmware)));
        json_object_set_new(j, "secure_boot", json_boolean(o->secure_boot));
    }
    return j;
}


/* The disk the guest stage or the disk step lays out: the first disk
 * output's layout, and the recipe's digest, which the root filesystem's
 * UUID derives from. */
static void disk_inputs(const struct recipe *r, json_t *o)
{
    json_object_set_new(o, "disk", disk_layout(recipe_first_disk(r)));
    json_object_set_new(o, "recipe_sha256", json_string(r->sha256));
}

/* with_disk: the guest stage lays the disk out too (no disk step). */
static json_t *guest_inputs(const struct recipe *r, int with_disk)
{
    json_t *o = json_object();
    if (with_disk)
        disk_inputs(r, o);
    json_object_set_new(o, "packages", jstrv(&r->packages));
    json_t *runs = json_array();
    for (size_t i = 0; i < r->n_run; i++) {
        json_t *x = json_object();
        json_object_set_new(x, "command", json_string(r->run[i].command));
        json_object_set_new(x, "timeout", json_integer(r->run[i].timeout));
        json_array_append_new(runs, x);
    }
    json_object_set_new(o, "run", runs);
    json_object_set_new(o, "services_enable", jstrv(&r->services_enable));
    json_object_set_new(o, "services_disable", jstrv(&r->services_disable));
    json_object_set_new(o, "sysprep", json_boolean(r->sysprep));
    return o;
}

static json_t *output_inputs(const struct recipe *r, size_t i, const struct plan_opts *po)
{
    const struct recipe_output *o = &r->outputs[i];
    json_t *j = json_object();
    json_object_set_new(j, "type", json_string(recipe_output_name(o->type)));
    /* What every output's manifest says of the image (output_annotations()). */
    json_t *labels = json_object();
    for (size_t l = 0; l < r->n_labels; l++)
        json_object_set_new(labels, r->labels[l].key, json_string(r->labels[l].value));
    json_object_set_new(j, "image", json_pack("{s:s,s:s,s:o,s:o}", "name", r->name, "version", r->version,
                                              "description", jstr(r->description), "labels", labels));
    if (r->drift_ignore.n)
        json_object_set_new(j, "drift_ignore", jstrv(&r->drift_ignore));
    if (o->type == OUTPUT_OCI) {
        enum recipe_compression comp = po->has_compression ? po->compression : o->compression;
        json_object_set_new(j, "compression", json_string(comp == COMPRESSION_ZSTD ? "zstd" : "gzip"));
        /* The image config is part of the OCI output. */
        json_t *c = json_object();
        const struct recipe_container *k = &r->container;
        json_object_set_new(c, "entrypoint", jstrv(&k->entrypoint));
        json_object_set_new(c, "cmd", jstrv(&k->cmd));
        json_t *env = json_array();
        for (size_t e = 0; e < k->n_env; e++)
            json_array_append_new(env, json_pack("[ss]", k->env[e].key, k->env[e].value));
        json_object_set_new(c, "env", env);
        json_object_set_new(c, "workdir", jstr(k->workdir));
        json_object_set_new(c, "user", jstr(k->user));
        json_object_set_new(c, "ports", jstrv(&k->ports));
        json_object_set_new(j, "config", c);
    } else if (o->type != OUTPUT_TAR) {
        json_object_set_new(j, "disk", disk_layout(o));
        json_object_set_new(j, "compress", json_boolean(o->compress));
        json_object_set_new(j, "boot_test", json_pack("{s:o,s:I}", "marker", jstr(r->boot_test.marker),
                                                      "timeout", (json_int_t)r->boot_test.timeout));
    }
    return j;
}

/* The step whose result step i starts from: the one before it, except that
 * outputs all start from the last step that changed the tree (they are
 * siblings: one output's options never change another's result). */
static const struct plan_step *prev_step(const struct build_plan *p, size_t i)
{
    while (i > 0 && p->steps[i - 1].kind == PLAN_OUTPUT && p->steps[i].kind == PLAN_OUTPUT)
        i--;
    return i ? &p->steps[i - 1] : NULL;
}

/* The key of step i from the previous key; "" while an input is missing. */
static void step_key(struct build_plan *p, size_t i)
{
    struct plan_step *s = &p->steps[i];
    const struct plan_step *ps = prev_step(p, i);
    const char *prev = ps ? ps->key : "";
    s->key[0] = '\0';
    if ((ps && !prev[0]) || (s->has_inputs && !s->digests))
        return;
    _cleanup_free_ char *section = json_dumps(s->section, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    _cleanup_free_ char *digests = s->digests ? json_dumps(s->digests, JSON_COMPACT) : xstrdup("[]");
    if (!section || !digests)
        abort();
    _cleanup_free_ char *text = xasprintf("kiln-step-v1\n%s\n%s\n%s\n%s\n%s\n", KILN_VERSION, prev,
                                          plan_step_name(s->kind), section, digests);
    hash_sha256_hex(text, strlen(text), s->key);
}

/* Computes the keys from step i on, and the plan's key: the hash of every
 * output's key, in order ("" while one is not known). */
static void keys_from(struct build_plan *p, size_t i)
{
    for (; i < p->n; i++)
        step_key(p, i);
    p->key[0] = '\0';
    struct hash_ctx *h = hash_new();
    if (!h)
        abort();
    hash_update(h, "kiln-plan-v1\n", 13);
    for (size_t k = 0; k < p->n; k++) {
        if (p->steps[k].kind != PLAN_OUTPUT)
            continue;
        if (!p->steps[k].key[0]) {
            hash_free(h);
            return;
        }
        hash_update(h, p->steps[k].key, HASH_HEX_LEN);
        hash_update(h, "\n", 1);
    }
    hash_final_hex(h, p->key);
    hash_free(h);
}

static void add_step(struct build_plan *p, enum plan_step_kind kind, size_t index, int has_inputs,
                     json_t *section)
{
    p->steps = xrealloc(p->steps, (p->n + 1) * sizeof(*p->steps));
    p->steps[p->n++] = (struct plan_step){ .kind = kind, .index = index, .section = section,
                                           .has_inputs = has_inputs };
}

int plan_complete_step(struct build_plan *p, size_t i, const char *const *sha256, size_t n,
                       struct kiln_err *err)
{
    if (i >= p->n)
        return kiln_errf(err, KILN_EFAIL, "plan: no step %zu", i + 1);
    const struct plan_step *ps = prev_step(p, i);
    if (ps && !ps->key[0])
        return kiln_errf(err, KILN_EFAIL, "plan: step %zu (%s) completed before step %zu", i + 1,
                         plan_step_name(p->steps[i].kind), (size_t)(ps - p->steps) + 1);
    json_t *d = json_array();
    for (size_t k = 0; k < n; k++)
        json_array_append_new(d, json_string(sha256[k]));
    json_decref(p->steps[i].digests);
    p->steps[i].digests = d;
    keys_from(p, i);
    return 0;
}

int plan_has(const struct build_plan *p, enum plan_step_kind kind)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->steps[i].kind == kind)
            return 1;
    return 0;
}

json_t *plan_keys_json(const struct build_plan *p)
{
    json_t *a = json_array();
    for (size_t i = 0; i < p->n; i++) {
        const struct plan_step *s = &p->steps[i];
        json_t *o = json_pack("{s:s,s:s}", "step", plan_step_name(s->kind), "key", s->key);
        json_array_append_new(a, o);
    }
    return a;
}

int plan_make(const struct recipe *r, const struct plan_opts *opts, struct build_plan **out,
              struct kiln_err *err)
{
    static const struct plan_opts none = { 0 };
    const struct plan_opts *po = opts ? opts : &none;
    if (r->n_outputs == 0)
        return kiln_errf(err, KILN_EINVAL, "recipe '%s': no outputs", r->name);
    struct build_plan *p = xcalloc(1, sizeof(*p));
    add_step(p, PLAN_BASE, 0, r->base.kind != BASE_SCRATCH, base_inputs(r, po));
    int n_late = 0, src = 0, late_src = 0;
    for (size_t i = 0; i < r->n_files; i++) {
        n_late += r->files[i].after_run;
        if (r->files[i].after_run)
            late_src |= r->files[i].src != NULL;
        else
            src |= r->files[i].src != NULL;
    }
    if (r->n_files > (size_t)n_late)
        add_step(p, PLAN_FILES, 0, src, files_inputs(r, 0));
    if (r->n_users)
        add_step(p, PLAN_USERS, 0, 0, users_inputs(r));
    if (r->hostname)
        add_step(p, PLAN_HOSTNAME, 0, 0, json_string(r->hostname));
    json_t *owners = json_array();
    for (size_t i = 0; i < r->n_files; i++)
        if (r->files[i].owner && !r->files[i].after_run)
            json_array_append_new(owners, json_pack("[ss]", r->files[i].dest, r->files[i].owner));
    if (json_array_size(owners))
        add_step(p, PLAN_OWNERS, 0, 0, owners);
    else
        json_decref(owners);
    /* Disks are laid out by the guest stage, or, when files come after it,
     * by a disk step after them. */
    int disk = recipe_first_disk(r) != NULL;
    int disk_step = n_late && disk;
    p->needs_guest = recipe_needs_guest(r) || (disk && !disk_step);
    if (p->needs_guest)
        add_step(p, PLAN_GUEST, 0, 0, guest_inputs(r, disk && !disk_step));
    if (n_late)
        add_step(p, PLAN_FILES_LATE, 0, late_src, files_inputs(r, 1));
    if (disk_step) {
        json_t *d = json_object();
        disk_inputs(r, d);
        add_step(p, PLAN_DISK, 0, 0, d);
    }
    for (size_t i = 0; i < r->n_outputs; i++)
        add_step(p, PLAN_OUTPUT, i, 0, output_inputs(r, i, po));
    keys_from(p, 0);
    *out = p;
    return 0;
}

void plan_free(struct build_plan *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        json_decref(p->steps[i].section);
        json_decref(p->steps[i].digests);
    }
    free(p->steps);
    free(p);
}
