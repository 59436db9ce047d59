/* fleet-internal.h - what fleet/'s files share; only fleet/ includes it. */
#ifndef KILN_FLEET_INTERNAL_H
#define KILN_FLEET_INTERNAL_H

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <stdarg.h>

#include "fleet/fleet.h"
#include "common/buf.h"
#include "common/cleanup.h"
#include "common/log.h"

struct fleet {
    virConnectPtr conn;
    char *uri;
    int is_test; /* libvirt's test driver: domain type 'test' */
};

DEFINE_CLEANUP(struct _virDomain, virDomainFree)

/* libvirt's last error as kiln's: "<what> on '<uri>': <libvirt's message>",
 * KILN_ENOTFOUND for a missing domain, and a lost connection named as such. */
int fleet_virt_err(struct fleet *f, struct kiln_err *err, const char *fmt, ...) KILN_PRINTF(3, 4);
/* s with XML's special characters escaped (caller-owned). */
char *fleet_xml_escape(const char *s);
/* The <host> metadata element of h (caller-owned). */
char *fleet_host_meta_xml(const struct fleet_host *h);
/* Rewrites dom's metadata from h. */
int fleet_meta_write(struct fleet *f, virDomainPtr dom, const struct fleet_host *h, struct kiln_err *err);

/* probe.c */
/* The index in addrs (numeric IPv4 or IPv6 addresses) of the one a probe
 * uses: the first IPv4 address that is not loopback, unspecified or
 * link-local, else the first such IPv6 address; -1 when none is. */
int fleet_addr_pick(const char *const *addrs, size_t n);
/* The loopback port that a domain's XML forwards to guest_port (the
 * <qemu:commandline> of fleet_hostfwd_xml()); 0 when it has none. */
unsigned fleet_hostfwd_port(const char *domain_xml, unsigned guest_port);
/* A user-mode NIC with the forward 127.0.0.1:host_port -> guest_port, as
 * the <qemu:commandline> element of a domain (caller-owned); the domain's
 * root declares xmlns:qemu=fleet_qemu_ns(). */
char *fleet_hostfwd_xml(unsigned host_port, unsigned guest_port);
const char *fleet_qemu_ns(void);
/* A port of 127.0.0.1 that is free now. */
int fleet_free_port(unsigned *port, struct kiln_err *err);
/* One attempt of probe p at addr ("A.B.C.D" or "[v6]") and port, within
 * seconds: 1 passed, 0 not (why: caller-owned).  *target (caller-owned):
 * what was probed, "http://addr:port/path" or "addr:port". */
int fleet_probe_once(const struct fleet_probe *p, const char *addr, unsigned port, unsigned seconds, char **target,
                     char **why);
/* Probes dom as s->probe says until deadline: 1 passed, 0 not (why in
 * *why, caller-owned: the address, the port and the last error), <0 when
 * libvirt fails. */
int fleet_probe_wait(struct fleet *f, virDomainPtr dom, const struct fleet_spec *s, time_t deadline, char **why,
                     struct kiln_err *err);

/* host.c */
/* Creates host h (name, group, image fields, generation, state pending
 * filled in by the caller): its overlay volume on the image's base volume
 * (uploaded first when the pool lacks it), its domain, started.  On
 * failure nothing of it is left. */
int fleet_host_create(struct fleet *f, const struct fleet_image *img, const struct fleet_spec *s,
                      struct fleet_host *h, struct kiln_err *err);
/* Waits until deadline (time(NULL) clock) for s->marker on the host's
 * console, then for s->probe to pass; 1 healthy, 0 not (why in *why,
 * caller-owned), <0 on error. */
int fleet_host_wait(struct fleet *f, const char *name, const struct fleet_spec *s, time_t deadline,
                    char **why, struct kiln_err *err);
/* Sets the host's state in its metadata and, with stop, shuts it down
 * (gracefully for up to s->stop_timeout seconds, then destroys it). */
int fleet_host_set_state(struct fleet *f, struct fleet_host *h, enum fleet_state st, int stop,
                         const struct fleet_spec *s, struct kiln_err *err);
/* Starts a stopped host again. */
int fleet_host_start(struct fleet *f, const char *name, struct kiln_err *err);
/* Undefines a retired host and deletes its overlay volume. */
int fleet_host_delete(struct fleet *f, const struct fleet_host *h, struct kiln_err *err);

#endif
