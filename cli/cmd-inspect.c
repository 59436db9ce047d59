/* cmd-inspect.c - kiln inspect REF [--files] [--provenance] [--json]
 *
 * Shows what the store knows about one image: its entry in index.json
 * (version, digest, channels, annotations), its manifest or index, the
 * config summary, the layers, the total size of every blob it reaches, and
 * the artifacts that refer to it (signatures, attestations).  Everything is
 * first gathered into one JSON object; --json prints that object, otherwise
 * it is rendered as text. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "images/store.h"
#include "signing/signing.h"
#include "common/banned.h"


struct sizes {
    const struct store *st;
    uint64_t total;
    uint64_t blobs;
    char files[DIGEST_STR_SIZE]; /* the first dev.kiln.files blob met, or "" */
};

static int add_size(const struct oci_desc *d, const struct oci_desc *parent, void *ud, struct kiln_err *err)
{
    (void)parent;
    (void)err;
    struct sizes *s = ud;
    s->blobs++;
    if (d->size >= 0) {
        s->total += (uint64_t)d->size;
    } else {
        _cleanup_free_ char *p = store_blob_path(s->st, d->digest);
        struct stat sb;
        if (p && stat(p, &sb) == 0)
            s->total += (uint64_t)sb.st_size;
    }
    if (!s->files[0] && !strcmp(d->media_type, KILN_MT_FILES))
        snprintf(s->files, sizeof(s->files), "%s", d->digest);
    return 0;
}

/* Reads a JSON blob (verified, capped) into a new reference. */
static int read_json_blob(const struct store *st, const char *digest, size_t limit, json_t **out,
                          struct kiln_err *err)
{
    struct buf b;
    buf_init(&b, 0);
    int r = store_blob_read(st, digest, limit, &b, err);
    if (r == 0) {
        json_error_t jerr;
        *out = json_loadb(b.data, b.len, 0, &jerr);
        if (!*out)
            r = kiln_errf(err, KILN_EINVAL, "blob '%s' is not valid JSON: %s", digest, jerr.text);
    }
    buf_release(&b);
    return r;
}

static json_t *desc_json(const struct oci_desc *d)
{
    json_t *j = oci_desc_to_json(d);
    if (d->platform_os || d->platform_arch) {
        json_object_del(j, "platform");
        json_object_set_new(j, "platform", json_sprintf("%s/%s", d->platform_os ? d->platform_os : "?",
                                                        d->platform_arch ? d->platform_arch : "?"));
    }
    return j;
}

/* The image config, summarised. */
static int config_summary(const struct store *st, const struct oci_desc *cfg, json_t *out, struct kiln_err *err)
{
    if (strcmp(cfg->media_type, OCI_MT_CONFIG) != 0)
        return 0; /* an artifact: its config is not an image config */
    json_t *c = NULL;
    int r = read_json_blob(st, cfg->digest, STORE_MANIFEST_LIMIT, &c, err);
    if (r < 0)
        return r;
    json_t *s = json_object();
    static const char *const top[] = { "architecture", "os", "created", "author" };
    for (size_t i = 0; i < ARRAY_SIZE(top); i++) {
        json_t *v = json_object_get(c, top[i]);
        if (json_is_string(v))
            json_object_set(s, top[i], v);
    }
    json_t *cc = json_object_get(c, "config");
    static const char *const keys[] = { "Entrypoint", "Cmd", "Env", "User", "WorkingDir", "Labels",
                                        "ExposedPorts", "StopSignal" };
    for (size_t i = 0; json_is_object(cc) && i < ARRAY_SIZE(keys); i++) {
        json_t *v = json_object_get(cc, keys[i]);
        if (v && !json_is_null(v))
            json_object_set(s, keys[i], v);
    }
    json_object_set_new(s, "digest", json_string(cfg->digest));
    json_object_set_new(out, "config", s);
    json_decref(c);
    return 0;
}

