/* seed.h - a NoCloud seed for cloud-init, to boot a disk with.
 *
 * cloud-init's NoCloud data source reads its configuration from a file
 * system labelled "cidata" holding `user-data`, `meta-data` and, when
 * given, `network-config` and `vendor-data`.  seed_iso_write() makes that
 * file system as an ISO 9660 image with libarchive's writer (volume ID
 * "cidata"; Rock Ridge and Joliet, so the names keep their case and
 * hyphen), the layout `cloud-localds` and `genisoimage -V cidata -r -J`
 * make.  The files' contents are not checked here: what cloud-init makes
 * of them (an error on the console, for user data it cannot read) is what
 * a boot test shows. */
#ifndef KILN_SEED_H
#define KILN_SEED_H

#include "common/err.h"

#define SEED_MAX_FILE (16u << 20) /* each file of a seed */

/* Host files; only user_data is required.  Borrowed, not owned. */
struct seed_files {
    const char *user_data;
    const char *meta_data;      /* NULL: "instance-id: kiln-<SHA-256 of the user data, 16 hex>" */
    const char *network_config; /* NULL: none (cloud-init falls back to DHCP on the first NIC) */
    const char *vendor_data;    /* NULL: none */
};

/* Fills the NULL members of f from the files of those names in dir that
 * exist (user-data must, unless f->user_data is set).  The strings are
 * allocated in *owned (a NULL-terminated vector the caller frees with
 * strv_free()).  KILN_EINVAL naming dir when it is not a directory or has
 * no user data. */
int seed_from_dir(const char *dir, struct seed_files *f, char ***owned, struct kiln_err *err);

/* Writes the seed ISO at path (a new file; it must not exist).  KILN_EINVAL
 * naming the file when one cannot be read or is larger than SEED_MAX_FILE;
 * KILN_EFAIL when the image cannot be written (path is then removed). */
int seed_iso_write(const struct seed_files *f, const char *path, struct kiln_err *err);

#endif
