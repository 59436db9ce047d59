/* host.c - one host: its disk volumes, its domain, its console health check, stopping it. */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fleet/fleet-internal.h"
#include "common/hash.h"
#include "common/banned.h"

#define CHUNK (1u << 20)
#define FLEET_CONSOLE_TAIL_LINES 10

DEFINE_CLEANUP(struct _virStoragePool, virStoragePoolFree)
DEFINE_CLEANUP(struct _virStorageVol, virStorageVolFree)
DEFINE_CLEANUP(struct _virStream, virStreamFree)

static void sleep_ms(unsigned ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* The disk's virtual size: a qcow2 header's size field, or a raw file's length. */
static int disk_virtual_size(const char *path, const char *format, uint64_t *out, struct kiln_err *err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) < 0)
        return kiln_errno(err, KILN_EFAIL, errno, "cannot read the image disk '%s'", path);
    if (strcmp(format, "qcow2") != 0) {
        *out = (uint64_t)sb.st_size;
        return 0;
    }
    unsigned char h[32];
    if (pread(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h))
        return kiln_errf(err, KILN_EINVAL, "image disk '%s': short qcow2 header", path);
    uint64_t v = 0;
    for (int i = 24; i < 32; i++)
        v = (v << 8) | h[i];
    *out = v;
    return 0;
}

/* Re-reads a base volume through libvirt and compares its SHA-256 with digest. */
static int base_matches(struct fleet *f, virStorageVolPtr vol, const char *digest, int *ok, struct kiln_err *err)
{
    *ok = 0;
    _cleanup_(virStreamFreep) virStreamPtr st = virStreamNew(f->conn, 0);
    if (!st || virStorageVolDownload(vol, st, 0, 0, 0) < 0)
        return fleet_virt_err(f, err, "reading volume '%s'", virStorageVolGetName(vol));
    struct hash_ctx *h = hash_new();
    _cleanup_free_ char *b = xmalloc(CHUNK);
    int n;
    while ((n = virStreamRecv(st, b, CHUNK)) > 0)
        hash_update(h, b, (size_t)n);
    char hex[HASH_HEX_LEN + 1];
    hash_final_hex(h, hex);
    hash_free(h);
    if (n < 0) {
        int r = fleet_virt_err(f, err, "reading volume '%s'", virStorageVolGetName(vol));
        virStreamAbort(st);
        return r;
    }
    virStreamFinish(st);
    *ok = strncmp(digest, "sha256:", 7) == 0 && strcmp(digest + 7, hex) == 0;
    return 0;
}

/* Uploads the image's disk into pool as volume name. */
static int base_upload(struct fleet *f, virStoragePoolPtr pool, const char *pool_name, const char *name,
                       const struct fleet_image *img, virStorageVolPtr *out, struct kiln_err *err)
{
    _cleanup_close_ int fd = open(img->disk_path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) < 0)
        return kiln_errno(err, KILN_EFAIL, errno, "cannot read the image disk '%s'", img->disk_path);
    _cleanup_free_ char *xml = xasprintf("<volume><name>%s</name><capacity unit='bytes'>%lld</capacity>"
                                         "<allocation unit='bytes'>0</allocation><target><format type='raw'/>"
                                         "<permissions><mode>0600</mode></permissions></target></volume>",
                                         name, (long long)sb.st_size);
    virStorageVolPtr vol = virStorageVolCreateXML(pool, xml, 0);
    if (!vol)
        return fleet_virt_err(f, err, "storage pool '%s': creating volume '%s'", pool_name, name);
    kiln_log(KILN_LOG_INFO, "uploading the disk of %s:%s to pool '%s' (%lld MiB)", img->name, img->version, pool_name,
             (long long)(sb.st_size >> 20));
    _cleanup_(virStreamFreep) virStreamPtr st = virStreamNew(f->conn, 0);
    int r = 0;
    if (!st || virStorageVolUpload(vol, st, 0, (unsigned long long)sb.st_size, 0) < 0)
        r = fleet_virt_err(f, err, "storage pool '%s': uploading to volume '%s'", pool_name, name);
    _cleanup_free_ char *b = xmalloc(CHUNK);
    while (r == 0) {
        ssize_t n = read(fd, b, CHUNK);
        if (n < 0) {
            r = kiln_errno(err, KILN_EFAIL, errno, "reading '%s'", img->disk_path);
            break;
        }
        if (n == 0)
            break;
        for (ssize_t off = 0; off < n && r == 0;) {
            int w = virStreamSend(st, b + off, (size_t)(n - off));
            if (w < 0)
                r = fleet_virt_err(f, err, "storage pool '%s': uploading to volume '%s' (is the pool full?)",
                                   pool_name, name);
            else
                off += w;
        }
    }
    if (r == 0 && virStreamFinish(st) < 0)
        r = fleet_virt_err(f, err, "storage pool '%s': finishing volume '%s' (is the pool full?)", pool_name, name);
    if (r < 0) {
        if (st)
            virStreamAbort(st);
        virStorageVolDelete(vol, 0);
        virStorageVolFree(vol);
        return r;
    }
    *out = vol;
    return 0;
}