/* --provenance: the in-toto statements attached to the image.  They are
 * shown as stored; checking their signatures is `kiln verify`'s job. */
static int provenance(const struct store *st, struct oci_desc *refs, size_t n, json_t *out, struct kiln_err *err)
{
    json_t *arr = json_array();
    json_object_set_new(out, "provenance", arr);
    for (size_t i = 0; i < n; i++) {
        if (!refs[i].artifact_type || strcmp(refs[i].artifact_type, SIGNING_AT_PROVENANCE) != 0)
            continue;
        struct oci_manifest *m = NULL;
        int r = store_manifest_read(st, refs[i].digest, refs[i].size, &m, err);
        if (r < 0)
            return r;
        for (size_t k = 0; k < m->n_descs; k++) {
            if (strcmp(m->descs[k].media_type, SIGNING_MT_INTOTO) != 0)
                continue;
            json_t *stmt = NULL;
            if ((r = read_json_blob(st, m->descs[k].digest, STORE_MANIFEST_LIMIT, &stmt, err)) < 0) {
                oci_manifest_free(m);
                return r;
            }
            json_t *e = json_pack("{s:s,s:o}", "artifact", refs[i].digest, "statement", stmt);
            /* Signed provenance carries the raw signature as a second layer
             * and the signer's key ID as an annotation (signing/provenance.c). */
            json_t *kid = json_object_get(m->annotations, SIGNING_ANN_KEY_ID);
            json_object_set_new(e, "signed", json_boolean(m->n_descs == 2 && kid));
            if (kid)
                json_object_set(e, "keyId", kid);
            json_array_append_new(arr, e);
        }
        oci_manifest_free(m);
    }
    return 0;
}

static int gather(struct store *st, const char *ref, int want_files, int want_prov, json_t **out,
                  struct kiln_err *err)
{
    struct store_image *img = NULL;
    struct oci_manifest *m = NULL;
    struct oci_desc *refs = NULL;
    size_t nrefs = 0;
    json_t *o = NULL;
    int r = store_resolve(st, ref, &img, err);
    if (r < 0)
        return r;
    if ((r = store_manifest_read(st, img->digest, (int64_t)img->size, &m, err)) < 0)
        goto out;
    o = json_object();
    json_object_set_new(o, "ref", json_sprintf("%s:%s", img->name, img->version));
    json_object_set_new(o, "name", json_string(img->name));
    json_object_set_new(o, "version", json_string(img->version));
    json_object_set_new(o, "digest", json_string(img->digest));
    json_object_set_new(o, "mediaType", json_string(m->media_type));
    json_object_set_new(o, "size", json_integer((json_int_t)img->size));
    if (img->created)
        json_object_set_new(o, "created", json_string(img->created));
    if (img->recipe_digest)
        json_object_set_new(o, "recipeDigest", json_string(img->recipe_digest));
    if (m->artifact_type)
        json_object_set_new(o, "artifactType", json_string(m->artifact_type));
    json_t *ch = json_array();
    for (char **c = img->channels; c && *c; c++)
        json_array_append_new(ch, json_string(*c));
    json_object_set_new(o, "channels", ch);
    json_object_set(o, "annotations", img->annotations ? img->annotations : json_object());
    json_object_set_new(o, "manifestAnnotations", m->annotations ? json_incref(m->annotations) : json_object());
    json_object_set(o, "manifest", m->json);

    json_t *descs = json_array();
    for (size_t i = 0; i < m->n_descs; i++)
        json_array_append_new(descs, desc_json(&m->descs[i]));
    json_object_set_new(o, m->kind == OCI_KIND_MANIFEST ? "layers" : "manifests", descs);
    if (m->kind == OCI_KIND_MANIFEST && (r = config_summary(st, &m->config, o, err)) < 0)
        goto out;

