/* main.c - kiln's entry point and command table. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/banned.h"

const struct cli_command cli_commands[] = {
    { "build", cmd_build, "bake a recipe into images in the store",
      "kiln build RECIPE [--store DIR] [--version V|auto] [--channel NAME] [--force]\n"
      "                  [--sign KEY|-] [--compression gzip|zstd] [--context DIR]...\n"
      "                  [--no-cache | --cache [http[s]://]HOST[:PORT]/REPO [--cache-ca-file PEM] [--cache-insecure]]\n"
      "                  [--json] [--quiet] [--verbose]" },
    { "check", cmd_check, "validate a recipe and print it normalised",
      "kiln check RECIPE... [--context DIR]... [--json]" },
    { "list", cmd_list, "list the images in the store",
      "kiln list [NAME] [--store DIR] [--json]" },
    { "inspect", cmd_inspect, "show an image's manifest, annotations and provenance",
      "kiln inspect REF [--provenance] [--files] [--store DIR] [--json]" },
    { "promote", cmd_promote, "point a channel at a version",
      "kiln promote NAME:VERSION --channel NAME [--store DIR] [--json]\n"
      "kiln promote [http[s]://]HOST[:PORT]/REPO:VERSION --channel NAME --key KEY [--expires 30d]\n"
      "                [--name NAME] [--passphrase-env VAR] [--ca-file PEM] [--insecure] [--json]" },
    { "rm", cmd_rm, "remove an image reference from the store",
      "kiln rm REF [--force] [--store DIR] [--json]" },
    { "gc", cmd_gc, "remove blobs no image refers to",
      "kiln gc [--store DIR] [--json]" },
    { "cache", cmd_cache, "list or prune the build cache's entries in the store",
      "kiln cache ls [--store DIR] [--json]\n"
      "kiln cache prune [--keep-days N] [--store DIR] [--json]" },
    { "diff", cmd_diff, "list files added, removed and changed between two images",
      "kiln diff REF_A REF_B [--store DIR] [--json]" },
    { "export", cmd_export, "write an image out of the store",
      "kiln export REF --format oci|oci-archive|docker-archive|tar|qcow2|raw|containerdisk|vmdk|vhdx|vhd|ova\n"
      "                --output PATH [--force] [--store DIR] [--json]" },
    { "push", cmd_push, "push an image and its signatures to an OCI registry",
      "kiln push REF [http[s]://]HOST[:PORT]/REPO[:TAG] [--jobs N] [--mount-from REPO ...] [--ca-file PEM]\n"
      "                [--insecure] [--store DIR] [--json]" },
    { "pull", cmd_pull, "pull an image from an OCI registry, verified before it enters the store",
      "kiln pull [http[s]://]HOST[:PORT]/REPO[:TAG][@sha256:HEX] --key PUB [--key PUB2 ...]\n"
      "                [--allow-downgrade] [--jobs N] [--ca-file PEM] [--insecure] [--store DIR] [--json]" },
    { "login", cmd_login, "check registry credentials, then save them for push and pull",
      "kiln login [http[s]://]HOST[:PORT] [--username USER] [--password-stdin] [--ca-file PEM] [--insecure]\n"
      "                [--json]" },
    { "revoke", cmd_revoke, "sign a revocation of an image: verify and pull refuse it",
      "kiln revoke NAME:VERSION --key KEY [--passphrase-env VAR] [--store DIR] [--json]\n"
      "kiln revoke [http[s]://]HOST[:PORT]/REPO:VERSION --key KEY [--name NAME] [--ca-file PEM] [--insecure]\n"
      "                [--json]" },
    { "sbom", cmd_sbom, "print the SBOM (SPDX or CycloneDX) attached to an image",
      "kiln sbom REF [--format spdx|cyclonedx] [--key PUB ...] [--store DIR]" },
    { "keygen", cmd_keygen, "make a signing key pair",
      "kiln keygen --output PREFIX [--algorithm ecdsa-p256|ed25519] [--passphrase-env VAR]" },
    { "sign", cmd_sign, "sign an image in the store",
      "kiln sign REF --key KEY [--passphrase-env VAR] [--store DIR] [--json]" },
    { "verify", cmd_verify, "verify an image's signature and every blob it reaches",
      "kiln verify REF --key PUB [--key PUB2 ...] [--store DIR | --layout PATH] [--json]\n"
      "kiln verify REF --rebuild RECIPE [--context DIR ...] [--sign KEY] [--store DIR] [--json]" },
    { "drift", cmd_drift, "compare a host's disk with its signed image: what was added, removed, changed",
      "kiln drift DISK|HOST [--image REF] [--connect URI] --key PUB [--key PUB2 ...] [--ignore PATTERN ...]\n"
      "                [--store DIR] [--json]" },
    { "boot-test", cmd_boot_test, "boot a disk image under qemu and wait for a login prompt",
      "kiln boot-test REF|--disk FILE --format qcow2|raw|vmdk|vhdx|vhd [--firmware bios|uefi|secure-boot]\n"
      "                [--timeout SECONDS] [--marker TEXT]\n"
      "                [--seed DIR | --user-data FILE [--meta-data FILE] [--network-config FILE]]\n"
      "                [--store DIR] [--json]" },
    { "hosts", cmd_hosts, "list the kiln hosts of libvirt connections",
      "kiln hosts [--group G] [--connect URI]... [--drift --key PUB] [--json]" },
    { "deploy", cmd_deploy, "make N hosts of a verified image through libvirt",
      "kiln deploy REF --group G --count N --key PUB [--connect URI] [--pool POOL]\n"
      "                  [--memory MIB] [--vcpus N] [--network user|none|NAME]\n"
      "                  [--health-marker TEXT | --no-health-marker] [--health-timeout SECONDS]\n"
      "                  [--health-http PORT[/PATH] | --health-tcp PORT] [--json]" },
    { "rollout", cmd_rollout, "replace a group's hosts with hosts of a new image, in waves",
      "kiln rollout REF --group G --key PUB [--connect URI] [--max-surge N] [--max-unavailable N]\n"
      "                  [--pause SECONDS] [--keep N] [--auto-rollback] [--stop-timeout SECONDS]\n"
      "                  [deploy's --pool, --memory, --vcpus, --network, --health-*] [--json]" },
    { "replace", cmd_replace, "replace a sick host with a fresh one of the same image",
      "kiln replace HOST --key PUB [--connect URI] [deploy's host options] [--json]" },
    { "rollback", cmd_rollback, "roll a group back onto the image it ran before",
      "kiln rollback --group G --key PUB [--connect URI] [rollout's options] [--json]" },
    { "help", cmd_help, "show help for kiln or a command", "kiln help [COMMAND]" },
    { "version", cmd_version, "print kiln's version", "kiln version [--json]" },
    { NULL, NULL, NULL, NULL },
};

static const struct cli_command *find_command(const char *name)
{
    for (const struct cli_command *c = cli_commands; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

void cli_print_help(const char *cmd, FILE *f)
{
    if (cmd) {
        const struct cli_command *c = find_command(cmd);
        if (c) {
            fprintf(f, "usage: %s\n\n%s\n\nSee kiln(1) for details.\n", c->usage, c->summary);
            return;
        }
    }
    fprintf(f, "usage: kiln [--version] [--help] COMMAND [ARGS]\n\n"
               "kiln bakes declarative recipes into versioned, signed images.\n\n"
               "commands:\n");
    for (const struct cli_command *c = cli_commands; c->name; c++)
        fprintf(f, "  %-10s %s\n", c->name, c->summary);
    fprintf(f, "\nexit status: 0 success, 1 operation failed, 2 usage or invalid input,\n"
               "3 verification failed.  'kiln help COMMAND' shows a command's options.\n");
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fputs("kiln: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (cmd)
        fprintf(stderr, "kiln: see 'kiln help %s'\n", cmd);
    return 2;
}

int cli_fail(const struct kiln_err *err)
{
    fprintf(stderr, "kiln: %s\n", err->msg[0] ? err->msg : "failed");
    return kiln_exit_status(err->code);
}

int cli_common_opt(struct cli_ctx *ctx, const char *cmd, int opt, const char *arg)
{
    switch (opt) {
    case CLI_OPT_JSON:
        ctx->json = 1;
        return 1;
    case CLI_OPT_STORE:
        ctx->store = arg;
        return 1;
    case CLI_OPT_QUIET:
        ctx->quiet = 1;
        return 1;
    case CLI_OPT_VERBOSE:
        ctx->verbose = 1;
        return 1;
    case CLI_OPT_HELP:
        cli_print_help(cmd, stdout);
        return -1;
    default:
        return 0;
    }
}

char *cli_store_path(const struct cli_ctx *ctx)
{
    if (ctx->store && ctx->store[0])
        return xstrdup(ctx->store);
    const char *s = getenv("KILN_STORE");
    if (s && s[0])
        return xstrdup(s);
    const char *xdg = getenv("XDG_DATA_HOME");
    if (xdg && xdg[0] == '/')
        return xasprintf("%s/kiln/store", xdg);
    const char *home = getenv("HOME");
    if (!home || !home[0])
        home = "/root";
    return xasprintf("%s/.local/share/kiln/store", home);
}

void cli_print_json(json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        free(s);
    }
    json_decref(j);
}

CLI_COMMAND(help)
{
    (void)ctx;
    if (argc > 2)
        return cli_usage_error("help", "help takes at most one command name");
    if (argc == 2 && !find_command(argv[1]))
        return cli_usage_error(NULL, "unknown command '%s'", argv[1]);
    cli_print_help(argc == 2 ? argv[1] : NULL, stdout);
    return 0;
}

CLI_COMMAND(version)
{
    static const struct option opts[] = { CLI_COMMON_LONGOPTS, { 0 } };
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int h = cli_common_opt(ctx, "version", c, optarg);
        if (h < 0)
            return 0;
        if (!h)
            return cli_usage_error("version", "unknown option");
    }
    if (ctx->json)
        cli_print_json(json_pack("{s:s}", "version", KILN_VERSION));
    else
        printf("kiln %s\n", KILN_VERSION);
    return 0;
}

/* kiln runs in the C locale (it never calls setlocale()): file names are
 * bytes, and libarchive must not convert or normalise them (tree/tree.h). */
int main(int argc, char **argv)
{
    struct cli_ctx ctx = { 0 };
    ctx.tty = isatty(1) && isatty(2);
    ctx.quiet = !ctx.tty;

    if (argc < 2) {
        cli_print_help(NULL, stderr);
        return 2;
    }
    const char *name = argv[1];
    if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0)
        name = "version";
    else if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)
        name = "help";
    const struct cli_command *c = find_command(name);
    if (!c) {
        cli_usage_error(NULL, "unknown command '%s'", argv[1]);
        fprintf(stderr, "kiln: see 'kiln help'\n");
        return 2;
    }
    optind = 1;
    opterr = 1;
    cli_setup_log(&ctx);
    int rc = c->fn(argc - 1, argv + 1, &ctx);
    fflush(stdout);
    if (ferror(stdout)) {
        fprintf(stderr, "kiln: cannot write to standard output\n");
        return 1;
    }
    return rc;
}
