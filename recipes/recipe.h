/* recipe.h - a parsed, validated kiln recipe (schema v1).
 *
 * recipe_load() reads a YAML file with libyaml and returns a recipe that
 * later stages can trust: every required key present, every value of the
 * right type and range, relative paths resolved against the recipe's
 * folder.  Errors carry "FILE:LINE:COL: message".  The recipe owns every
 * string and array in it; recipe_free() releases all of it. */
#ifndef KILN_RECIPE_H
#define KILN_RECIPE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/hash.h"

/* Hostile-input limits. */
#define RECIPE_MAX_BYTES   (1u << 20)  /* 1 MiB of YAML */
#define RECIPE_MAX_DEPTH   32          /* nesting of mappings and sequences */
#define RECIPE_MAX_NODES   100000      /* scalars + collections in the document */
#define RECIPE_DEFAULT_RUN_TIMEOUT 1800 /* seconds, per `run` command */
/* What `cloud_init: true` installs: cloud-init, growpart (for a root
 * partition that grows with the cloud's disk), ifupdown (which brings up
 * the network configuration cloud-init writes, as in Debian's cloud
 * images), sudo (for the users it creates) and openssh-server (the SSH
 * keys it installs are for sshd; cloud-init makes its host keys). */
#define RECIPE_CLOUD_INIT_PACKAGES "cloud-init", "cloud-guest-utils", "ifupdown", "sudo", "openssh-server"
/* ... and writes this locale, unless the recipe's files write that file. */
#define RECIPE_CLOUD_INIT_LOCALE_FILE "/etc/default/locale"
#define RECIPE_CLOUD_INIT_LOCALE "LANG=C.UTF-8\n"

struct recipe_pos {
    unsigned line;  /* 1-based; 0 = unknown */
    unsigned col;   /* 1-based */
};

/* A NULL-terminated vector of owned strings, with its length. */
struct strv {
    char **v;
    size_t n;
};

struct recipe_kv {
    char *key;
    char *value;
};

enum recipe_base_kind {
    BASE_SCRATCH,
    BASE_TARBALL,
    BASE_DIRECTORY,
    BASE_OCI,
    BASE_DEBIAN,
    BASE_DISK,
};

/* An extra suite of a debian base (bookworm-updates, bookworm-security). */
struct recipe_suite {
    char *suite;
    char *mirror;                   /* NULL: the base's mirror */
    struct recipe_pos pos;
};

struct recipe_base {
    enum recipe_base_kind kind;
    char *path;                     /* tarball, directory, oci layout, disk: absolute */
    char sha256[HASH_HEX_LEN + 1];  /* tarball, disk: declared digest, "" if none */
    char *ref;                      /* oci: tag in the layout (default "latest") */
    char *suite;                    /* debian: e.g. "bookworm" */
    char *variant;                  /* debian: mmdebstrap variant, default "minbase" */
    char *mirror;                   /* debian: default "http://deb.debian.org/debian" */
    struct strv packages;           /* debian: extra --include packages */
    struct strv components;         /* debian: archive components, default [main] */
    struct recipe_suite *suites;    /* debian: extra suites, in order */
    size_t n_suites;
    char *snapshot;                 /* debian: YYYYMMDDTHHMMSSZ filling {timestamp} in mirror URLs, or NULL */
    char *keyring;                  /* debian: absolute host path of the archive keyring, NULL = Debian's */
    struct recipe_pos keyring_pos;
    struct recipe_pos pos;
    struct recipe_pos path_pos;     /* of the path's (or mirror's) value, for host-path errors */
};

struct recipe_file {
    char *src;          /* absolute path on the host, or NULL */
    char *content;      /* inline content, or NULL (exactly one of src/content/link) */
    size_t content_len;
    char *link;         /* symlink target as written, or NULL; no mode for links */
    char *dest;         /* absolute path in the image, normalised, never ".." */
    unsigned mode;      /* permission bits, 0..07777 (0644 when not given) */
    int has_mode;       /* 0: 0644 for files */
    char *owner;        /* "USER[:GROUP]" or "UID[:GID]" as written, NULL = root */
    int after_run;      /* 1: written after the guest stage (packages, run, services), which cannot see it */
    struct recipe_pos pos;
    struct recipe_pos src_pos; /* of src's value */
};