    struct sizes sz = { .st = st };
    struct oci_desc root = { .media_type = m->media_type, .digest = img->digest, .size = (int64_t)img->size };
    if ((r = store_walk(st, &root, 0, add_size, &sz, err)) < 0)
        goto out;
    json_object_set_new(o, "totalSize", json_integer((json_int_t)sz.total));
    json_object_set_new(o, "blobs", json_integer((json_int_t)sz.blobs));
    if (sz.files[0])
        json_object_set_new(o, "filesDigest", json_string(sz.files));

    if ((r = store_referrers(st, img->digest, NULL, &refs, &nrefs, err)) < 0)
        goto out;
    json_t *ra = json_array();
    for (size_t i = 0; i < nrefs; i++)
        json_array_append_new(ra, desc_json(&refs[i]));
    json_object_set_new(o, "referrers", ra);

    if (want_files) {
        json_t *f = NULL;
        struct oci_desc top = { .media_type = m->media_type, .digest = img->digest, .size = (int64_t)img->size };
        if ((r = oci_layout_image_files(store_layout(st), &top, &f, err)) < 0) {
            kiln_err_prefix(err, "image '%s:%s'", img->name, img->version);
            goto out;
        }
        if (!f) {
            r = kiln_errf(err, KILN_ENOTFOUND, "image '%s:%s' has no file manifest", img->name, img->version);
            goto out;
        }
        json_object_set(o, "files", json_object_get(f, "files"));
        json_decref(f);
    }
    /* --provenance: the signing area's attestations; see signing/signing.h. */
    if (want_prov && (r = provenance(st, refs, nrefs, o, err)) < 0)
        goto out;
    *out = TAKE_PTR(o);
    r = 0;
out:
    json_decref(o);
    oci_desc_list_free(refs, nrefs);
    oci_manifest_free(m);
    store_image_free(img);
    return r;
}

static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "-";
}

static void print_value(const char *label, json_t *v)
{
    if (!v)
        return;
    _cleanup_free_ char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    printf("  %-12s %s\n", label, s ? s : "");
}

static void print_descs(const char *title, json_t *arr)
{
    if (!json_array_size(arr))
        return;
    printf("%s:\n", title);
    size_t i;
    json_t *d;
    json_array_foreach(arr, i, d) {
        printf("  %s  %10lld  %s", str(d, "digest"), (long long)json_integer_value(json_object_get(d, "size")),
               str(d, "mediaType"));
        if (json_object_get(d, "platform"))
            printf("  %s", str(d, "platform"));
        if (json_object_get(d, "artifactType"))
            printf("  %s", str(d, "artifactType"));
        putchar('\n');
    }
}

static void print_file(json_t *f)
{
    const char *type = str(f, "type");
    printf("%-8s %s %5lld:%-5lld %10lld  %s", type, str(f, "mode"),
           (long long)json_integer_value(json_object_get(f, "uid")),
           (long long)json_integer_value(json_object_get(f, "gid")),
           (long long)json_integer_value(json_object_get(f, "size")), str(f, "path"));
    if (json_object_get(f, "target"))
        printf(" -> %s", str(f, "target"));
    if (json_object_get(f, "major"))
        printf(" (%lld, %lld)", (long long)json_integer_value(json_object_get(f, "major")),
               (long long)json_integer_value(json_object_get(f, "minor")));
    putchar('\n');
}

