/* customize.h - in-guest steps on a mounted libguestfs handle (disk/'s own files only). */
#ifndef KILN_CUSTOMIZE_H
#define KILN_CUSTOMIZE_H

#include "disk/guest.h"
#include "recipes/recipe.h"

/* packages (apt-get, network on the handle), run commands, services. */
int customize_apply(guestfs_h *g, const struct recipe *r, struct kiln_err *err);

/* Removes what the in-guest steps left that depends on the build's time
 * and place rather than on its inputs (caches, logs, backups: the list and
 * why each goes is in customize.c), so that the same recipe gives the same
 * image.  Runs after every in-guest step, with or without sysprep. */
int normalise_build_leftovers(guestfs_h *g, struct kiln_err *err);

/* Removes per-instance state: machine-id, SSH host keys (regenerated at
 * first boot by a unit when sshd is present), cloud-init state, /var/log
 * files, apt lists, /tmp and /var/tmp. */
int sysprep_apply(guestfs_h *g, struct kiln_err *err);

/* The post-condition: fails naming the first leftover it finds. */
int sysprep_check(guestfs_h *g, struct kiln_err *err);

/* Disk layout (layout.c).  Partitions /dev/sda of size bytes for o as
 * disk_plan_parts() plans it (filling *parts), makes the ext4 root (and a
 * FAT on the ESP for grub-install) and returns the root's device (owned by
 * the caller).  The GPT's GUIDs and the root file system's UUID come from
 * the recipe (disk_stable_uuid()). */
struct disk_parts;
int disk_partition(guestfs_h *g, const struct recipe *r, const struct recipe_output *o, uint64_t size,
                   struct disk_parts *parts, char **root_dev, struct kiln_err *err);

/* Writes /etc/fstab (root by UUID, the ESP by volume ID) and, when
 * o->bootable, installs GRUB from the guest with console=ttyS0: for BIOS
 * into the BIOS boot partition, for UEFI at the ESP's removable-media path
 * (shim and signed GRUB when o->secure_boot, after checking the chain is
 * signed).  The ESP's EFI/ directory is copied to the host directory
 * esp_out.  The root must be mounted at /. */
int disk_finish(guestfs_h *g, const struct recipe *r, const struct recipe_output *o, const struct disk_parts *parts,
                const char *root_dev, const char *esp_out, struct kiln_err *err);

#endif
