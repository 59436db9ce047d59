/* fleet-cli.h - what the fleet commands (hosts, deploy, rollout, replace,
 * rollback) share: their common options, the verified image they hand to
 * fleet/, the group lock around an operation, and how hosts are printed. */
#ifndef KILN_FLEET_CLI_H
#define KILN_FLEET_CLI_H

#include "cli/cli.h"
#include "fleet/fleet.h"

#define FLEET_CLI_MAX 16

enum {
    FLEET_OPT_CONNECT = 0x2000, FLEET_OPT_GROUP, FLEET_OPT_KEY, FLEET_OPT_POOL, FLEET_OPT_MEMORY,
    FLEET_OPT_VCPUS, FLEET_OPT_NETWORK, FLEET_OPT_MARKER, FLEET_OPT_TIMEOUT, FLEET_OPT_STOP_TIMEOUT,
    FLEET_OPT_SURGE, FLEET_OPT_UNAVAIL, FLEET_OPT_PAUSE, FLEET_OPT_KEEP, FLEET_OPT_AUTO_ROLLBACK, FLEET_OPT_COUNT,
    FLEET_OPT_HEALTH_TCP, FLEET_OPT_HEALTH_HTTP, FLEET_OPT_NO_MARKER,
};

#define FLEET_CLI_LONGOPTS                                              \
    { "connect", required_argument, NULL, FLEET_OPT_CONNECT },          \
    { "group", required_argument, NULL, FLEET_OPT_GROUP },              \
    { "key", required_argument, NULL, FLEET_OPT_KEY },                  \
    { "pool", required_argument, NULL, FLEET_OPT_POOL },                \
    { "memory", required_argument, NULL, FLEET_OPT_MEMORY },            \
    { "vcpus", required_argument, NULL, FLEET_OPT_VCPUS },              \
    { "network", required_argument, NULL, FLEET_OPT_NETWORK },          \
    { "health-marker", required_argument, NULL, FLEET_OPT_MARKER },     \
    { "health-timeout", required_argument, NULL, FLEET_OPT_TIMEOUT },   \
    { "health-tcp", required_argument, NULL, FLEET_OPT_HEALTH_TCP },    \
    { "health-http", required_argument, NULL, FLEET_OPT_HEALTH_HTTP },  \
    { "no-health-marker", no_argument, NULL, FLEET_OPT_NO_MARKER },     \
    { "stop-timeout", required_argument, NULL, FLEET_OPT_STOP_TIMEOUT }

/* The wave options of rollout and rollback. */
#define FLEET_CLI_WAVE_LONGOPTS                                         \
    { "max-surge", required_argument, NULL, FLEET_OPT_SURGE },          \
    { "max-unavailable", required_argument, NULL, FLEET_OPT_UNAVAIL },  \
    { "pause", required_argument, NULL, FLEET_OPT_PAUSE },              \
    { "keep", required_argument, NULL, FLEET_OPT_KEEP },                \
    { "auto-rollback", no_argument, NULL, FLEET_OPT_AUTO_ROLLBACK }

struct fleet_cli {
    const char *cmd;
    const char *connect[FLEET_CLI_MAX];
    size_t n_connect;
    const char *keys[FLEET_CLI_MAX];
    size_t n_keys;
    struct fleet_spec spec;      /* group, pool, memory, ... from the options */
    struct fleet_rollout_opts waves; /* FLEET_CLI_WAVE_LONGOPTS (set the defaults before parsing) */
    unsigned count;              /* --count */
    int moves;                   /* a command with waves: they must be able to move */
    int marker_given, timeout_given, no_marker;
};

/* Parses an unsigned option value in [lo, hi]; -1 (usage error printed) if bad. */
int fleet_cli_uint(const char *cmd, const char *opt, const char *arg, unsigned lo, unsigned hi, unsigned *out);
/* Handles a shared option: 1 handled, 0 not one of them, 2 usage error (printed). */
int fleet_cli_opt(struct fleet_cli *fc, int c, const char *arg);
/* Parses a fleet command's options (opts: FLEET_CLI_* and CLI_COMMON_LONGOPTS)
 * and checks what every command that changes hosts needs (nargs operands,
 * --key, one --connect at most, --group when need_group, waves that can
 * move).  0 to go on, else the status to return (0 after --help). */
int fleet_cli_parse(struct cli_ctx *ctx, struct fleet_cli *fc, int argc, char **argv, const struct option *opts,
                    int nargs, int need_group);

/* A verified image of the store: what fleet/ gets.  fleet_cli_image_release(). */
struct fleet_cli_image {
    struct fleet_image img;
    char *name, *version, *digest, *key_id, *disk_path, *disk_digest, *marker;
    unsigned timeout;
};
/* Resolves ref in the store, verifies it (a trusted --key's signature over
 * exactly this image and every blob re-hashed) and finds its disk; fills
 * fc->spec's marker and timeout from the recipe's boot_test unless given.
 * want_digest (may be NULL): the image must have this digest. */
int fleet_cli_image(struct cli_ctx *ctx, struct fleet_cli *fc, const char *ref, const char *want_digest,
                    struct fleet_cli_image *out, struct kiln_err *err);
void fleet_cli_image_release(struct fleet_cli_image *im);

/* What fleet_cli_apply() does once the image is verified and the group locked. */
enum fleet_cli_op { FLEET_CLI_DEPLOY, FLEET_CLI_ROLLOUT, FLEET_CLI_REPLACE };

/* The whole of an operation: verifies ref (with want_digest, may be NULL),
 * takes the group lock, runs op (deploy: count hosts; rollout: fc->waves;
 * replace: host), prints the result and drops the lock.  Returns the exit
 * status. */
int fleet_cli_apply(struct cli_ctx *ctx, struct fleet_cli *fc, const char *ref, const char *want_digest,
                    enum fleet_cli_op op, unsigned count, const char *host);

/* Opens the (first) connection, picks the domain type (KVM when it works,
 * else TCG) and takes the group lock for op; fleet_cli_end() drops it. */
int fleet_cli_begin(struct fleet_cli *fc, const char *op, struct fleet **out, struct kiln_err *err);
void fleet_cli_end(struct fleet_cli *fc, struct fleet *f);

/* The result of an operation: the report (--json: {"group", "events",
 * "hosts", "error"?}) or the group's hosts as a table; returns the exit
 * status for r. */
int fleet_cli_finish(struct cli_ctx *ctx, struct fleet_cli *fc, struct fleet *f, json_t *events, int r,
                     struct kiln_err *err);

/* The columns of `kiln hosts`: a title and the cell of a host (into tmp,
 * or a string of h).  Adding a column is adding a row to the table in
 * cmd-hosts.c and, for --json, a member in fleet_cli_host_json(). */
struct fleet_cli_column {
    const char *title;
    const char *(*cell)(const struct fleet_host *h, char *tmp, size_t tmpsz);
};
/* One host as JSON (new reference). */
json_t *fleet_cli_host_json(const struct fleet_host *h);
/* Prints hosts as a table with the columns given. */
void fleet_cli_print_table(const struct fleet_host *hs, size_t n, const struct fleet_cli_column *cols, size_t ncols);
extern const struct fleet_cli_column fleet_cli_columns[];
extern const size_t fleet_cli_n_columns;

#endif
