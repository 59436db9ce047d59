/* fleet.h - hosts made from signed images, through libvirt.
 *
 * A host is a libvirt domain that kiln created.  Its XML <metadata> holds
 * one element in kiln's namespace (FLEET_NS) that says what it is:
 *
 *   <kiln:host group="web" image="debian-vm" version="1.0.1"
 *              digest="sha256:..."  disk="sha256:..." key="sha256:..."
 *              deployed="2026-12-02T07:00:00Z" generation="2"
 *              state="active" replaces="web-1"/>
 *
 * state: pending (created, not yet healthy), active (serving), retired
 * (replaced: shut down, kept with its disk), failed (never became healthy,
 * or put aside by replace: shut down, kept for analysis, never deleted).
 * A generation is one image rolled onto a group; `--keep N` prunes retired
 * hosts of older generations (domain and disk), never failed ones.
 *
 * Disks: the image's disk is uploaded once per storage pool as the volume
 * "kiln-<hex>.<format>" (the disk blob's digest); each host gets a qcow2
 * overlay "<host>.qcow2" on it.  Hosts boot with a serial console; health
 * is the boot marker read from libvirt's console stream (the console is
 * poked with a newline, so a getty that already printed "login:" prints it
 * again).
 *
 * The group lock is a libvirt object, not a local file, so operators on
 * other machines see it: the inactive domain "kiln-lock-<group>" with a
 * <kiln:lock> element (pid, host, operation, since).  Defining a domain
 * whose name exists fails, which makes taking it atomic.  A lock whose
 * process is gone (same machine, pid not alive) is taken over.
 *
 * Only fleet/ includes libvirt's headers; libvirt's errors become kiln's
 * (prefixed with what was being done and the connection URI).  Progress
 * goes through kiln_log() (INFO), one line per host event.  Every string
 * in the structs below is owned by the struct unless said otherwise. */
#ifndef KILN_FLEET_H
#define KILN_FLEET_H

#include <jansson.h>
#include <stdint.h>

#include "common/err.h"

#define FLEET_NS "https://kiln.dev/ns/fleet/1"
#define FLEET_NS_PREFIX "kiln"
#define FLEET_GROUP_MAX 48
#define FLEET_DEFAULT_POOL "default"
#define FLEET_DEFAULT_MEMORY_MIB 1024
#define FLEET_DEFAULT_VCPUS 1
#define FLEET_DEFAULT_KEEP 2
#define FLEET_DEFAULT_STOP_TIMEOUT 20

enum fleet_state { FLEET_PENDING, FLEET_ACTIVE, FLEET_RETIRED, FLEET_FAILED };
const char *fleet_state_name(enum fleet_state s);

/* A kiln host as its domain says. */
struct fleet_host {
    char *name;          /* the domain's name */
    char *uri;           /* the connection it was found on */
    char *group;
    char *image_name, *image_version;
    char *image_digest;  /* the image's manifest (or index) digest */
    char *disk_digest;   /* the disk blob's digest */
    char *key_id;        /* the key that verified the image */
    char *deployed;      /* RFC 3339 UTC */
    char *replaces;      /* the host this one replaced, or NULL */
    unsigned generation;
    enum fleet_state state;
    int running;         /* the domain is running */
    char **disks;        /* NULL-terminated source paths of its disks */
};
void fleet_host_release(struct fleet_host *h);
void fleet_hosts_free(struct fleet_host *v, size_t n);

/* 0 when g is a usable group name: 1-FLEET_GROUP_MAX of [a-z0-9-], not
 * starting with '-'; KILN_EINVAL naming it otherwise. */
int fleet_group_check(const char *g, struct kiln_err *err);

/* ---- connections ---------------------------------------------------------- */

struct fleet;
/* Opens a libvirt connection (uri NULL: libvirt's default, e.g.
 * $LIBVIRT_DEFAULT_URI).  fleet_close() accepts NULL. */
int fleet_open(const char *uri, struct fleet **out, struct kiln_err *err);
void fleet_close(struct fleet *f);
/* The connection's URI (borrowed). */
const char *fleet_uri(const struct fleet *f);

/* The kiln hosts of the connection (of group, when not NULL), sorted by
 * group, generation and name.  *out: fleet_hosts_free(). */
int fleet_list(struct fleet *f, const char *group, struct fleet_host **out, size_t *n, struct kiln_err *err);
/* One host by domain name; KILN_ENOTFOUND when no such domain, KILN_EINVAL
 * when the domain is not one of kiln's. */
int fleet_host_get(struct fleet *f, const char *name, struct fleet_host *out, struct kiln_err *err);
/* The same on a connection opened and closed here: for a host (domain,
 * URI) its disk paths (out->disks) and the image it was made from. */
int fleet_host_lookup(const char *uri, const char *name, struct fleet_host *out, struct kiln_err *err);

/* ---- the group lock ------------------------------------------------------------ */

/* Takes the group's lock for operation op ("deploy", "rollout", ...).
 * KILN_EEXIST naming the holder when another process holds it. */
int fleet_lock(struct fleet *f, const char *group, const char *op, struct kiln_err *err);
/* Drops the lock taken by this process (nothing when it holds none). */
int fleet_unlock(struct fleet *f, const char *group, struct kiln_err *err);

/* ---- making hosts -------------------------------------------------------------- */

/* A verified image: what the program checked (signature, blobs) before any
 * host is touched.  Borrowed strings. */
struct fleet_image {
    const char *name, *version, *digest, *key_id;
    const char *disk_path;    /* the disk blob, read only */
    const char *disk_format;  /* "qcow2" or "raw" */
    const char *disk_digest;
};

/* ---- health probes ------------------------------------------------------------ */