static void print_text(json_t *o)
{
    printf("%s\n", str(o, "ref"));
    printf("  %-12s %s\n", "digest:", str(o, "digest"));
    printf("  %-12s %s\n", "media type:", str(o, "mediaType"));
    if (json_object_get(o, "artifactType"))
        printf("  %-12s %s\n", "artifact:", str(o, "artifactType"));
    printf("  %-12s %s\n", "created:", str(o, "created"));
    printf("  %-12s %s\n", "recipe:", str(o, "recipeDigest"));
    printf("  %-12s", "channels:");
    json_t *ch = json_object_get(o, "channels");
    if (!json_array_size(ch))
        printf(" -");
    for (size_t i = 0; i < json_array_size(ch); i++)
        printf("%s%s", i ? ", " : " ", json_string_value(json_array_get(ch, i)));
    putchar('\n');
    printf("  %-12s %lld bytes in %lld blobs\n", "size:", (long long)json_integer_value(json_object_get(o, "totalSize")),
           (long long)json_integer_value(json_object_get(o, "blobs")));
    if (json_object_get(o, "filesDigest"))
        printf("  %-12s %s (kiln inspect --files)\n", "files:", str(o, "filesDigest"));
    json_t *cfg = json_object_get(o, "config");
    if (cfg) {
        printf("config:\n");
        printf("  %-12s %s/%s\n", "platform:", str(cfg, "os"), str(cfg, "architecture"));
        static const char *const keys[][2] = { { "Entrypoint", "entrypoint:" }, { "Cmd", "cmd:" },
                                               { "User", "user:" }, { "WorkingDir", "workdir:" },
                                               { "Env", "env:" }, { "Labels", "labels:" },
                                               { "ExposedPorts", "ports:" } };
        for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
            print_value(keys[i][1], json_object_get(cfg, keys[i][0]));
    }
    print_descs("layers", json_object_get(o, "layers"));
    print_descs("manifests", json_object_get(o, "manifests"));
    json_t *ann = json_object_get(o, "annotations");
    if (json_object_size(ann)) {
        printf("annotations:\n");
        const char *k;
        json_t *v;
        json_object_foreach(ann, k, v)
            printf("  %s=%s\n", k, json_string_value(v));
    }
    json_t *mann = json_object_get(o, "manifestAnnotations");
    if (json_object_size(mann)) {
        printf("manifest annotations:\n");
        const char *k;
        json_t *v;
        json_object_foreach(mann, k, v)
            printf("  %s=%s\n", k, json_string_value(v));
    }
    print_descs("referrers", json_object_get(o, "referrers"));
    json_t *prov = json_object_get(o, "provenance");
    if (prov) {
        printf("provenance:\n");
        if (!json_array_size(prov))
            printf("  (none)\n");
        size_t i;
        json_t *p;
        json_array_foreach(prov, i, p) {
            _cleanup_free_ char *s = json_dumps(json_object_get(p, "statement"), JSON_INDENT(2) | JSON_SORT_KEYS);
            printf("  from %s (%s%s):\n%s\n", str(p, "artifact"),
                   json_is_true(json_object_get(p, "signed")) ? "signed by " : "unsigned",
                   json_is_true(json_object_get(p, "signed")) ? str(p, "keyId") : "", s ? s : "");
        }
    }
    json_t *files = json_object_get(o, "files");
    if (files) {
        printf("files:\n");
        size_t i;
        json_t *f;
        json_array_foreach(files, i, f)
            print_file(f);
    }
}

CLI_COMMAND(inspect)
{
    static const struct option opts[] = {
        { "files", no_argument, NULL, 'f' },
        { "provenance", no_argument, NULL, 'p' },
        CLI_COMMON_LONGOPTS,
        { 0 },
    };
    int want_files = 0, want_prov = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'f') {
            want_files = 1;
            continue;
        }
        if (c == 'p') {
            want_prov = 1;
            continue;
        }
        int h = cli_common_opt(ctx, "inspect", c, optarg);
        if (h < 0)
            return 0;
        if (!h)
            return cli_usage_error("inspect", "unknown option");
    }
    if (optind + 1 != argc)
        return cli_usage_error("inspect", "inspect takes exactly one REF");
    _cleanup_free_ char *dir = cli_store_path(ctx);
    struct kiln_err err = KILN_ERR_INIT;
    struct store *st = NULL;
    json_t *o = NULL;
    int r = store_open(dir, 0, &st, &err);
    if (r == 0)
        r = gather(st, argv[optind], want_files, want_prov, &o, &err);
    store_close(st);
    if (r < 0)
        return cli_fail(&err);
    if (ctx->json) {
        cli_print_json(o);
    } else {
        print_text(o);
        json_decref(o);
    }
    return 0;
}
