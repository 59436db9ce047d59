/* diff.c - compare two file manifests path by path. */
#include "images/diff.h"

#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "common/text.h"
#include "tree/tree.h"
#include "common/banned.h"

/* A manifest entry and its exact path (owned). */
struct entry {
    json_t *j;
    char *path;
};

static int cmp_entry(const void *x, const void *y)
{
    return strcmp(((const struct entry *)x)->path, ((const struct entry *)y)->path);
}

static void free_entries(struct entry *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i].path);
    free(v);
}

/* The entries of manifest m sorted by path (borrowed references in *out). */
static int sorted_entries(json_t *m, const char *which, struct entry **out, size_t *n,
                          struct kiln_err *err)
{
    json_t *files = json_object_get(m, "files");
    if (!json_is_array(files))
        return kiln_errf(err, KILN_EINVAL, "%s file manifest has no \"files\" array", which);
    size_t count = json_array_size(files);
    if (count > DIFF_MAX_FILES)
        return kiln_errf(err, KILN_EINVAL, "%s file manifest has more than %u entries", which,
                         DIFF_MAX_FILES);
    struct entry *v = xcalloc(count ? count : 1, sizeof(*v));
    for (size_t i = 0; i < count; i++) {
        v[i].j = json_array_get(files, i);
        if (!json_is_object(v[i].j) || !(v[i].path = tree_json_get_name(v[i].j, "path"))) {
            free_entries(v, count);
            return kiln_errf(err, KILN_EINVAL, "%s file manifest: entry %zu has no path", which,
                             i + 1);
        }
    }
    qsort(v, count, sizeof(*v), cmp_entry);
    for (size_t i = 1; i < count; i++)
        if (strcmp(v[i - 1].path, v[i].path) == 0) {
            _cleanup_free_ char *text = utf8_lossy(v[i].path);
            int r = kiln_errf(err, KILN_EINVAL, "%s file manifest lists '%s' twice", which, text);
            free_entries(v, count);
            return r;
        }
    *out = v;
    *n = count;
    return 0;
}

static int differs(json_t *a, json_t *b, const char *key)
{
    json_t *x = json_object_get(a, key), *y = json_object_get(b, key);
    if (!x || !y)
        return x != y;
    return !json_equal(x, y);
}

static unsigned compare(json_t *a, json_t *b)
{
    unsigned f = 0;
    if (differs(a, b, "type"))
        f |= DIFF_TYPE;
    if (differs(a, b, "sha256") || differs(a, b, "size"))
        f |= DIFF_CONTENT;
    if (differs(a, b, "mode"))
        f |= DIFF_MODE;
    if (differs(a, b, "uid") || differs(a, b, "gid"))
        f |= DIFF_OWNER;
    if (differs(a, b, "target") || differs(a, b, "targetHex"))
        f |= DIFF_TARGET;
    if (differs(a, b, "major") || differs(a, b, "minor"))
        f |= DIFF_DEVICE;
    return f;
}

static void push(struct diff *d, size_t *cap, char op, const char *path, unsigned fields)
{
    if (d->n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        d->v = xrealloc(d->v, *cap * sizeof(*d->v));
    }
    d->v[d->n++] = (struct diff_entry){ op, xstrdup(path), fields };
    if (op == '+')
        d->added++;
    else if (op == '-')
        d->removed++;
    else
        d->changed++;
}

int diff_files(json_t *a, json_t *b, struct diff *d, struct kiln_err *err)
{
    memset(d, 0, sizeof(*d));
    struct entry *va = NULL, *vb = NULL;
    size_t na = 0, nb = 0, cap = 0;
    int r = sorted_entries(a, "the first", &va, &na, err);
    if (r == 0)
        r = sorted_entries(b, "the second", &vb, &nb, err);
    size_t i = 0, k = 0;
    while (r == 0 && (i < na || k < nb)) {
        int c = i == na ? 1 : k == nb ? -1 : strcmp(va[i].path, vb[k].path);
        if (c < 0) {
            push(d, &cap, '-', va[i++].path, 0);
        } else if (c > 0) {
            push(d, &cap, '+', vb[k++].path, 0);
        } else {
            unsigned f = compare(va[i].j, vb[k].j);
            if (f)
                push(d, &cap, '~', va[i].path, f);
            i++;
            k++;
        }
    }
    free_entries(va, na);
    free_entries(vb, nb);
    return r;
}

void diff_release(struct diff *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->v[i].path);
    free(d->v);
    memset(d, 0, sizeof(*d));
}

size_t diff_field_names(unsigned bits, const char *names[6])
{
    static const struct {
        unsigned bit;
        const char *name;
    } table[] = {
        { DIFF_TYPE, "type" },     { DIFF_CONTENT, "content" }, { DIFF_MODE, "mode" },
        { DIFF_OWNER, "owner" },   { DIFF_TARGET, "target" },   { DIFF_DEVICE, "device" },
    };
    size_t n = 0;
    for (size_t i = 0; i < ARRAY_SIZE(table); i++)
        if (bits & table[i].bit)
            names[n++] = table[i].name;
    return n;
}

json_t *diff_to_json(const struct diff *d)
{
    json_t *added = json_array(), *removed = json_array(), *changed = json_array();
    for (size_t i = 0; i < d->n; i++) {
        const struct diff_entry *e = &d->v[i];
        if (e->op == '+' || e->op == '-') {
            /* a path that is not UTF-8 as text (its bytes are in the file manifests) */
            _cleanup_free_ char *text = utf8_lossy(e->path);
            json_array_append_new(e->op == '+' ? added : removed, json_string(text));
        } else {
            const char *names[6];
            size_t n = diff_field_names(e->fields, names);
            json_t *fields = json_array();
            for (size_t k = 0; k < n; k++)
                json_array_append_new(fields, json_string(names[k]));
            json_t *c = json_object();
            tree_json_set_name(c, "path", e->path);
            json_object_set_new(c, "fields", fields);
            json_array_append_new(changed, c);
        }
    }
    return json_pack("{s:o,s:o,s:o}", "added", added, "removed", removed, "changed", changed);
}