/* The pool's volume holding the image's disk, uploaded when missing or not
 * what its digest says. */
static int base_volume(struct fleet *f, virStoragePoolPtr pool, const char *pool_name, const struct fleet_image *img,
                       virStorageVolPtr *out, struct kiln_err *err)
{
    const char *hex = strchr(img->disk_digest, ':') ? strchr(img->disk_digest, ':') + 1 : img->disk_digest;
    _cleanup_free_ char *name = xasprintf("kiln-%.64s.%s", hex, img->disk_format);
    virStorageVolPtr vol = virStorageVolLookupByName(pool, name);
    if (f->is_test) {
        /* libvirt's test driver streams no volumes: an empty one stands in */
        if (!vol)
            vol = virStorageVolCreateXML(pool, "<volume><name>kiln-test-base</name><capacity>1048576</capacity></volume>", 0);
        if (!vol)
            vol = virStorageVolLookupByName(pool, "kiln-test-base");
        if (!vol)
            return fleet_virt_err(f, err, "storage pool '%s': creating volume '%s'", pool_name, name);
        *out = vol;
        return 0;
    }
    if (vol) {
        int ok, r = base_matches(f, vol, img->disk_digest, &ok, err);
        if (r < 0) {
            virStorageVolFree(vol);
            return r;
        }
        if (ok) {
            *out = vol;
            return 0;
        }
        kiln_log(KILN_LOG_WARN, "pool '%s': volume '%s' is not what its digest says (an interrupted upload?); "
                 "uploading it again", pool_name, name);
        if (virStorageVolDelete(vol, 0) < 0) {
            r = fleet_virt_err(f, err, "storage pool '%s': deleting the damaged volume '%s'", pool_name, name);
            virStorageVolFree(vol);
            return r;
        }
        virStorageVolFree(vol);
    }
    return base_upload(f, pool, pool_name, name, img, out, err);
}

/* fwd: the loopback port forwarded to the probe's guest port (user-mode
 * networking with a probe: the NIC is qemu's, with the forward), or 0. */
