/* customize.c - packages, run commands, services and sysprep inside the guest. */
#include "disk/customize.h"
#include "disk/disk.h"
#include "disk/disk-internal.h"

#include <string.h>

#include "common/common.h"
#include "common/log.h"
#include "common/banned.h"

#define APT_TIMEOUT 1800
#define RESOLV "/etc/resolv.conf"
#define RESOLV_SAVED "/etc/resolv.conf.kiln-saved"
#define POLICY_RC "/usr/sbin/policy-rc.d"

/* The guest's DNS points at the appliance's resolver while apt runs. */
static int net_setup(guestfs_h *g, int *saved, struct kiln_err *err)
{
    *saved = 0;
    if (guest_exists(g, RESOLV)) {
        if (guestfs_mv(g, RESOLV, RESOLV_SAVED) < 0)
            return guest_fail(g, err, KILN_EFAIL, "cannot set aside '%s'", RESOLV);
        *saved = 1;
    }
    static const char conf[] = "nameserver 10.0.2.3\n";
    return guest_write(g, RESOLV, conf, sizeof(conf) - 1, 0644, err);
}

static int net_restore(guestfs_h *g, int saved, struct kiln_err *err)
{
    if (guestfs_rm_f(g, RESOLV) < 0)
        return guest_fail(g, err, KILN_EFAIL, "cannot remove '%s'", RESOLV);
    if (saved && guestfs_mv(g, RESOLV_SAVED, RESOLV) < 0)
        return guest_fail(g, err, KILN_EFAIL, "cannot restore '%s'", RESOLV);
    return 0;
}

/* Debian's signed chain for a secure_boot disk, where the recipe does not
 * list it: the packages apt installs beside the recipe's own. */
static size_t boot_packages(const struct recipe *r, const char *out[2])
{
    const struct recipe_output *o = recipe_first_disk(r);
    size_t n = 0;
    if (!o || !o->bootable || !o->secure_boot)
        return 0;
    static const char *const chain[] = RECIPE_SECURE_BOOT_PACKAGES;
    for (size_t i = 0; i < ARRAY_SIZE(chain); i++) {
        int listed = 0;
        for (int pass = 0; pass < 2; pass++) {
            const struct strv *v = pass == 0 ? &r->base.packages : &r->packages;
            for (size_t j = 0; j < v->n; j++)
                listed |= strcmp(v->v[j], chain[i]) == 0;
        }
        if (!listed)
            out[n++] = chain[i];
    }
    return n;
}

static int install_packages(guestfs_h *g, const struct recipe *r, struct kiln_err *err)
{
    const char *extra[2];
    size_t n_extra = boot_packages(r, extra);
    if (!guest_exists(g, "/usr/bin/apt-get"))
        return kiln_errf(err, KILN_EINVAL, "%s needs apt-get, and the base has no '/usr/bin/apt-get'",
                         r->packages.n ? "'packages'" : "secure_boot (to install shim-signed and grub-efi-amd64-signed)");
    kiln_log(KILN_LOG_INFO, "installing %zu package(s) with apt-get", r->packages.n + n_extra);
    int saved;
    int ret = net_setup(g, &saved, err);
    if (ret < 0)
        return ret;
    int own_policy = !guest_exists(g, POLICY_RC);
    if (own_policy) {
        static const char policy[] = "#!/bin/sh\nexit 101\n";
        ret = guest_write(g, POLICY_RC, policy, sizeof(policy) - 1, 0755, err);
    }
    if (ret == 0) {
        /* no Translation-* indexes: nothing in a build reads them, and the lists go after it */
        char *update[] = { "apt-get", "-q", "-o", "Acquire::Languages=none", "update", NULL };
        ret = guest_run(g, "apt-get update", update, APT_TIMEOUT, err);
    }
    if (ret == 0) {
        _cleanup_free_ char **argv = xcalloc(r->packages.n + n_extra + 10, sizeof(char *));
        size_t k = 0;
        argv[k++] = "apt-get";
        argv[k++] = "-q";
        argv[k++] = "-y";
        argv[k++] = "--no-install-recommends";
        argv[k++] = "-o";
        argv[k++] = "Dpkg::Options::=--force-confold";
        argv[k++] = "install";
        for (size_t i = 0; i < r->packages.n; i++)
            argv[k++] = r->packages.v[i];
        for (size_t i = 0; i < n_extra; i++)
            argv[k++] = (char *)extra[i];
        argv[k] = NULL;
        ret = guest_run(g, "apt-get install", argv, APT_TIMEOUT, err);
    }
    if (ret == 0) {
        char *clean[] = { "apt-get", "clean", NULL };
        ret = guest_run(g, "apt-get clean", clean, APT_TIMEOUT, err);
    }
    struct kiln_err err2 = KILN_ERR_INIT;
    if (own_policy)
        guestfs_rm_f(g, POLICY_RC);
    int r2 = net_restore(g, saved, &err2);
    if (ret == 0 && r2 < 0) {
        *err = err2;
        ret = r2;
    }
    return ret;
}