/* Optionally a new host is healthy only when, after its boot marker, a
 * probe to one of its guest ports passes:
 *   TCP:  a connect (non-blocking, each attempt bounded) is accepted;
 *   HTTP: a GET of the path answers 2xx (libcurl, no proxy, no redirects,
 *         each attempt bounded in time, at most FLEET_PROBE_BODY_MAX bytes
 *         of the body read).
 * The address is the one libvirt reports for the guest: for a host on a
 * libvirt network, its first IPv4 address (else a global IPv6 one) from the
 * network's DHCP leases, then the guest agent, then the ARP table.  A host
 * on qemu's user-mode networking has no address of its own: kiln gives it
 * a forward from 127.0.0.1:P (a free port of the hypervisor's loopback) to
 * the probe's port, in its domain's definition, and probes that; so that
 * needs a local connection, and only HTTP: qemu itself accepts every
 * forwarded connection, whether the guest listens or not, so a TCP probe
 * would pass on a guest that does not.  Attempts repeat about every second
 * until the health timeout; the last error is what the host's failure
 * names, with the address and the port. */
enum fleet_probe_kind { FLEET_PROBE_NONE, FLEET_PROBE_TCP, FLEET_PROBE_HTTP };
#define FLEET_PROBE_BODY_MAX (64u * 1024)
#define FLEET_PROBE_ATTEMPT_SECONDS 5
#define FLEET_PROBE_PATH_MAX 1024

struct fleet_probe {
    enum fleet_probe_kind kind;
    unsigned port;             /* the guest's port, 1-65535 */
    const char *path;          /* HTTP: starts with '/' (borrowed) */
};
/* "TCP" or "HTTP" (or "none"). */
const char *fleet_probe_kind_name(enum fleet_probe_kind k);
/* Parses a probe: "PORT" for TCP, "PORT[/PATH]" for HTTP (path "/" when
 * not given; printable ASCII without spaces, at most FLEET_PROBE_PATH_MAX).
 * out->path points into arg or at a static "/".  KILN_EINVAL otherwise. */
int fleet_probe_parse(enum fleet_probe_kind kind, const char *arg, struct fleet_probe *out, struct kiln_err *err);

/* How hosts are made and when they count as up.  Borrowed strings. */
struct fleet_spec {
    const char *group;
    const char *pool;          /* storage pool (NULL: FLEET_DEFAULT_POOL) */
    unsigned memory_mib, vcpus;/* 0: the defaults above */
    const char *network;       /* "user" (default), "none", or a libvirt network's name */
    const char *domain_type;   /* "kvm" or "qemu" (TCG) */
    const char *marker;        /* the boot marker; NULL: no console check (a probe only, or tests of the wave logic) */
    struct fleet_probe probe;  /* checked after the marker (kind NONE: no probe) */
    unsigned timeout;          /* seconds for a new host to become healthy */
    unsigned stop_timeout;     /* seconds a graceful shutdown may take before the host is destroyed (0: default) */
};

/* 0 when hosts can be made and checked as s says on f: KILN_EINVAL for a
 * probe the network cannot carry (see the probes above).  deploy, rollout
 * and replace check it before they touch a host. */
int fleet_spec_check(const struct fleet *f, const struct fleet_spec *s, struct kiln_err *err);

struct fleet_rollout_opts {
    unsigned max_surge;        /* new hosts started before old ones stop */
    unsigned max_unavailable;  /* old hosts that may be down at once */
    unsigned pause;            /* seconds between waves */
    unsigned keep;             /* retired generations kept */
    int auto_rollback;         /* on a failed wave, bring the replaced hosts back */
};

/* Each operation below appends what it did to the JSON array report, one
 * object per host event ({"host", "event", "image", "version", "seconds"?,
 * "error"?}); events: created, healthy, unhealthy, retired, restored,
 * pruned, adopted.  The caller holds the group lock. */

/* Creates count hosts of img in s->group and waits until each is healthy.
 * A host that does not become healthy is stopped and kept (failed); the
 * others stay.  Refused (KILN_EINVAL) when the group has active hosts of
 * another image. */
int fleet_deploy(struct fleet *f, const struct fleet_image *img, const struct fleet_spec *s, unsigned count,
                 json_t *report, struct kiln_err *err);

/* Replaces every active host of the group that does not run img with a new
 * one, in waves of max_surge + max_unavailable old hosts: max_unavailable
 * of them stop first, the new hosts start, and when all are healthy the
 * rest stop.  A new host that does not become healthy stops the rollout
 * (KILN_EFAIL): it is stopped and kept (failed), the old hosts it was to
 * replace run again, and with auto_rollback every host replaced in this
 * generation is brought back and the new ones retired.  Continues what an
 * interrupted rollout of the same image left (pending hosts are checked,
 * old hosts already replaced are retired).  Prunes retired generations
 * beyond o->keep at the end. */
int fleet_rollout(struct fleet *f, const struct fleet_image *img, const struct fleet_spec *s,
                  const struct fleet_rollout_opts *o, json_t *report, struct kiln_err *err);

/* Starts a fresh host of img in host's group, waits until it is healthy,
 * then stops host and keeps it as failed (never deleted).  img must be
 * the image host was made from (checked by digest). */
int fleet_replace(struct fleet *f, const char *host, const struct fleet_image *img, const struct fleet_spec *s,
                  json_t *report, struct kiln_err *err);

/* The image the group ran before its current one: the newest retired
 * generation whose digest differs from the active hosts'.  *name, *version,
 * *digest caller-owned.  KILN_ENOTFOUND when there is none. */
int fleet_previous_image(struct fleet *f, const char *group, char **name, char **version, char **digest,
                         struct kiln_err *err);

#endif
