/* rebuild.c - rebuild an image from its recorded inputs and compare, byte for byte. */
#include "builder/rebuild.h"

#include <stdio.h>
#include <string.h>

#include "common/common.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "disk/disk.h"
#include "images/diff.h"
#include "images/export.h"
#include "images/manifest.h"
#include "signing/publish.h"
#include "signing/signing.h"
#include "common/banned.h"

DEFINE_CLEANUP(struct export_source, export_source_free)

static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* The image's outputs as (artifact type or NULL, digest, disk layer): the
 * manifests of its index in order, or the manifest itself. */
struct out_desc {
    const char *digest;
    const char *disk_digest; /* the disk blob of a disk output, else NULL */
    enum disk_format disk_format;
};

static void out_descs(const struct oci_manifest *top, const char *top_digest, struct oci_manifest **parts,
                      size_t n, struct out_desc *v)
{
    for (size_t i = 0; i < n; i++) {
        v[i].digest = top->kind == OCI_KIND_INDEX ? top->descs[i].digest : top_digest;
        v[i].disk_digest = NULL;
        const struct oci_manifest *m = parts[i];
        if (m && m->n_descs == 1 && m->descs[0].media_type) {
            if (strcmp(m->descs[0].media_type, KILN_MT_QCOW2) == 0) {
                v[i].disk_digest = m->descs[0].digest;
                v[i].disk_format = DISK_FORMAT_QCOW2;
            } else if (strcmp(m->descs[0].media_type, KILN_MT_RAW) == 0) {
                v[i].disk_digest = m->descs[0].digest;
                v[i].disk_format = DISK_FORMAT_RAW;
            }
        }
    }
}

/* The top manifest or index of digest and, per output, its manifest. */
struct image_outs {
    struct oci_manifest *top;
    struct oci_manifest **parts;
    size_t n;
    struct out_desc *v;
};

static void image_outs_release(struct image_outs *o)
{
    for (size_t i = 0; i < o->n; i++)
        if (o->parts[i] != o->top)
            oci_manifest_free(o->parts[i]);
    free(o->parts);
    free(o->v);
    oci_manifest_free(o->top);
    memset(o, 0, sizeof(*o));
}

static int image_outs_read(struct store *st, const char *digest, struct image_outs *o, struct kiln_err *err)
{
    memset(o, 0, sizeof(*o));
    int r = store_manifest_read(st, digest, -1, &o->top, err);
    if (r < 0)
        return r;
    o->n = o->top->kind == OCI_KIND_INDEX ? o->top->n_descs : 1;
    o->parts = xcalloc(o->n ? o->n : 1, sizeof(*o->parts));
    o->v = xcalloc(o->n ? o->n : 1, sizeof(*o->v));
    for (size_t i = 0; i < o->n && r == 0; i++) {
        if (o->top->kind != OCI_KIND_INDEX)
            o->parts[i] = o->top;
        else if (oci_media_type_is_manifest(o->top->descs[i].media_type))
            r = store_manifest_read(st, o->top->descs[i].digest, o->top->descs[i].size, &o->parts[i], err);
    }
    if (r < 0) {
        image_outs_release(o);
        return r;
    }
    out_descs(o->top, digest, o->parts, o->n, o->v);
    return 0;
}

/* The files that differ between the two images' file manifests. */
static int files_diff(struct store *a, const char *ref_a, struct store *b, const char *ref_b, json_t **out,
                      struct kiln_err *err)
{
    _cleanup_(export_source_freep) struct export_source *sa = NULL;
    _cleanup_(export_source_freep) struct export_source *sb = NULL;
    json_auto_t *fa = NULL;
    json_auto_t *fb = NULL;
    int r = export_source_load(store_dir(a), ref_a, &sa, err);
    if (r == 0)
        r = export_source_files(sa, &fa, err);
    if (r == 0)
        r = export_source_load(store_dir(b), ref_b, &sb, err);
    if (r == 0)
        r = export_source_files(sb, &fb, err);
    struct diff d;
    if (r == 0 && (r = diff_files(fa, fb, &d, err)) == 0) {
        *out = diff_to_json(&d);
        diff_release(&d);
    }
    return r;
}

