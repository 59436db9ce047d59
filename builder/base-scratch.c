/* base-scratch.c - the empty base: a root directory and nothing else. */
#include "builder/base.h"

#include "common/common.h"
#include "common/banned.h"

int base_scratch_run(struct build_ctx *ctx, struct kiln_err *err)
{
    (void)ctx;
    (void)err;
    return 0;
}
