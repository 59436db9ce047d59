/* probe.c - health probes: a guest's address as libvirt reports it (or the
 * loopback forward kiln made for it), and a TCP connect or an HTTP GET to it. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libxml/xpathInternals.h>

#include "fleet/fleet-internal.h"
#include "common/common.h"
#include "common/curl-init.h"
#include "common/banned.h"

#define QEMU_NS "http://libvirt.org/schemas/domain/qemu/1.0"

static const char *const kind_names[] = { "none", "TCP", "HTTP" };

const char *fleet_probe_kind_name(enum fleet_probe_kind k)
{
    return (unsigned)k < 3 ? kind_names[k] : "unknown";
}

int fleet_probe_parse(enum fleet_probe_kind kind, const char *arg, struct fleet_probe *out, struct kiln_err *err)
{
    const char *what = kind == FLEET_PROBE_HTTP ? "an HTTP probe is PORT or PORT/PATH" : "a TCP probe is a PORT";
    char *end;
    errno = 0;
    unsigned long port = arg[0] >= '0' && arg[0] <= '9' ? strtoul(arg, &end, 10) : 0;
    if (!port || port > 65535 || errno)
        return kiln_errf(err, KILN_EINVAL, "'%s': %s (1-65535)", arg, what);
    const char *path = "/";
    if (*end && (kind != FLEET_PROBE_HTTP || *end != '/'))
        return kiln_errf(err, KILN_EINVAL, "'%s': %s (1-65535)", arg, what);
    if (*end) {
        path = end;
        if (strlen(path) > FLEET_PROBE_PATH_MAX)
            return kiln_errf(err, KILN_EINVAL, "'%s': the path is longer than %d bytes", arg, FLEET_PROBE_PATH_MAX);
        for (const char *c = path; *c; c++)
            if (*c <= ' ' || *c > '~' || *c == '#')
                return kiln_errf(err, KILN_EINVAL, "'%s': the path must be printable ASCII without spaces or '#'", arg);
    }
    out->kind = kind;
    out->port = (unsigned)port;
    out->path = kind == FLEET_PROBE_HTTP ? path : NULL;
    return 0;
}

/* 1 when the URI names another machine ("qemu+ssh://host/system"). */
static int uri_remote(const char *uri)
{
    const char *h = uri ? strstr(uri, "://") : NULL;
    if (!h)
        return 0;
    h += 3;
    size_t n = strcspn(h, "/?");
    return n && !(n == 9 && strncmp(h, "localhost", 9) == 0);
}

int fleet_spec_check(const struct fleet *f, const struct fleet_spec *s, struct kiln_err *err)
{
    const char *net = s->network ? s->network : "user";
    if (s->probe.kind == FLEET_PROBE_NONE)
        return 0;
    if (strcmp(net, "none") == 0)
        return kiln_errf(err, KILN_EINVAL, "%s probe needs a network: hosts with --network none have no address",
                         s->probe.kind == FLEET_PROBE_HTTP ? "an HTTP" : "a TCP");
    if (strcmp(net, "user") != 0)
        return 0;
    if (s->probe.kind == FLEET_PROBE_TCP)
        return kiln_errf(err, KILN_EINVAL,
                         "a TCP probe cannot see a guest on user-mode networking (qemu accepts every forwarded "
                         "connection itself, listening guest or not): use an HTTP probe, or a libvirt network (--network NAME)");
    if (uri_remote(f->uri))
        return kiln_errf(err, KILN_EINVAL,
                         "a probe of a host on user-mode networking goes through a forward on its hypervisor's loopback, "
                         "which '%s' does not share: use a libvirt network (--network NAME)", f->uri);
    return 0;
}

/* ---- addresses ------------------------------------------------------------ */

int fleet_addr_pick(const char *const *addrs, size_t n)
{
    int v6 = -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char a[16];
        if (inet_pton(AF_INET, addrs[i], a) == 1) {
            if (a[0] == 127 || a[0] == 0 || (a[0] == 169 && a[1] == 254))
                continue;
            return (int)i;
        }
        if (v6 < 0 && inet_pton(AF_INET6, addrs[i], a) == 1) {
            static const unsigned char loop[16] = { [15] = 1 }, any[16] = { 0 };
            if (memcmp(a, loop, 16) == 0 || memcmp(a, any, 16) == 0 || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80))
                continue;
            v6 = (int)i;
        }
    }
    return v6;
}