static int run_commands(guestfs_h *g, const struct recipe *r, struct kiln_err *err)
{
    if (r->n_run && !guest_exists(g, "/bin/sh"))
        return kiln_errf(err, KILN_EINVAL, "'run' needs a shell, and the base has no '/bin/sh'");
    for (size_t i = 0; i < r->n_run; i++) {
        const struct recipe_run *c = &r->run[i];
        unsigned t = c->timeout ? c->timeout : RECIPE_DEFAULT_RUN_TIMEOUT;
        kiln_log(KILN_LOG_INFO, "run: %s", c->command);
        int ret = guest_sh(g, c->command, c->command, t, err);
        if (ret < 0)
            return ret;
    }
    return 0;
}

static int services(guestfs_h *g, const struct recipe *r, struct kiln_err *err)
{
    if (!r->services_enable.n && !r->services_disable.n)
        return 0;
    if (!guest_exists(g, "/bin/systemctl") && !guest_exists(g, "/usr/bin/systemctl"))
        return kiln_errf(err, KILN_EINVAL, "'services' needs systemd, and the base has no systemctl");
    for (int pass = 0; pass < 2; pass++) {
        const struct strv *v = pass == 0 ? &r->services_enable : &r->services_disable;
        const char *verb = pass == 0 ? "enable" : "disable";
        for (size_t i = 0; i < v->n; i++) {
            _cleanup_free_ char *what = xasprintf("systemctl %s %s", verb, v->v[i]);
            char *argv[] = { "systemctl", (char *)verb, v->v[i], NULL };
            int ret = guest_run(g, what, argv, 300, err);
            if (ret < 0)
                return ret;
        }
    }
    return 0;
}

int customize_apply(guestfs_h *g, const struct recipe *r, struct kiln_err *err)
{
    int ret = 0;
    const char *extra[2];
    size_t n_extra = boot_packages(r, extra);
    if (!r->packages.n && !n_extra && !r->n_run && !r->services_enable.n && !r->services_disable.n)
        return 0;
    /* Commands run chrooted with /dev, /proc and /sys bound in, which needs the mountpoints. */
    static const char *const mps[] = { "/dev", "/proc", "/sys", "/tmp", NULL };
    for (const char *const *p = mps; *p; p++)
        if (!guest_exists(g, *p) && guestfs_mkdir_mode(g, *p, strcmp(*p, "/tmp") == 0 ? 01777 : 0755) < 0)
            return guest_fail(g, err, KILN_EFAIL, "cannot create '%s' in the guest", *p);
    if (r->packages.n || n_extra)
        ret = install_packages(g, r, err);
    if (ret == 0)
        ret = run_commands(g, r, err);
    if (ret == 0)
        ret = services(g, r, err);
    return ret;
}

/* Removes the regular files (and sockets, fifos) below dir, keeping directories and symlinks. */
static int rm_files_below(guestfs_h *g, const char *dir, const char *const *keep, struct kiln_err *err)
{
    if (guestfs_is_dir(g, dir) != 1)
        return 0;
    char **names = guestfs_find(g, dir);
    if (!names)
        return guest_fail(g, err, KILN_EFAIL, "cannot list '%s'", dir);
    int ret = 0;
    for (char **p = names; *p && ret == 0; p++) {
        int kept = 0;
        for (const char *const *k = keep; k && *k; k++)
            if (strcmp(*p, *k) == 0)
                kept = 1;
        if (kept)
            continue;
        _cleanup_free_ char *path = xasprintf("%s/%s", dir, *p);
        if (guestfs_is_file(g, path) == 1 && guestfs_rm(g, path) < 0)
            ret = guest_fail(g, err, KILN_EFAIL, "cannot remove '%s'", path);
    }
    guest_free_strings(names);
    return ret;
}

static int empty_dir(guestfs_h *g, const char *dir, struct kiln_err *err)
{
    if (guestfs_is_dir(g, dir) != 1)
        return 0;
    char **names = guestfs_ls(g, dir);
    if (!names)
        return guest_fail(g, err, KILN_EFAIL, "cannot list '%s'", dir);
    int ret = 0;
    for (char **p = names; *p && ret == 0; p++) {
        _cleanup_free_ char *path = xasprintf("%s/%s", dir, *p);
        if (guestfs_rm_rf(g, path) < 0)
            ret = guest_fail(g, err, KILN_EFAIL, "cannot remove '%s'", path);
    }
    guest_free_strings(names);
    return ret;
}