struct recipe_user {
    char *name;
    long uid;               /* -1 = next free from 1000 */
    struct strv groups;
    char *shell;            /* NULL = /bin/sh */
    struct strv ssh_authorized_keys;
    struct recipe_pos pos;
};

struct recipe_run {
    char *command;          /* run with /bin/sh -c inside the image */
    unsigned timeout;       /* seconds; RECIPE_DEFAULT_RUN_TIMEOUT unless given */
    struct recipe_pos pos;
};

struct recipe_container {
    struct strv entrypoint; /* a string in the recipe becomes {"/bin/sh", "-c", STRING} */
    struct strv cmd;        /* likewise */
    struct recipe_kv *env;  /* in the order written */
    size_t n_env;
    char *workdir;
    char *user;
    struct strv ports;      /* "80/tcp" form; a bare number gets "/tcp" */
};

enum recipe_output_type { OUTPUT_OCI, OUTPUT_TAR, OUTPUT_QCOW2, OUTPUT_RAW };
enum recipe_compression { COMPRESSION_GZIP, COMPRESSION_ZSTD };
enum recipe_partition_table { PARTITION_GPT, PARTITION_MBR };
/* How a bootable disk starts: BIOS GRUB, UEFI GRUB from an EFI System
 * Partition, or both on one GPT disk (the default for GPT; MBR disks are
 * BIOS only). */
enum recipe_firmware { FIRMWARE_NONE, FIRMWARE_BIOS, FIRMWARE_UEFI, FIRMWARE_HYBRID };
/* The EFI System Partition of a UEFI or hybrid disk (disk/ lays it out). */
#define RECIPE_ESP_SIZE (64ull << 20)
/* What a UEFI disk needs at least: the ESP, a BIOS boot partition and a root. */
#define RECIPE_UEFI_MIN_SIZE (RECIPE_ESP_SIZE + (66ull << 20))

struct recipe_output {
    enum recipe_output_type type;
    /* oci */
    enum recipe_compression compression;  /* default gzip */
    /* qcow2, raw */
    uint64_t size;                        /* bytes; 0 = content plus headroom */
    enum recipe_partition_table partition_table; /* default gpt */
    char *filesystem;                     /* "ext4" */
    int bootable;                         /* default 0 */
    enum recipe_firmware firmware;        /* bootable: default hybrid (gpt) or bios (mbr); else NONE */
    int secure_boot;                      /* uefi/hybrid: Debian's signed shim, GRUB and kernel */
    int compress;                         /* qcow2 only: compressed clusters */
    struct recipe_pos pos;
};

struct recipe_boot_test {
    char *marker;          /* text on the serial console that means "booted"; default "login:" */
    unsigned timeout;      /* seconds; default 300 */
};

struct recipe {
    char *path;                          /* absolute path of the recipe file */
    char *source;                        /* the recipe's name as the user gave it (messages) */
    char sha256[HASH_HEX_LEN + 1];       /* digest of the recipe file's bytes */

    char *name;                          /* [a-z0-9][a-z0-9._-]* */
    char *version;                       /* semver 2.0 */
    char *description;                   /* may be NULL */
    struct recipe_kv *labels;            /* sorted by key */
    size_t n_labels;

    struct recipe_base base;
    struct strv packages;
    struct recipe_file *files;
    size_t n_files;
    struct recipe_user *users;
    size_t n_users;
    char *hostname;                      /* may be NULL */
    struct strv services_enable;
    struct strv services_disable;
    struct recipe_run *run;
    size_t n_run;
    int sysprep;                         /* default 1 */
    int cloud_init;                      /* default 0; 1 adds RECIPE_CLOUD_INIT_PACKAGES to the debian
                                            base's packages, or for another base to packages, and
                                            RECIPE_CLOUD_INIT_LOCALE to files */
    struct recipe_container container;
    int has_container;
    struct recipe_output *outputs;       /* at least one; default [oci] */
    size_t n_outputs;
    struct recipe_boot_test boot_test;
    struct strv drift_ignore;            /* drift.ignore: paths kiln drift skips (fleet/drift.h) */

