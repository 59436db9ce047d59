/* cmd-check.c - kiln check RECIPE... [--context DIR]... [--json]: validate
 * recipes and their inputs (inside the build context: each recipe's folder
 * and every --context DIR), print each normalised (YAML for people, JSON
 * with --json). */
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "cli/cli.h"
#include "recipes/recipe.h"
#include "recipes/yaml-tree.h"
#include "common/banned.h"

DEFINE_CLEANUP(struct recipe, recipe_free)

static int emit_scalar(yaml_emitter_t *e, const char *s, size_t len, int quote)
{
    yaml_event_t ev;
    yaml_scalar_style_t style = YAML_ANY_SCALAR_STYLE;
    if (quote)
        style = memchr(s, '\n', len) ? YAML_LITERAL_SCALAR_STYLE : YAML_DOUBLE_QUOTED_SCALAR_STYLE;
    yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)len, !quote, 1, style);
    return yaml_emitter_emit(e, &ev);
}

/* A JSON value as YAML; strings that would read back as another type are quoted. */
static int emit_json(yaml_emitter_t *e, json_t *j)
{
    yaml_event_t ev;
    char num[32];
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *v;
        yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
        if (!yaml_emitter_emit(e, &ev))
            return 0;
        json_object_foreach(j, k, v) {
            if (!emit_scalar(e, k, strlen(k), 0) || !emit_json(e, v))
                return 0;
        }
        yaml_mapping_end_event_initialize(&ev);
        return yaml_emitter_emit(e, &ev);
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *v;
        yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
                                             json_array_size(j) ? YAML_BLOCK_SEQUENCE_STYLE
                                                                : YAML_FLOW_SEQUENCE_STYLE);
        if (!yaml_emitter_emit(e, &ev))
            return 0;
        json_array_foreach(j, i, v) {
            if (!emit_json(e, v))
                return 0;
        }
        yaml_sequence_end_event_initialize(&ev);
        return yaml_emitter_emit(e, &ev);
    }
    case JSON_STRING: {
        const char *s = json_string_value(j);
        size_t len = json_string_length(j);
        int quote = len == 0 || ytree_resolve_plain(s, len) != YS_STR || memchr(s, '\n', len);
        return emit_scalar(e, s, len, quote);
    }
    case JSON_INTEGER:
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(j));
        return emit_scalar(e, num, strlen(num), 0);
    case JSON_REAL:
        snprintf(num, sizeof(num), "%g", json_real_value(j));
        return emit_scalar(e, num, strlen(num), 0);
    case JSON_TRUE:
        return emit_scalar(e, "true", 4, 0);
    case JSON_FALSE:
        return emit_scalar(e, "false", 5, 0);
    case JSON_NULL:
        return emit_scalar(e, "null", 4, 0);
    }
    return 0;
}

static void print_yaml(const char *source, json_t *j)
{
    yaml_emitter_t e;
    yaml_event_t ev;
    printf("# %s: valid\n", source);
    fflush(stdout);
    if (!yaml_emitter_initialize(&e))
        return;
    yaml_emitter_set_output_file(&e, stdout);
    yaml_emitter_set_unicode(&e, 1);
    yaml_emitter_set_width(&e, 100);
    yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    int ok = yaml_emitter_emit(&e, &ev);
    yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 0);
    ok = ok && yaml_emitter_emit(&e, &ev);
    ok = ok && emit_json(&e, j);
    yaml_document_end_event_initialize(&ev, 1);
    ok = ok && yaml_emitter_emit(&e, &ev);
    yaml_stream_end_event_initialize(&ev);
    ok = ok && yaml_emitter_emit(&e, &ev);
    yaml_emitter_flush(&e);
    yaml_emitter_delete(&e);
    if (!ok)
        fprintf(stderr, "kiln: cannot print recipe '%s'\n", source);
}

enum { OPT_CONTEXT = 1 };

CLI_COMMAND(check)
{
    static const struct option opts[] = {
        CLI_COMMON_LONGOPTS,
        { "context", required_argument, NULL, OPT_CONTEXT },
        { 0 },
    };
    _cleanup_free_ const char **contexts = xcalloc((size_t)argc + 1, sizeof(*contexts));
    size_t n_contexts = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int h = cli_common_opt(ctx, "check", c, optarg);
        if (h < 0)
            return 0;
        if (h)
            continue;
        if (c != OPT_CONTEXT)
            return cli_usage_error("check", "unknown option");
        contexts[n_contexts++] = optarg;
    }
    if (optind >= argc)
        return cli_usage_error("check", "check needs at least one recipe");

    size_t n = (size_t)(argc - optind);
    json_t *results = json_array();
    int status = 0;
    for (size_t i = 0; i < n; i++) {
        const char *path = argv[optind + (int)i];
        struct kiln_err err = KILN_ERR_INIT;
        _cleanup_(recipe_freep) struct recipe *r = NULL;
        int rc = recipe_load(path, &r, &err);
        for (size_t k = 0; rc == 0 && k < n_contexts; k++)
            if ((rc = recipe_context_add(r, contexts[k], &err)) < 0)
                kiln_err_prefix(&err, "--context");
        if (rc == 0)
            rc = recipe_check_inputs(r, &err);
        if (rc < 0) {
            int st = cli_fail(&err);
            if (st > status)
                status = st;
            continue;
        }
        json_array_append_new(results, recipe_to_json(r));
    }
    if (status) {
        json_decref(results);
        return status;
    }
    if (ctx->json) {
        if (n == 1) {
            json_t *one = json_incref(json_array_get(results, 0));
            json_decref(results);
            cli_print_json(one);
        } else {
            cli_print_json(results);
        }
        return 0;
    }
    size_t i;
    json_t *j;
    json_array_foreach(results, i, j) {
        print_yaml(argv[optind + (int)i], j);
    }
    json_decref(results);
    return 0;
}
