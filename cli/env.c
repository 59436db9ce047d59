/* env.c - what several commands read from the environment alike. */
#include <stdlib.h>

#include "boot/accel.h"
#include "cli/cli.h"
#include "common/banned.h"

int cli_scratch_and_accel(const char **tmp, struct kiln_err *err)
{
    const char *t = getenv("TMPDIR");
    *tmp = t && *t ? t : "/tmp";
    enum accel_mode am;
    if (accel_parse_mode(getenv("KILN_ACCEL"), &am, err) < 0)
        return kiln_err_prefix(err, "$KILN_ACCEL");
    accel_configure(&(struct accel_opts){ am, *tmp });
    return 0;
}
