/* cli.h - the command table's interface.
 *
 * One cmd-<verb>.c per command.  A command parses its own options
 * (getopt_long, with CLI_COMMON_LONGOPTS for --json/--quiet/--store/--help),
 * prints its result on stdout and returns an exit status:
 *   0 success, 1 operation failed, 2 usage or invalid input, 3 verification failed.
 * Errors are printed once with cli_fail(), as "kiln: <message>". */
#ifndef KILN_CLI_H
#define KILN_CLI_H

#include <getopt.h>
#include <jansson.h>

#include "common/common.h"

struct cli_ctx {
    int json;          /* --json: machine-readable result on stdout */
    int quiet;         /* --quiet, or stdout not a TTY: no progress */
    int verbose;       /* --verbose: build output lines on stderr */
    int tty;           /* stdout and stderr are terminals */
    const char *store; /* --store DIR, or NULL: see cli_store_path() */
};

struct cli_command {
    const char *name;
    int (*fn)(int argc, char **argv, struct cli_ctx *ctx);
    const char *summary;
    const char *usage; /* options, one per line, after the synopsis line */
};

extern const struct cli_command cli_commands[];

/* Prints "kiln: <msg>" to stderr and returns the exit status for err->code. */
int cli_fail(const struct kiln_err *err);
/* Prints "kiln: <formatted>" plus a hint to `kiln help CMD`; returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) KILN_PRINTF(2, 3);
/* Prints the command's help to f. */
void cli_print_help(const char *cmd, FILE *f);

/* The store directory: --store, else $KILN_STORE, else $XDG_DATA_HOME/kiln/store,
 * else ~/.local/share/kiln/store.  Caller-owned. */
char *cli_store_path(const struct cli_ctx *ctx);

/* Prints a JSON value on stdout (indented, sorted keys) and takes its reference. */
void cli_print_json(json_t *j);

/* From now on SIGINT, SIGTERM and SIGHUP stop the command through one
 * thread (threads started later inherit the blocked mask): it calls cleanup
 * (may be NULL), says "kiln: interrupted" ("; nothing was written" when
 * cleanup returned > 0) and exits 128+signal.  cleanup must be safe to call
 * from that thread while the command runs. */
int cli_on_stop(int (*cleanup)(void), struct kiln_err *err);

/* Registry credentials for host (push, pull) from $REGISTRY_AUTH_FILE, then
 * $DOCKER_CONFIG/config.json or ~/.docker/config.json; *user and *password
 * stay NULL when none has an entry.  Free with cli_registry_creds_free(). */
int cli_registry_creds(const char *host, char **user, char **password, struct kiln_err *err);
void cli_registry_creds_free(char *user, char *password);
/* The file kiln login writes: $REGISTRY_AUTH_FILE, else $DOCKER_CONFIG/config.json,
 * else ~/.docker/config.json; NULL when none can be named.  Caller-owned. */
char *cli_registry_auth_file(void);
/* registry_promote() (a channel statement or, with o->revoke, a revocation)
 * with the credentials for dest's host and a scratch store made and removed
 * here. */
struct registry_ref;
struct registry_promote_opts;
struct registry_promote_result;
int cli_registry_promote(const struct registry_ref *dest, struct registry_promote_opts *o,
                         struct registry_promote_result *res, struct kiln_err *err);

/* The scratch parent ($TMPDIR, else /tmp; *tmp borrowed) and the
 * accelerator $KILN_ACCEL asks for, configured for boot/accel.h. */
int cli_scratch_and_accel(const char **tmp, struct kiln_err *err);
/* Prints a diff as kiln diff does: "+ PATH", "- PATH", "~ PATH (fields)". */
struct diff;
void cli_print_diff(const struct diff *d);
/* Installs the log sink for this command's verbosity. */
void cli_setup_log(struct cli_ctx *ctx);

enum { CLI_OPT_JSON = 0x1000, CLI_OPT_STORE, CLI_OPT_QUIET, CLI_OPT_HELP, CLI_OPT_VERBOSE };

#define CLI_COMMON_LONGOPTS                                   \
    { "json", no_argument, NULL, CLI_OPT_JSON },              \
    { "store", required_argument, NULL, CLI_OPT_STORE },      \
    { "quiet", no_argument, NULL, CLI_OPT_QUIET },            \
    { "verbose", no_argument, NULL, CLI_OPT_VERBOSE },        \
    { "help", no_argument, NULL, CLI_OPT_HELP }

/* Handles a common option; returns 1 if handled, 0 if not, -1 on --help
 * (help printed, the command should return 0). */
int cli_common_opt(struct cli_ctx *ctx, const char *cmd, int opt, const char *arg);

#define CLI_COMMAND(name) int cmd_##name(int argc, char **argv, struct cli_ctx *ctx)
CLI_COMMAND(help);
CLI_COMMAND(version);
CLI_COMMAND(check);
CLI_COMMAND(build);
CLI_COMMAND(list);
CLI_COMMAND(inspect);
CLI_COMMAND(promote);
CLI_COMMAND(rm);
CLI_COMMAND(gc);
CLI_COMMAND(cache);
CLI_COMMAND(diff);
CLI_COMMAND(export);
CLI_COMMAND(keygen);
CLI_COMMAND(sign);
CLI_COMMAND(verify);
CLI_COMMAND(boot_test);
CLI_COMMAND(push);
CLI_COMMAND(pull);
CLI_COMMAND(login);
CLI_COMMAND(revoke);
CLI_COMMAND(sbom);
CLI_COMMAND(drift);
CLI_COMMAND(hosts);
CLI_COMMAND(deploy);
CLI_COMMAND(rollout);
CLI_COMMAND(replace);
CLI_COMMAND(rollback);

/* The signing key of a command (cli/signing-key.c): the file at path, or the
 * PEM in $KILN_SIGNING_KEY when path is NULL; its passphrase from the
 * variable passphrase_env, else $KILN_SIGNING_PASSPHRASE. */
struct signing_key;
int cli_signing_key(const char *path, const char *passphrase_env, struct signing_key **out,
                    struct kiln_err *err);

/* A build's options from the environment (SOURCE_DATE_EPOCH, TMPDIR, the
 * KILN_MAX_* limits, the download cache, KILN_ACCEL): cmd-build.c. */
struct build_opts;
int cli_build_opts(struct build_opts *o, struct kiln_err *err);
/* Loads the recipe at path, widens its build context by contexts
 * (--context) and checks its inputs: cmd-build.c.  *out: recipe_free(). */
struct recipe;
int cli_recipe_load(const char *path, const char *const *contexts, size_t n_contexts, struct recipe **out,
                    struct kiln_err *err);

/* kiln verify REF --rebuild RECIPE (cli/verify-rebuild.c): rebuilds and
 * compares, prints the report; sign (may be NULL) is the key for the signed
 * statement of an identical rebuild ("-": $KILN_SIGNING_KEY).  Returns the
 * exit status. */
int cli_verify_rebuild(struct cli_ctx *ctx, const char *ref, const char *recipe, const char *const *contexts,
                       size_t n_contexts, const char *sign);

#endif