static int rm_glob(guestfs_h *g, const char *pattern, struct kiln_err *err)
{
    char **paths = guestfs_glob_expand(g, pattern);
    if (!paths)
        return guest_fail(g, err, KILN_EFAIL, "cannot expand '%s'", pattern);
    int ret = 0;
    for (char **p = paths; *p && ret == 0; p++)
        if (guestfs_rm_rf(g, *p) < 0)
            ret = guest_fail(g, err, KILN_EFAIL, "cannot remove '%s'", *p);
    guest_free_strings(paths);
    return ret;
}

/* What apt, dpkg, ldconfig, debconf and the tools they run leave behind
 * that depends on when and where the build ran rather than on what it
 * installed (after Debian's reproducible-builds work).  Each goes: the
 * tool that owns it makes it again when it needs it.
 *   /var/cache/ldconfig/aux-cache    ldconfig's cache of the inode numbers,
 *                                    ctimes and sizes of the libraries it read
 *   /var/cache/apt/ *.bin            apt's memory-mapped package caches, made
 *                                    from the lists and their fetch times
 *   /var/lib/apt/lists/ files        the mirror's indexes as fetched (their
 *                                    dates and the mirror's state that day);
 *                                    `apt-get update` fetches them again
 *   /var/log/apt/, dpkg.log,         logs with the wall-clock time of each
 *   alternatives.log                 action
 *   /var/cache/debconf/ *-old,       the previous copies of debconf's and
 *   /var/lib/dpkg/ *-old             dpkg's databases
 *   /etc/passwd- group- shadow-      the backups shadow's tools write before
 *   gshadow- subuid- subgid-         each change (the state of one step ago)
 *   /var/lib/systemd/catalog/database  journald's catalog index, rebuilt by
 *                                    `journalctl --update-catalog`
 *   /var/cache/man/ index.db         man-db's index, with the pages' mtimes
 *   /var/cache/fontconfig/ files     fontconfig's caches, with directory mtimes
 * Commands run with SOURCE_DATE_EPOCH (guest_set_epoch()), so that useradd's
 * password dates and Python's byte code (checked-hash .pyc) follow the
 * build's time; file times are clamped to it when the tree is read back. */
static const char *const build_leftovers[] = {
    "/var/cache/ldconfig/aux-cache", "/var/cache/apt/*.bin", "/var/log/dpkg.log",
    "/var/log/alternatives.log", "/var/cache/debconf/*-old", "/var/lib/dpkg/*-old",
    "/etc/passwd-", "/etc/group-", "/etc/shadow-", "/etc/gshadow-", "/etc/subuid-", "/etc/subgid-",
    "/var/lib/systemd/catalog/database", "/var/cache/man/index.db", "/var/cache/man/*/index.db",
    NULL,
};

static const char *const apt_keep[] = { "lock", "partial", NULL };

int normalise_build_leftovers(guestfs_h *g, struct kiln_err *err)
{
    kiln_log(KILN_LOG_INFO, "removing what the build left that depends on its time and place");
    int ret = 0;
    for (const char *const *p = build_leftovers; *p && ret == 0; p++)
        ret = rm_glob(g, *p, err);
    if (ret == 0)
        ret = rm_files_below(g, "/var/log/apt", NULL, err);
    if (ret == 0)
        ret = rm_files_below(g, "/var/lib/apt/lists", apt_keep, err);
    if (ret == 0)
        ret = rm_files_below(g, "/var/cache/fontconfig", NULL, err);
    return ret;
}

/* sshd refuses to start without host keys: make the first boot make them. */
static int ssh_keys_at_first_boot(guestfs_h *g, struct kiln_err *err)
{
    if (!guest_exists(g, "/usr/sbin/sshd"))
        return 0;
    if (guestfs_is_dir(g, "/etc/systemd/system") != 1)
        return kiln_errf(err, KILN_EFAIL, "sysprep: sshd is installed but the image has no systemd to regenerate its host keys at first boot");
    int ret = guest_write(g, "/etc/systemd/system/" DISK_SSH_KEYGEN_UNIT, DISK_SSH_KEYGEN_SERVICE, sizeof(DISK_SSH_KEYGEN_SERVICE) - 1, 0644, err);
    if (ret < 0)
        return ret;
    if (guestfs_mkdir_p(g, "/etc/systemd/system/multi-user.target.wants") < 0 ||
        guestfs_ln_sf(g, "/etc/systemd/system/" DISK_SSH_KEYGEN_UNIT,
                      "/etc/systemd/system/multi-user.target.wants/" DISK_SSH_KEYGEN_UNIT) < 0)
        return guest_fail(g, err, KILN_EFAIL, "sysprep: cannot enable '%s'", DISK_SSH_KEYGEN_UNIT);
    return 0;
}