/* "-netdev user,id=kiln-net0,hostfwd=tcp:127.0.0.1:H-:G": H for guest port G. */
unsigned fleet_hostfwd_port(const char *domain_xml, unsigned guest_port)
{
    xmlDocPtr d = xmlReadMemory(domain_xml, (int)strlen(domain_xml), "domain.xml", NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!d)
        return 0;
    xmlXPathContextPtr x = xmlXPathNewContext(d);
    xmlXPathObjectPtr o = NULL;
    if (x && xmlXPathRegisterNs(x, (const xmlChar *)"q", (const xmlChar *)QEMU_NS) == 0)
        o = xmlXPathEvalExpression((const xmlChar *)"/domain/q:commandline/q:arg/@value", x);
    unsigned found = 0;
    for (int i = 0; o && o->nodesetval && i < o->nodesetval->nodeNr && !found; i++) {
        xmlChar *v = xmlNodeGetContent(o->nodesetval->nodeTab[i]);
        const char *p = v ? strstr((const char *)v, "hostfwd=tcp:127.0.0.1:") : NULL;
        while (p && !found) {
            char *end;
            p += strlen("hostfwd=tcp:127.0.0.1:");
            unsigned long h = strtoul(p, &end, 10);
            if (strncmp(end, "-:", 2) == 0) {
                unsigned long g = strtoul(end + 2, &end, 10);
                if (g == guest_port && h > 0 && h <= 65535 && (*end == ',' || *end == '\0'))
                    found = (unsigned)h;
            }
            p = strstr(p, "hostfwd=tcp:127.0.0.1:");
        }
        xmlFree(v);
    }
    xmlXPathFreeObject(o);
    xmlXPathFreeContext(x);
    xmlFreeDoc(d);
    return found;
}

int fleet_free_port(unsigned *port, struct kiln_err *err)
{
    _cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || getsockname(fd, (struct sockaddr *)&a, &len) < 0)
        return kiln_errno(err, KILN_EFAIL, errno, "cannot find a free port on 127.0.0.1 for a health probe's forward");
    *port = ntohs(a.sin_port);
    return 0;
}

char *fleet_hostfwd_xml(unsigned host_port, unsigned guest_port)
{
    return xasprintf("<qemu:commandline>"
                     "<qemu:arg value='-netdev'/><qemu:arg value='user,id=kiln-net0,hostfwd=tcp:127.0.0.1:%u-:%u'/>"
                     /* JSON, as libvirt gives its devices: qemu then adds it after them, in
                      * a PCI slot they left free */
                     "<qemu:arg value='-device'/>"
                     "<qemu:arg value='{\"driver\":\"virtio-net-pci\",\"netdev\":\"kiln-net0\",\"id\":\"kiln-net0\"}'/>"
                     "</qemu:commandline>",
                     host_port, guest_port);
}

const char *fleet_qemu_ns(void)
{
    return QEMU_NS;
}

/* The address to probe: "A.B.C.D" or "[v6]" with the port to use, into
 * *addr (caller-owned) and *port; 0 with *why (caller-owned) when there is
 * none yet, <0 when libvirt fails. */
static int probe_target(struct fleet *f, virDomainPtr dom, const struct fleet_spec *s, char **addr, unsigned *port,
                        char **why, struct kiln_err *err)
{
    /* a host made with a forward for this port is probed through it,
     * whatever the network the operation at hand asks new hosts to have */
    char *xml = virDomainGetXMLDesc(dom, 0);
    if (!xml)
        return fleet_virt_err(f, err, "reading the definition of host '%s'", virDomainGetName(dom));
    unsigned fwd = fleet_hostfwd_port(xml, s->probe.port);
    free(xml);
    if (fwd) {
        *addr = xstrdup("127.0.0.1");
        *port = fwd;
        return 1;
    }
    if (strcmp(s->network ? s->network : "user", "user") == 0) {
        *why = xasprintf("it has no forward to its port %u on user-mode networking (it was made without this probe)",
                         s->probe.port);
        return 0;
    }
    static const unsigned sources[] = { VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE, VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT,
                                        VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP };
    static const char *const source_names[] = { "lease", "agent", "arp" };
    struct buf tried = BUF_INIT;
    for (size_t k = 0; k < 3; k++) {
        virDomainInterfacePtr *ifs = NULL;
        int n = virDomainInterfaceAddresses(dom, &ifs, sources[k], 0);
        if (n < 0) {
            if (virConnectIsAlive(f->conn) != 1) {
                buf_release(&tried);
                return fleet_virt_err(f, err, "asking libvirt for the address of host '%s'", virDomainGetName(dom));
            }
            buf_addf(&tried, NULL, "%s%s: %s", tried.len ? "; " : "", source_names[k], virGetLastErrorMessage());
            continue;
        }
        size_t total = 0;
        for (int i = 0; i < n; i++)
            total += ifs[i]->naddrs;
        const char **v = xcalloc(total + 1, sizeof(char *));
        size_t m = 0;
        for (int i = 0; i < n; i++)
            for (unsigned j = 0; j < ifs[i]->naddrs; j++)
                if (ifs[i]->addrs[j].addr)
                    v[m++] = ifs[i]->addrs[j].addr;
        int pick = fleet_addr_pick(v, m);
        if (pick >= 0)
            *addr = strchr(v[pick], ':') ? xasprintf("[%s]", v[pick]) : xstrdup(v[pick]);
        free(v);
        for (int i = 0; i < n; i++)
            virDomainInterfaceFree(ifs[i]);
        free(ifs);
        if (*addr) {
            buf_release(&tried);
            *port = s->probe.port;
            return 1;
        }
        buf_addf(&tried, NULL, "%s%s: no address", tried.len ? "; " : "", source_names[k]);
    }
    *why = xasprintf("libvirt reports no address for it yet (%s)", tried.data ? tried.data : "");
    buf_release(&tried);
    return 0;
}