/* Compares the recorded inputs (provenance's resolvedDependencies) with the
 * rebuild's (its build record's inputs); appends those that differ. */
static void compare_inputs(json_t *recorded, json_t *rebuilt, json_t *out)
{
    size_t i, k;
    json_t *a, *b;
    json_array_foreach(recorded, i, a) {
        const char *name = jstr(a, "name"), *ha = jstr(json_object_get(a, "digest"), "sha256");
        const char *hb = NULL;
        json_array_foreach(rebuilt, k, b)
            if (name && jstr(b, "name") && strcmp(name, jstr(b, "name")) == 0)
                hb = jstr(b, "sha256");
        if (!name || (ha && hb && strcmp(ha, hb) == 0))
            continue;
        json_t *e = json_pack("{s:s}", "name", name);
        json_object_set_new(e, "recorded", ha ? json_string(ha) : json_null());
        json_object_set_new(e, "rebuilt", hb ? json_string(hb) : json_null());
        json_array_append_new(out, e);
    }
}

/* Builds r into a fresh store in dir and publishes it there as name:version. */
static int rebuild_into(const struct recipe *r, const struct build_opts *opts, const char *name,
                        const char *version, const char *dir, struct store **out, struct build_result *res,
                        struct kiln_err *err)
{
    _cleanup_free_ char *sdir = path_join(dir, "store");
    int rc = store_open(sdir, STORE_CREATE, out, err);
    if (rc < 0)
        return rc;
    if ((rc = build_run(r, *out, opts, res, err)) < 0)
        return rc;
    struct publish_ref ref = { .name = name, .version = version };
    return build_publish(res, &ref, NULL, NULL, err);
}