static char *domain_xml(const struct fleet_spec *s, const struct fleet_host *h, const char *disk_path,
                        int is_test, unsigned fwd)
{
    /* "<host a=... />" becomes "<kiln:host xmlns:kiln=NS a=... />" */
    _cleanup_free_ char *meta = fleet_host_meta_xml(h);
    const char *attrs = meta + strlen("<host");
    _cleanup_free_ char *path = fleet_xml_escape(disk_path);
    const char *net = s->network ? s->network : "user";
    _cleanup_free_ char *enet = fleet_xml_escape(net);
    _cleanup_free_ char *iface =
        strcmp(net, "none") == 0 || fwd ? xstrdup("")
        : strcmp(net, "user") == 0 ? xstrdup("<interface type='user'><model type='virtio'/></interface>")
                                   : xasprintf("<interface type='network'><source network='%s'/><model type='virtio'/></interface>", enet);
    _cleanup_free_ char *qemu_ns = fwd ? xasprintf(" xmlns:qemu='%s'", fleet_qemu_ns()) : xstrdup("");
    _cleanup_free_ char *qemu_args = fwd ? fleet_hostfwd_xml(fwd, s->probe.port) : xstrdup("");
    return xasprintf(
        "<domain type='%s'%s>"
        "<name>%s</name>"
        "<description>kiln host of group %s</description>"
        "<metadata><%s:host xmlns:%s='%s'%s</metadata>"
        "<memory unit='MiB'>%u</memory><vcpu>%u</vcpu>"
        "<os><type arch='x86_64'>hvm</type><boot dev='hd'/></os>"
        "<features><acpi/></features>"
        "<on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot><on_crash>destroy</on_crash>"
        "<devices>"
        "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='%s'/>"
        "<target dev='vda' bus='virtio'/></disk>"
        "%s"
        "<serial type='pty'><target port='0'/></serial>"
        "<console type='pty'><target type='serial' port='0'/></console>"
        "<rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>"
        "</devices>%s</domain>",
        is_test ? "test" : s->domain_type ? s->domain_type : "qemu", qemu_ns, h->name, h->group, FLEET_NS_PREFIX, FLEET_NS_PREFIX, FLEET_NS, attrs,
        s->memory_mib ? s->memory_mib : FLEET_DEFAULT_MEMORY_MIB, s->vcpus ? s->vcpus : FLEET_DEFAULT_VCPUS, path,
        is_test ? "" : iface, qemu_args);
}

int fleet_host_create(struct fleet *f, const struct fleet_image *img, const struct fleet_spec *s,
                      struct fleet_host *h, struct kiln_err *err)
{
    const char *pool_name = s->pool ? s->pool : FLEET_DEFAULT_POOL;
    _cleanup_(virStoragePoolFreep) virStoragePoolPtr pool = virStoragePoolLookupByName(f->conn, pool_name);
    if (!pool)
        return kiln_errf(err, KILN_ENOTFOUND, "no storage pool '%s' on '%s' (make one: virsh pool-define-as %s dir --target DIR)",
                         pool_name, f->uri, pool_name);
    if (virStoragePoolIsActive(pool) != 1)
        return kiln_errf(err, KILN_EFAIL, "storage pool '%s' on '%s' is not active", pool_name, f->uri);
    virStoragePoolRefresh(pool, 0);
    uint64_t vsize = 0;
    int r = disk_virtual_size(img->disk_path, img->disk_format, &vsize, err);
    if (r < 0)
        return r;
    _cleanup_(virStorageVolFreep) virStorageVolPtr base = NULL;
    if ((r = base_volume(f, pool, pool_name, img, &base, err)) < 0)
        return r;
    _cleanup_free_ char *base_path = virStorageVolGetPath(base);
    if (!base_path)
        return fleet_virt_err(f, err, "storage pool '%s': the path of the image volume", pool_name);

    /* the host's overlay; one left by an interrupted create has no domain */
    _cleanup_free_ char *vname = xasprintf("%s.qcow2", h->name);
    virStorageVolPtr old = virStorageVolLookupByName(pool, vname);
    if (old) {
        virStorageVolDelete(old, 0);
        virStorageVolFree(old);
    }
    _cleanup_free_ char *ebase = fleet_xml_escape(base_path);
    _cleanup_free_ char *vxml = xasprintf(
        "<volume><name>%s</name><capacity unit='bytes'>%llu</capacity>"
        "<target><format type='qcow2'/><permissions><mode>0600</mode></permissions></target>"
        "<backingStore><path>%s</path><format type='%s'/></backingStore></volume>",
        vname, (unsigned long long)vsize, ebase, img->disk_format);
    _cleanup_(virStorageVolFreep) virStorageVolPtr vol = virStorageVolCreateXML(pool, vxml, 0);
    if (!vol)
        return fleet_virt_err(f, err, "storage pool '%s': creating the disk of host '%s' (is the pool full?)",
                              pool_name, h->name);
    unsigned fwd = 0;
    const char *net = s->network ? s->network : "user";
    if (!f->is_test && s->probe.kind != FLEET_PROBE_NONE && strcmp(net, "user") == 0 &&
        (r = fleet_free_port(&fwd, err)) < 0) {
        virStorageVolDelete(vol, 0);
        return r;
    }
    _cleanup_free_ char *vpath = virStorageVolGetPath(vol);
    _cleanup_free_ char *dxml = vpath ? domain_xml(s, h, vpath, f->is_test, fwd) : NULL;
    virDomainPtr dom = dxml ? virDomainDefineXML(f->conn, dxml) : NULL;
    if (!dom) {
        r = fleet_virt_err(f, err, "defining host '%s'", h->name);
        virStorageVolDelete(vol, 0);
        return r;
    }
    if (virDomainCreate(dom) < 0) {
        r = fleet_virt_err(f, err, "starting host '%s'", h->name);
        virDomainUndefine(dom);
        virDomainFree(dom);
        virStorageVolDelete(vol, 0);
        return r;
    }
    virDomainFree(dom);
    strv_free(h->disks);
    h->disks = xcalloc(2, sizeof(char *));
    h->disks[0] = xstrdup(vpath);
    h->running = 1;
    return 0;
}

