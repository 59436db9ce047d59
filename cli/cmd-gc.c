/* cmd-gc.c - placeholder until the command is implemented. */
#include "cli/cli.h"
#include "common/banned.h"

CLI_COMMAND(gc)
{
    (void)argc;
    (void)argv;
    (void)ctx;
    struct kiln_err err = KILN_ERR_INIT;
    kiln_errf(&err, KILN_EFAIL, "'gc' is not available in this build");
    return cli_fail(&err);
}
