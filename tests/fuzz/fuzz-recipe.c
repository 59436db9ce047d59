/* fuzz-recipe.c - recipe_parse() on arbitrary bytes: never crash, never
 * hang, never leak; a valid recipe must also serialise to JSON. */
#include <stdint.h>
#include <stdlib.h>

#include "recipes/recipe.h"
#include "common/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct recipe *r = NULL;
    struct kiln_err err = KILN_ERR_INIT;
    if (recipe_parse((const char *)data, size, "fuzz.yaml", "/nonexistent", &r, &err) == 0) {
        json_t *j = recipe_to_json(r);
        char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
        if (!j || !s)
            abort();
        free(s);
        json_decref(j);
        (void)recipe_needs_guest(r);
        recipe_free(r);
    } else if (r || err.code == 0 || !err.msg[0]) {
        abort();
    }
    return 0;
}