/* ---- health ----------------------------------------------------------------------- */

/* The boot marker on dom's console, as fleet_host_wait(). */
static int console_wait(struct fleet *f, virDomainPtr dom, const char *name, const struct fleet_spec *s,
                        time_t deadline, char **why, struct kiln_err *err)
{
    _cleanup_(virStreamFreep) virStreamPtr st = virStreamNew(f->conn, VIR_STREAM_NONBLOCK);
    if (!st || virDomainOpenConsole(dom, NULL, st, VIR_DOMAIN_CONSOLE_FORCE) < 0)
        return fleet_virt_err(f, err, "opening the console of host '%s'", name);
    size_t mlen = strlen(s->marker);
    struct buf win = BUF_INIT;
    char b[4096];
    time_t last_poke = 0, last_check = time(NULL);
    int res = -1;
    while (res < 0) {
        int n = virStreamRecv(st, b, sizeof(b));
        if (n > 0) {
            buf_add(&win, b, (size_t)n, NULL);
            if (memmem(win.data, win.len, s->marker, mlen)) {
                res = 1;
                break;
            }
            /* keep the tail: enough for a marker split across reads, and the console's last lines */
            if (win.len > 8192) {
                memmove(win.data, win.data + win.len - 4096, 4096);
                win.len = 4096;
                win.data[win.len] = '\0';
            }
            continue;
        }
        time_t now = time(NULL);
        char lasterr[256] = "";
        if (n == -1)
            snprintf(lasterr, sizeof(lasterr), "%s", virGetLastErrorMessage());
        if (n == -1 || n == 0) {
            /* A lost connection first: then nothing about the host is known. */
            if (virConnectIsAlive(f->conn) != 1) {
                int r = kiln_errf(err, KILN_EFAIL, "reading the console of host '%s': the libvirt connection to '%s' was lost: %s",
                                  name, f->uri, lasterr[0] ? lasterr : "the stream ended");
                buf_release(&win);
                virStreamAbort(st);
                return r;
            }
            int a = virDomainIsActive(dom);
            if (a < 0) {
                int r = virGetLastErrorCode() == VIR_ERR_NO_DOMAIN
                            ? fleet_virt_err(f, err, "host '%s' disappeared while it was checked", name)
                            : fleet_virt_err(f, err, "checking host '%s'", name);
                buf_release(&win);
                virStreamAbort(st);
                return r;
            }
            if (a != 1) {
                *why = xstrdup("it stopped while booting");
                res = 0;
            } else {
                *why = xasprintf("its console closed%s%s", n == -1 ? ": " : "", lasterr);
                res = 0;
            }
            break;
        }
        if (now >= deadline) {
            *why = xasprintf("'%s' did not appear on its console within %u seconds", s->marker, s->timeout);
            res = 0;
            break;
        }
        if (now - last_poke >= 5) {
            virStreamSend(st, "\n", 1);
            last_poke = now;
        }
        if (now - last_check >= 2) {
            last_check = now;
            int a = virDomainIsActive(dom);
            if (a < 0) {
                int r = fleet_virt_err(f, err, "checking host '%s'", name);
                buf_release(&win);
                virStreamAbort(st);
                return r;
            }
            if (a == 0) {
                *why = xstrdup("it stopped while booting");
                res = 0;
                break;
            }
        }
        sleep_ms(200);
    }
    if (res == 0 && win.len) {
        /* the console's last lines */
        const char *tail = win.data + win.len;
        for (int lines = 0; tail > win.data && lines <= FLEET_CONSOLE_TAIL_LINES; tail--)
            lines += tail[-1] == '\n';
        char *w = *why;
        *why = xasprintf("%s; its console's last lines:\n%s", w, tail);
        free(w);
    }
    buf_release(&win);
    virStreamAbort(st);
    return res;
}

