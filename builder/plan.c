/* plan.c - recipe -> ordered steps with content hashes; no I/O. */
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

static json_t *base_inputs(const struct recipe *r)
{
    const struct recipe_base *b = &r->base;
    json_t *j = json_object();
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
    return j;
}

static json_t *files_inputs(const struct recipe *r)
{
    json_t *a = json_array();
    for (size_t i = 0; i < r->n_files; i++) {
        const struct recipe_file *f = &r->files[i];
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

static json_t *guest_inputs(const struct recipe *r)
{
    json_t *o = json_object();
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

static json_t *output_inputs(const struct recipe *r, size_t i)
{
    const struct recipe_output *o = &r->outputs[i];
    json_t *j = json_object();
    json_object_set_new(j, "type", json_string(recipe_output_name(o->type)));
    if (o->type == OUTPUT_OCI) {
        json_object_set_new(j, "compression", json_string(o->compression == COMPRESSION_ZSTD ? "zstd" : "gzip"));
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
        json_t *labels = json_object();
        for (size_t l = 0; l < r->n_labels; l++)
            json_object_set_new(labels, r->labels[l].key, json_string(r->labels[l].value));
        json_object_set_new(c, "labels", labels);
        json_object_set_new(j, "config", c);
    } else {
        json_object_set_new(j, "size", json_integer((json_int_t)o->size));
        json_object_set_new(j, "filesystem", jstr(o->filesystem));
        json_object_set_new(j, "bootable", json_boolean(o->bootable));
        json_object_set_new(j, "compress", json_boolean(o->compress));
        json_object_set_new(j, "partition_table", json_string(o->partition_table == PARTITION_MBR ? "mbr" : "gpt"));
    }
    return j;
}

static void add_step(struct build_plan *p, enum plan_step_kind kind, size_t index, json_t *inputs)
{
    p->steps = xrealloc(p->steps, (p->n + 1) * sizeof(*p->steps));
    struct plan_step *s = &p->steps[p->n];
    s->kind = kind;
    s->index = index;
    s->inputs = inputs;
    char *dump = json_dumps(inputs, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    struct hash_ctx *h = hash_new();
    if (!h || !dump)
        abort();
    const char *prev = p->n ? p->steps[p->n - 1].hash : "";
    hash_update(h, prev, strlen(prev));
    hash_update(h, "\n", 1);
    hash_update(h, plan_step_name(kind), strlen(plan_step_name(kind)));
    hash_update(h, "\n", 1);
    hash_update(h, dump, strlen(dump));
    hash_final_hex(h, s->hash);
    hash_free(h);
    free(dump);
    memcpy(p->hash, s->hash, sizeof(p->hash));
    p->n++;
}

int plan_make(const struct recipe *r, struct build_plan **out, struct kiln_err *err)
{
    if (r->n_outputs == 0)
        return kiln_errf(err, KILN_EINVAL, "recipe '%s': no outputs", r->name);
    struct build_plan *p = xcalloc(1, sizeof(*p));
    add_step(p, PLAN_BASE, 0, base_inputs(r));
    if (r->n_files)
        add_step(p, PLAN_FILES, 0, files_inputs(r));
    if (r->n_users)
        add_step(p, PLAN_USERS, 0, users_inputs(r));
    if (r->hostname)
        add_step(p, PLAN_HOSTNAME, 0, json_string(r->hostname));
    json_t *owners = json_array();
    for (size_t i = 0; i < r->n_files; i++)
        if (r->files[i].owner)
            json_array_append_new(owners, json_pack("[ss]", r->files[i].dest, r->files[i].owner));
    if (json_array_size(owners))
        add_step(p, PLAN_OWNERS, 0, owners);
    else
        json_decref(owners);
    p->needs_guest = recipe_needs_guest(r);
    for (size_t i = 0; i < r->n_outputs; i++)
        if (r->outputs[i].type == OUTPUT_QCOW2 || r->outputs[i].type == OUTPUT_RAW)
            p->needs_guest = 1; /* disks are laid out by the guest stage */
    if (p->needs_guest)
        add_step(p, PLAN_GUEST, 0, guest_inputs(r));
    for (size_t i = 0; i < r->n_outputs; i++)
        add_step(p, PLAN_OUTPUT, i, output_inputs(r, i));
    *out = p;
    return 0;
}

void plan_free(struct build_plan *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        json_decref(p->steps[i].inputs);
    free(p->steps);
    free(p);
}