int rebuild_verify(struct store *st, const char *ref, const struct recipe *r, const struct build_opts *opts_in,
                   const char *dir, json_t **report, struct kiln_err *err)
{
    *report = NULL;
    struct store_image *img = NULL;
    int rc = store_resolve(st, ref, &img, err);
    if (rc < 0)
        return rc;
    const char *name = img->name ? img->name : r->name;
    const char *version = img->version ? img->version : r->version;
    _cleanup_free_ char *subject = xasprintf("%s:%s", name, version);
    json_t *prov = NULL;
    if ((rc = signing_provenance_find(st, img->digest, subject, NULL, 0, &prov, err)) < 0) {
        store_image_free(img);
        return rc;
    }
    json_t *stmt = json_object_get(prov, "statement");
    json_t *bdef = json_object_get(json_object_get(stmt, "predicate"), "buildDefinition");
    json_t *sde = json_object_get(json_object_get(bdef, "internalParameters"), "sourceDateEpoch");
    if (!json_is_integer(sde)) {
        json_decref(prov);
        rc = kiln_errf(err, KILN_EFAIL, "'%s' has no provenance recording its build time: there is nothing to rebuild from", ref);
        store_image_free(img);
        return rc;
    }
    struct build_opts opts = *opts_in;
    opts.no_cache = 1; /* a rebuild proves the recipe and inputs, not a cache entry */
    opts.shared_cache = NULL;
    opts.unchanged_ref = NULL;
    opts.has_source_date_epoch = 1;
    opts.source_date_epoch = json_integer_value(sde);
    const char *recorded_recipe =
        jstr(json_object_get(json_object_get(json_object_get(bdef, "externalParameters"), "recipe"), "digest"),
             "sha256");

    kiln_log(KILN_LOG_INFO, "rebuilding %s from %s in a scratch store (SOURCE_DATE_EPOCH=%lld)", subject, r->path,
             (long long)opts.source_date_epoch);
    struct store *scratch = NULL;
    struct build_result res;
    memset(&res, 0, sizeof(res));
    rc = rebuild_into(r, &opts, name, version, dir, &scratch, &res, err);
    if (rc < 0) {
        kiln_err_prefix(err, "the rebuild failed");
        err->code = rc = KILN_EFAIL;
        goto done;
    }

    json_t *rep = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I}", "image", ref, "name", name, "version", version, "recorded",
                            img->digest, "rebuilt", res.digest, "sourceDateEpoch",
                            (json_int_t)opts.source_date_epoch);
    int same = strcmp(img->digest, res.digest) == 0;
    json_object_set_new(rep, "identical", json_boolean(same));
    json_object_set_new(rep, "recipe", json_pack("{s:s?,s:s}", "recorded", recorded_recipe, "rebuilt", r->sha256));
    json_t *inputs = json_array();
    compare_inputs(json_object_get(bdef, "resolvedDependencies"), json_object_get(res.record, "inputs"), inputs);
    json_object_set_new(rep, "inputs", inputs);

    struct image_outs a, b;
    if ((rc = image_outs_read(st, img->digest, &a, err)) < 0) {
        json_decref(rep);
        goto done;
    }
    if ((rc = image_outs_read(scratch, res.digest, &b, err)) < 0) {
        image_outs_release(&a);
        json_decref(rep);
        goto done;
    }
    json_t *outs = json_array();
    json_object_set_new(rep, "outputs", outs);
    for (size_t i = 0; i < res.n_outputs && rc == 0; i++) {
        const char *rec = i < a.n ? a.v[i].digest : NULL;
        const char *reb = res.outputs[i].digest;
        int eq = rec && strcmp(rec, reb) == 0;
        json_t *o = json_pack("{s:s,s:s?,s:s,s:b}", "type", recipe_output_name(res.outputs[i].type), "recorded",
                              rec, "rebuilt", reb, "identical", eq);
        json_array_append_new(outs, o);
        if (eq || i >= a.n || i >= b.n || !a.v[i].disk_digest || !b.v[i].disk_digest)
            continue;
        kiln_log(KILN_LOG_INFO, "comparing the %s disks", recipe_output_name(res.outputs[i].type));
        _cleanup_free_ char *pa = store_blob_path(st, a.v[i].disk_digest);
        _cleanup_free_ char *pb = store_blob_path(scratch, b.v[i].disk_digest);
        json_t *regions = NULL;
        rc = disk_compare(pa, a.v[i].disk_format, pb, b.v[i].disk_format, dir, &regions, err);
        if (rc == 0)
            json_object_set_new(o, "disk", regions);
    }
    if (rc == 0 && a.n != res.n_outputs)
        json_object_set_new(rep, "outputCount", json_pack("{s:I,s:I}", "recorded", (json_int_t)a.n, "rebuilt",
                                                            (json_int_t)res.n_outputs));
    image_outs_release(&a);
    image_outs_release(&b);
    if (rc == 0 && !same) {
        json_t *files = NULL;
        _cleanup_free_ char *rebuilt_ref = xasprintf("%s:%s", name, version);
        rc = files_diff(st, ref, scratch, rebuilt_ref, &files, err);
        if (rc == 0)
            json_object_set_new(rep, "files", files);
    }
    if (rc < 0) {
        json_decref(rep);
        goto done;
    }
    *report = rep;
    if (!same) {
        json_t *f = json_object_get(rep, "files");
        size_t nf = json_array_size(json_object_get(f, "added")) + json_array_size(json_object_get(f, "removed")) +
                    json_array_size(json_object_get(f, "changed"));
        rc = kiln_errf(err, KILN_EVERIFY, "the rebuild of '%s' differs: recorded %s, rebuilt %s (%zu file%s differ)",
                       ref, img->digest, res.digest, nf, nf == 1 ? "" : "s");
    }
done:
    build_result_release(&res);
    store_close(scratch);
    json_decref(prov);
    store_image_free(img);
    return rc;
}

json_t *rebuild_predicate(json_t *report, int64_t now)
{
    char at[RFC3339_SIZE];
    rfc3339_format(now, at);
    json_t *outs = json_array();
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(report, "outputs"), i, o)
        json_array_append_new(outs, json_pack("{s:s?,s:{s:s}}", "type", jstr(o, "type"), "digest", "sha256",
                                              jstr(o, "rebuilt") ? jstr(o, "rebuilt") + 7 : ""));
    const char *recipe = jstr(json_object_get(report, "recipe"), "rebuilt");
    return json_pack("{s:s,s:{s:{s:s}},s:O,s:o,s:s,s:{s:s}}", "result", "identical", "recipe", "digest", "sha256",
                     recipe ? recipe : "", "sourceDateEpoch", json_object_get(report, "sourceDateEpoch"), "outputs",
                     outs, "rebuiltOn", at, "rebuilder", "kiln", KILN_VERSION);
}