int fleet_host_wait(struct fleet *f, const char *name, const struct fleet_spec *s, time_t deadline, char **why,
                    struct kiln_err *err)
{
    *why = NULL;
    _cleanup_(virDomainFreep) virDomainPtr dom = virDomainLookupByName(f->conn, name);
    if (!dom)
        return fleet_virt_err(f, err, "host '%s' disappeared while it was checked", name);
    int r = 1;
    if (s->marker)
        r = console_wait(f, dom, name, s, deadline, why, err);
    else if (virDomainIsActive(dom) != 1)
        return *why = xstrdup("it is not running"), 0;
    if (r == 1 && s->probe.kind != FLEET_PROBE_NONE)
        r = fleet_probe_wait(f, dom, s, deadline, why, err);
    return r;
}

/* ---- states --------------------------------------------------------------------------- */

static int stop_domain(struct fleet *f, virDomainPtr dom, const char *name, unsigned timeout, struct kiln_err *err)
{
    if (virDomainIsActive(dom) != 1)
        return 0;
    if (virDomainShutdown(dom) == 0)
        for (unsigned i = 0; i < timeout * 5 && virDomainIsActive(dom) == 1; i++)
            sleep_ms(200);
    if (virDomainIsActive(dom) == 1 && virDomainDestroy(dom) < 0 && virDomainIsActive(dom) == 1)
        return fleet_virt_err(f, err, "stopping host '%s'", name);
    return 0;
}

int fleet_host_set_state(struct fleet *f, struct fleet_host *h, enum fleet_state st, int stop,
                         const struct fleet_spec *s, struct kiln_err *err)
{
    _cleanup_(virDomainFreep) virDomainPtr dom = virDomainLookupByName(f->conn, h->name);
    if (!dom)
        return fleet_virt_err(f, err, "looking up host '%s'", h->name);
    enum fleet_state was = h->state;
    h->state = st;
    int r = fleet_meta_write(f, dom, h, err);
    if (r < 0) {
        h->state = was;
        return r;
    }
    if (stop) {
        r = stop_domain(f, dom, h->name, s->stop_timeout ? s->stop_timeout : FLEET_DEFAULT_STOP_TIMEOUT, err);
        h->running = virDomainIsActive(dom) == 1;
    }
    return r;
}

int fleet_host_start(struct fleet *f, const char *name, struct kiln_err *err)
{
    _cleanup_(virDomainFreep) virDomainPtr dom = virDomainLookupByName(f->conn, name);
    if (!dom)
        return fleet_virt_err(f, err, "looking up host '%s'", name);
    if (virDomainIsActive(dom) == 1)
        return 0;
    if (virDomainCreate(dom) < 0)
        return fleet_virt_err(f, err, "starting host '%s'", name);
    return 0;
}

int fleet_host_delete(struct fleet *f, const struct fleet_host *h, struct kiln_err *err)
{
    _cleanup_(virDomainFreep) virDomainPtr dom = virDomainLookupByName(f->conn, h->name);
    if (!dom)
        return fleet_virt_err(f, err, "looking up host '%s'", h->name);
    if (virDomainIsActive(dom) == 1)
        return kiln_errf(err, KILN_EFAIL, "host '%s' runs; only a stopped retired host is pruned", h->name);
    for (size_t i = 0; h->disks && h->disks[i]; i++) {
        virStorageVolPtr v = virStorageVolLookupByPath(f->conn, h->disks[i]);
        if (v) {
            virStorageVolDelete(v, 0);
            virStorageVolFree(v);
        }
    }
    if (virDomainUndefine(dom) < 0)
        return fleet_virt_err(f, err, "removing host '%s'", h->name);
    return 0;
}