    /* The build context: the canonical host directories that every host
     * path the recipe names (base paths, files[].src) must resolve inside,
     * symlinks followed.  [0] is the recipe's folder; recipe_context_add()
     * appends the ones the command line gives. */
    struct strv context;
};

/* Reads and validates the recipe at path.  *out is owned by the caller. */
int recipe_load(const char *path, struct recipe **out, struct kiln_err *err);

/* Parses a recipe from memory; `name` is used in messages, relative paths
 * resolve against `base_dir`.  For tests and the fuzzer. */
int recipe_parse(const char *data, size_t len, const char *name, const char *base_dir,
                 struct recipe **out, struct kiln_err *err);

void recipe_free(struct recipe *r);

/* Widens the build context by dir (`--context DIR`), made canonical; it
 * must be a directory.  KILN_EINVAL otherwise. */
int recipe_context_add(struct recipe *r, const char *dir, struct kiln_err *err);

/* Opens a host path the recipe names: `key` names it in messages
 * ("files[0].src", "base.tarball.path").  The path is resolved (symlinks
 * followed) and must be inside the build context; the resolved path is
 * then opened from '/' with O_NOFOLLOW on every component, so a symlink
 * swapped in after the check cannot lead out of the context.  flags as for
 * open(2) (O_CLOEXEC added).  Returns the fd (the caller closes it) and,
 * when real is not NULL, the resolved path (caller-owned); or a negative
 * code, KILN_EINVAL with "KEY 'PATH' is outside the build context 'DIR'
 * (use --context to widen it)" or "KEY 'PATH' cannot be read: ...". */
int recipe_open_input(const struct recipe *r, const char *key, const char *path, int flags, char **real,
                      struct kiln_err *err);

/* Opens the OCI layout base's directory (O_RDONLY | O_DIRECTORY) through
 * recipe_open_input(), and refuses a layout whose oci-layout, index.json,
 * blobs or blobs/sha256 is a symlink.  Returns the fd or a negative code. */
int recipe_open_layout(const struct recipe *r, struct kiln_err *err);

/* A debian base's file:/// mirror is a host directory too: 0 when it is
 * inside the build context (or not a file:/// URL), else as
 * recipe_open_input(). */
int recipe_check_mirror(const struct recipe *r, struct kiln_err *err);

/* A debian base's keyring (base.debian.keyring) opened through
 * recipe_open_input(): the fd, or 0 when the recipe names none (Debian's
 * keyring is used), or a negative code. */
int recipe_open_keyring(const struct recipe *r, struct kiln_err *err);

/* The key of the base's host path: "base.tarball.path", "base.disk.path",
 * "base.directory" or "base.oci.layout"; NULL for bases without one. */
const char *recipe_base_path_key(enum recipe_base_kind kind);

/* Checks that the inputs the recipe names (a file:/// mirror too) are
 * inside the build context, exist and match their declared sha256 (base tarball and disk, files'
 * src; directory and OCI layout bases exist, the layout's index.json names
 * base.ref).  Streams; no I/O beyond reading.  Fails with KILN_EINVAL,
 * "FILE:LINE:COL: ... 'PATH' ...". */
int recipe_check_inputs(const struct recipe *r, struct kiln_err *err);

/* The normalised recipe as JSON (new reference, owned by the caller). */
json_t *recipe_to_json(const struct recipe *r);

/* 1 if the recipe needs the in-guest builder (run, packages, services, a
 * disk base, a debian base with sysprep on). */
int recipe_needs_guest(const struct recipe *r);
/* The recipe's first qcow2 or raw output (every disk output has its layout), or NULL. */
const struct recipe_output *recipe_first_disk(const struct recipe *r);

/* "bios", "uefi", "hybrid" (or "none" for a disk that does not boot). */
const char *recipe_firmware_name(enum recipe_firmware f);

/* Packages a secure_boot disk needs in the image for Debian's signed chain;
 * the appliance installs those the recipe does not list itself. */
#define RECIPE_SECURE_BOOT_PACKAGES { "shim-signed", "grub-efi-amd64-signed" }

/* Name of an output type ("oci", "tar", "qcow2", "raw"). */
const char *recipe_output_name(enum recipe_output_type t);

#endif