/* ---- one attempt ---------------------------------------------------------- */

static int tcp_once(const char *addr, unsigned port, unsigned seconds, char **why)
{
    char host[64], serv[8];
    snprintf(host, sizeof(host), "%s", addr[0] == '[' ? addr + 1 : addr);
    if (addr[0] == '[')
        host[strcspn(host, "]")] = '\0';
    snprintf(serv, sizeof(serv), "%u", port);
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV }, *ai = NULL;
    int g = getaddrinfo(host, serv, &hints, &ai);
    if (g != 0) {
        *why = xasprintf("%s", gai_strerror(g));
        return 0;
    }
    _cleanup_close_ int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int e = fd < 0 ? errno : 0;
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        e = errno;
        if (e == EINPROGRESS) {
            struct pollfd p = { fd, POLLOUT, 0 };
            int pr = poll(&p, 1, (int)seconds * 1000);
            socklen_t l = sizeof(e);
            if (pr == 0)
                e = ETIMEDOUT;
            else if (pr < 0)
                e = errno;
            else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l) < 0)
                e = errno;
        }
    }
    freeaddrinfo(ai);
    if (e) {
        *why = xasprintf("connect: %s", strerror(e));
        return 0;
    }
    return 1;
}

struct body {
    size_t len;
    int over;
};

/* The body is not kept: counted, and the transfer ends past FLEET_PROBE_BODY_MAX. */
static size_t body_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
    (void)ptr;
    struct body *b = ud;
    b->len += size * nmemb;
    if (b->len > FLEET_PROBE_BODY_MAX) {
        b->over = 1;
        return 0;
    }
    return size * nmemb;
}

static int http_once(const char *url, unsigned seconds, char **why)
{
    struct kiln_err ierr = KILN_ERR_INIT;
    if (curl_init_once(&ierr) < 0) {
        *why = xstrdup(ierr.msg);
        return 0;
    }
    CURL *c = curl_easy_init();
    if (!c) {
        *why = xstrdup("cannot initialise libcurl");
        return 0;
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    struct body b = { 0, 0 };
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)seconds);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)seconds);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "kiln/" KILN_VERSION " health probe");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    /* a body longer than we read still came with its status */
    if (rc != CURLE_OK && !(b.over && rc == CURLE_WRITE_ERROR)) {
        *why = xstrdup(errbuf[0] ? errbuf : curl_easy_strerror(rc));
        return 0;
    }
    if (status < 200 || status > 299) {
        *why = xasprintf("HTTP status %ld", status);
        return 0;
    }
    return 1;
}

int fleet_probe_once(const struct fleet_probe *p, const char *addr, unsigned port, unsigned seconds, char **target,
                     char **why)
{
    *target = p->kind == FLEET_PROBE_HTTP ? xasprintf("http://%s:%u%s", addr, port, p->path)
                                          : xasprintf("%s:%u", addr, port);
    return p->kind == FLEET_PROBE_HTTP ? http_once(*target, seconds, why) : tcp_once(addr, port, seconds, why);
}

/* ---- until the deadline ----------------------------------------------------- */

int fleet_probe_wait(struct fleet *f, virDomainPtr dom, const struct fleet_spec *s, time_t deadline, char **why,
                     struct kiln_err *err)
{
    const struct fleet_probe *p = &s->probe;
    const char *name = virDomainGetName(dom);
    char *target = NULL, *last = NULL;
    int res = -1;
    while (res < 0) {
        char *addr = NULL;
        unsigned port = 0;
        free(last);
        last = NULL;
        int r = probe_target(f, dom, s, &addr, &port, &last, err);
        if (r < 0) {
            free(target);
            return r;
        }
        if (r == 1) {
            free(target);
            time_t left = deadline - time(NULL);
            unsigned secs = left < 1 ? 1 : left > FLEET_PROBE_ATTEMPT_SECONDS ? FLEET_PROBE_ATTEMPT_SECONDS : (unsigned)left;
            if (fleet_probe_once(p, addr, port, secs, &target, &last)) {
                kiln_log(KILN_LOG_INFO, "host %s: the %s probe of %s passed", name, fleet_probe_kind_name(p->kind), target);
                res = 1;
            }
        }
        free(addr);
        if (res == 1)
            break;
        int a = virDomainIsActive(dom);
        if (a < 0) {
            free(target);
            free(last);
            return fleet_virt_err(f, err, "checking host '%s'", name);
        }
        if (a == 0) {
            *why = xasprintf("it stopped while its %s probe was waiting for an answer", fleet_probe_kind_name(p->kind));
            res = 0;
        } else if (time(NULL) >= deadline) {
            *why = xasprintf("its %s probe of %s (guest port %u) did not pass within %u seconds; the last error: %s",
                             fleet_probe_kind_name(p->kind), target ? target : "(no address)", p->port, s->timeout,
                             last ? last : "none");
            res = 0;
        } else {
            struct timespec ts = { 1, 0 };
            nanosleep(&ts, NULL);
        }
    }
    free(target);
    free(last);
    return res;
}