int sysprep_apply(guestfs_h *g, struct kiln_err *err)
{
    kiln_log(KILN_LOG_INFO, "sysprep: removing machine identity, host keys, logs and caches");
    int ret = 0;
    if (guestfs_is_file(g, "/etc/machine-id") == 1 && guestfs_truncate(g, "/etc/machine-id") < 0)
        return guest_fail(g, err, KILN_EFAIL, "sysprep: cannot empty '/etc/machine-id'");
    if (guestfs_is_file(g, "/var/lib/dbus/machine-id") == 1 && guestfs_rm(g, "/var/lib/dbus/machine-id") < 0)
        return guest_fail(g, err, KILN_EFAIL, "sysprep: cannot remove '/var/lib/dbus/machine-id'");
    static const char *const globs[] = {
        "/etc/ssh/ssh_host_*", "/var/lib/cloud/instance", "/var/lib/cloud/instances",
        "/var/lib/cloud/data", "/var/lib/cloud/sem", "/var/lib/systemd/random-seed",
        "/var/cache/apt/*.bin", "/var/cache/apt/archives/*.deb", NULL,
    };
    for (const char *const *p = globs; *p && ret == 0; p++)
        ret = rm_glob(g, *p, err);
    if (ret == 0)
        ret = rm_files_below(g, "/var/log", NULL, err);
    if (ret == 0)
        ret = rm_files_below(g, "/var/lib/apt/lists", apt_keep, err);
    if (ret == 0)
        ret = empty_dir(g, "/tmp", err);
    if (ret == 0)
        ret = empty_dir(g, "/var/tmp", err);
    if (ret == 0)
        ret = ssh_keys_at_first_boot(g, err);
    return ret < 0 ? kiln_err_prefix(err, "sysprep") : 0;
}

static int any_file_below(guestfs_h *g, const char *dir, const char *const *keep, char **found)
{
    *found = NULL;
    if (guestfs_is_dir(g, dir) != 1)
        return 0;
    char **names = guestfs_find(g, dir);
    if (!names)
        return -1;
    for (char **p = names; *p && !*found; p++) {
        int kept = 0;
        for (const char *const *k = keep; k && *k; k++)
            if (strcmp(*p, *k) == 0)
                kept = 1;
        _cleanup_free_ char *path = xasprintf("%s/%s", dir, *p);
        if (!kept && guestfs_is_file(g, path) == 1)
            *found = TAKE_PTR(path);
    }
    guest_free_strings(names);
    return 0;
}

int sysprep_check(guestfs_h *g, struct kiln_err *err)
{
    if (guestfs_is_file(g, "/etc/machine-id") == 1 && guestfs_filesize(g, "/etc/machine-id") != 0)
        return kiln_errf(err, KILN_EFAIL, "sysprep check: '/etc/machine-id' is not empty");
    char **keys = guestfs_glob_expand(g, "/etc/ssh/ssh_host_*");
    if (!keys)
        return guest_fail(g, err, KILN_EFAIL, "sysprep check: cannot list '/etc/ssh'");
    if (keys[0]) {
        int r = kiln_errf(err, KILN_EFAIL, "sysprep check: SSH host key '%s' is still in the image", keys[0]);
        guest_free_strings(keys);
        return r;
    }
    guest_free_strings(keys);
    if (guest_exists(g, "/usr/sbin/sshd") &&
        !guest_exists(g, "/etc/systemd/system/multi-user.target.wants/" DISK_SSH_KEYGEN_UNIT))
        return kiln_errf(err, KILN_EFAIL, "sysprep check: nothing regenerates the SSH host keys at first boot");
    static const char *const gone[] = { "/var/lib/cloud/instance", "/var/lib/cloud/instances",
                                        "/var/lib/dbus/machine-id", NULL };
    for (const char *const *p = gone; *p; p++)
        if (guest_exists(g, *p) && !(strcmp(*p, "/var/lib/dbus/machine-id") == 0 &&
                                     guestfs_is_symlink(g, *p) == 1))
            return kiln_errf(err, KILN_EFAIL, "sysprep check: '%s' is still in the image", *p);
    static const struct { const char *dir; const char *const *keep; } dirs[] = {
        { "/var/log", NULL }, { "/var/lib/apt/lists", apt_keep }, { "/tmp", NULL }, { "/var/tmp", NULL },
    };
    for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
        char *found = NULL;
        if (any_file_below(g, dirs[i].dir, dirs[i].keep, &found) < 0)
            return guest_fail(g, err, KILN_EFAIL, "sysprep check: cannot list '%s'", dirs[i].dir);
        if (found) {
            int r = kiln_errf(err, KILN_EFAIL, "sysprep check: '%s' is still in the image", found);
            free(found);
            return r;
        }
    }
    return 0;
}
