/* yaml-tree.h - a small, hostile-input-safe YAML document tree on libyaml.
 *
 * ytree_parse() turns one YAML document into a tree of scalars, mappings
 * and sequences with their positions.  It accepts the JSON-like subset a
 * recipe needs and refuses the rest with "NAME:LINE:COL: message":
 * anchors and aliases, more than one document, tags outside the YAML 1.2
 * core schema, keys that are not strings, duplicate keys, NUL bytes and
 * invalid UTF-8; nesting deeper than RECIPE_MAX_DEPTH and more than
 * RECIPE_MAX_NODES nodes.  Plain scalars are typed by the core schema. */
#ifndef KILN_YAML_TREE_H
#define KILN_YAML_TREE_H

#include <stddef.h>

#include "common/err.h"
#include "recipes/recipe.h"

enum ynode_kind { YNODE_SCALAR, YNODE_MAP, YNODE_SEQ };
enum yscalar_type { YS_STR, YS_NULL, YS_BOOL, YS_INT, YS_FLOAT };

struct ynode {
    enum ynode_kind kind;
    struct recipe_pos pos;
    /* scalars: the text as written (owned; may hold NUL bytes from escapes) */
    char *str;
    size_t len;
    enum yscalar_type type;
    int plain;               /* written without quotes */
    /* mappings: items[2i] is a key (a string scalar), items[2i+1] its value;
     * sequences: items[i].  n counts pairs for mappings, items for sequences. */
    struct ynode **items;
    size_t n;
    size_t cap;
    int key_pending;         /* mappings while parsing: items[2n] is a key without value yet */
};

/* Parses data (len bytes); *out (owned by the caller, ynode_free) is the
 * document's root node. */
int ytree_parse(const char *data, size_t len, const char *name, struct ynode **out,
                struct kiln_err *err);

void ynode_free(struct ynode *n);

/* The YAML 1.2 core schema type of a plain (unquoted) scalar. */
enum yscalar_type ytree_resolve_plain(const char *s, size_t len);

/* The value of key in mapping m, or NULL; *key_out (may be NULL) gets the key node. */
struct ynode *ymap_get(const struct ynode *m, const char *key, struct ynode **key_out);

#define YMAP_KEY(m, i) ((m)->items[2 * (i)])
#define YMAP_VAL(m, i) ((m)->items[2 * (i) + 1])

#endif
