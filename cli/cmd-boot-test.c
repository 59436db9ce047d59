/* cmd-boot-test.c - placeholder until the command is implemented. */
#include "cli/cli.h"
#include "common/banned.h"

CLI_COMMAND(boot_test)
{
    (void)argc;
    (void)argv;
    (void)ctx;
    struct kiln_err err = KILN_ERR_INIT;
    kiln_errf(&err, KILN_EFAIL, "'boot-test' is not available in this build");
    return cli_fail(&err);
}
