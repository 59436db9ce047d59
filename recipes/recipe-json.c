/* recipe-json.c - the normalised recipe as JSON, defaults filled in. */
#include "recipes/recipe.h"

#include <stdio.h>

#include "common/common.h"
#include "common/banned.h"

static json_t *strv_json(const struct strv *sv)
{
    json_t *a = json_array();
    for (size_t i = 0; i < sv->n; i++)
        json_array_append_new(a, json_string(sv->v[i]));
    return a;
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *mode_json(unsigned mode)
{
    char m[8];
    snprintf(m, sizeof(m), "0%03o", mode);
    return json_string(m);
}

static const char *const base_names[] = { "scratch", "tarball", "directory", "oci", "debian", "disk" };

json_t *recipe_to_json(const struct recipe *r)
{
    json_t *j = json_object();
    json_object_set_new(j, "schema", json_integer(1));
    json_object_set_new(j, "path", json_string(r->path));
    json_object_set_new(j, "sha256", json_string(r->sha256));
    json_object_set_new(j, "name", json_string(r->name));
    json_object_set_new(j, "version", json_string(r->version));
    json_object_set_new(j, "description", str_or_null(r->description));
    json_t *labels = json_object();
    for (size_t i = 0; i < r->n_labels; i++)
        json_object_set_new(labels, r->labels[i].key, json_string(r->labels[i].value));
    json_object_set_new(j, "labels", labels);

    const struct recipe_base *b = &r->base;
    json_t *base = json_object();
    json_object_set_new(base, "kind", json_string(base_names[b->kind]));
    switch (b->kind) {
    case BASE_SCRATCH:
        break;
    case BASE_TARBALL:
    case BASE_DISK:
        json_object_set_new(base, "path", json_string(b->path));
        json_object_set_new(base, "sha256", b->sha256[0] ? json_string(b->sha256) : json_null());
        break;
    case BASE_DIRECTORY:
        json_object_set_new(base, "path", json_string(b->path));
        break;
    case BASE_OCI:
        json_object_set_new(base, "layout", json_string(b->path));
        json_object_set_new(base, "ref", json_string(b->ref));
        break;
    case BASE_DEBIAN:
        json_object_set_new(base, "suite", json_string(b->suite));
        json_object_set_new(base, "variant", json_string(b->variant));
        json_object_set_new(base, "mirror", json_string(b->mirror));
        json_object_set_new(base, "packages", strv_json(&b->packages));
        json_object_set_new(base, "components", strv_json(&b->components));
        json_t *suites = json_array();
        for (size_t i = 0; i < b->n_suites; i++)
            json_array_append_new(suites, json_pack("{s:s,s:o}", "suite", b->suites[i].suite, "mirror",
                                                    b->suites[i].mirror ? json_string(b->suites[i].mirror)
                                                                        : json_null()));
        json_object_set_new(base, "suites", suites);
        json_object_set_new(base, "snapshot", b->snapshot ? json_string(b->snapshot) : json_null());
        json_object_set_new(base, "keyring", b->keyring ? json_string(b->keyring) : json_null());
        break;
    }
    json_object_set_new(j, "base", base);
    json_object_set_new(j, "packages", strv_json(&r->packages));

    json_t *files = json_array();
    for (size_t i = 0; i < r->n_files; i++) {
        const struct recipe_file *f = &r->files[i];
        json_t *o = json_object();
        json_object_set_new(o, "dest", json_string(f->dest));
        if (f->src)
            json_object_set_new(o, "src", json_string(f->src));
        else if (f->link)
            json_object_set_new(o, "link", json_string(f->link));
        else
            json_object_set_new(o, "content", json_stringn(f->content, f->content_len));
        if (!f->link)
            json_object_set_new(o, "mode", mode_json(f->mode));
        json_object_set_new(o, "owner", json_string(f->owner ? f->owner : "root"));
        json_object_set_new(o, "after_run", json_boolean(f->after_run));
        json_array_append_new(files, o);
    }
    json_object_set_new(j, "files", files);

    json_t *users = json_array();
    for (size_t i = 0; i < r->n_users; i++) {
        const struct recipe_user *u = &r->users[i];
        json_array_append_new(users, json_pack("{s:s, s:o, s:o, s:s, s:o}", "name", u->name,
                                               "uid", u->uid >= 0 ? json_integer(u->uid) : json_null(),
                                               "groups", strv_json(&u->groups),
                                               "shell", u->shell ? u->shell : "/bin/sh",
                                               "ssh_authorized_keys", strv_json(&u->ssh_authorized_keys)));
    }
    json_object_set_new(j, "users", users);
    json_object_set_new(j, "hostname", str_or_null(r->hostname));
    json_object_set_new(j, "services", json_pack("{s:o, s:o}", "enable", strv_json(&r->services_enable),
                                                 "disable", strv_json(&r->services_disable)));
    json_t *run = json_array();
    for (size_t i = 0; i < r->n_run; i++)
        json_array_append_new(run, json_pack("{s:s, s:I}", "command", r->run[i].command, "timeout",
                                             (json_int_t)r->run[i].timeout));
    json_object_set_new(j, "run", run);
    json_object_set_new(j, "sysprep", json_boolean(r->sysprep));
    json_object_set_new(j, "cloud_init", json_boolean(r->cloud_init));

    if (r->has_container) {
        const struct recipe_container *c = &r->container;
        json_t *env = json_object();
        for (size_t i = 0; i < c->n_env; i++)
            json_object_set_new(env, c->env[i].key, json_string(c->env[i].value));
        json_object_set_new(j, "container", json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}",
                                                      "entrypoint", strv_json(&c->entrypoint),
                                                      "cmd", strv_json(&c->cmd), "env", env,
                                                      "workdir", str_or_null(c->workdir),
                                                      "user", str_or_null(c->user),
                                                      "ports", strv_json(&c->ports)));
    } else {
        json_object_set_new(j, "container", json_null());
    }

    json_t *outputs = json_array();
    for (size_t i = 0; i < r->n_outputs; i++) {
        const struct recipe_output *o = &r->outputs[i];
        json_t *x = json_object();
        json_object_set_new(x, "type", json_string(recipe_output_name(o->type)));
        if (o->type == OUTPUT_OCI)
            json_object_set_new(x, "compression", json_string(o->compression == COMPRESSION_ZSTD ? "zstd" : "gzip"));
        if (o->type == OUTPUT_QCOW2 || o->type == OUTPUT_RAW) {
            json_object_set_new(x, "size", o->size ? json_integer((json_int_t)o->size) : json_null());
            json_object_set_new(x, "partition_table",
                                json_string(o->partition_table == PARTITION_MBR ? "mbr" : "gpt"));
            json_object_set_new(x, "filesystem", json_string(o->filesystem ? o->filesystem : "ext4"));
            json_object_set_new(x, "bootable", json_boolean(o->bootable));
            json_object_set_new(x, "firmware", json_string(recipe_firmware_name(o->firmware)));
            json_object_set_new(x, "secure_boot", json_boolean(o->secure_boot));
        }
        if (o->type == OUTPUT_QCOW2)
            json_object_set_new(x, "compress", json_boolean(o->compress));
        json_array_append_new(outputs, x);
    }
    json_object_set_new(j, "outputs", outputs);
    json_object_set_new(j, "boot_test", json_pack("{s:s, s:I}", "marker", r->boot_test.marker, "timeout",
                                                  (json_int_t)r->boot_test.timeout));
    json_object_set_new(j, "drift", json_pack("{s:o}", "ignore", strv_json(&r->drift_ignore)));
    json_object_set_new(j, "needs_guest", json_boolean(recipe_needs_guest(r)));
    return j;
}

int recipe_needs_guest(const struct recipe *r)
{
    /* A debian base is bootstrapped on the host; only its sysprep needs the guest. */
    return r->n_run > 0 || r->packages.n > 0 || (r->base.kind == BASE_DEBIAN && r->sysprep) ||
           r->base.kind == BASE_DISK ||
           r->services_enable.n > 0 || r->services_disable.n > 0;
}

const struct recipe_output *recipe_first_disk(const struct recipe *r)
{
    for (size_t i = 0; i < r->n_outputs; i++)
        if (r->outputs[i].type == OUTPUT_QCOW2 || r->outputs[i].type == OUTPUT_RAW)
            return &r->outputs[i];
    return NULL;
}
