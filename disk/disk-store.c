/* disk-store.c - find a disk image in the store (for boot-test and export). */
#include "disk/disk.h"

#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "images/manifest.h"
#include "images/store.h"
#include "common/banned.h"

static int is_disk_at(const char *at)
{
    return at && (strcmp(at, KILN_AT_QCOW2) == 0 || strcmp(at, KILN_AT_RAW) == 0);
}

static int from_manifest(struct store *st, const struct oci_manifest *m, const char *ref,
                         struct disk_ref *out, struct kiln_err *err)
{
    if (!is_disk_at(m->artifact_type) || m->n_descs != 1)
        return kiln_errf(err, KILN_EINVAL, "image '%s' is not a disk image", ref);
    const struct oci_desc *l = &m->descs[0];
    int qcow2 = strcmp(l->media_type, KILN_MT_QCOW2) == 0;
    if (!qcow2 && strcmp(l->media_type, KILN_MT_RAW) != 0)
        return kiln_errf(err, KILN_EINVAL, "image '%s': unknown disk media type '%s'", ref, l->media_type);
    out->format = qcow2 ? DISK_FORMAT_QCOW2 : DISK_FORMAT_RAW;
    out->blob_path = store_blob_path(st, l->digest);
    out->digest = xstrdup(l->digest);
    out->size = (uint64_t)l->size;
    const char *marker = m->annotations ? json_string_value(json_object_get(m->annotations, KILN_ANN_BOOT_MARKER)) : NULL;
    out->marker = marker ? xstrdup(marker) : NULL;
    const char *t = m->annotations ? json_string_value(json_object_get(m->annotations, KILN_ANN_BOOT_TIMEOUT)) : NULL;
    out->timeout = 0;
    if (t) {
        char *end;
        unsigned long v = strtoul(t, &end, 10);
        if (*end == '\0' && v > 0 && v <= 86400)
            out->timeout = (unsigned)v;
    }
    const char *fw = m->annotations ? json_string_value(json_object_get(m->annotations, KILN_ANN_DISK_FIRMWARE)) : NULL;
    const char *boot = m->annotations ? json_string_value(json_object_get(m->annotations, KILN_ANN_DISK_BOOTABLE)) : NULL;
    const char *sb = m->annotations ? json_string_value(json_object_get(m->annotations, KILN_ANN_DISK_SECURE_BOOT)) : NULL;
    out->firmware = FIRMWARE_NONE;
    if (fw && strcmp(fw, "uefi") == 0)
        out->firmware = FIRMWARE_UEFI;
    else if (fw && strcmp(fw, "hybrid") == 0)
        out->firmware = FIRMWARE_HYBRID;
    else if ((fw && strcmp(fw, "bios") == 0) || (boot && strcmp(boot, "true") == 0))
        out->firmware = FIRMWARE_BIOS;
    out->secure_boot = out->firmware != FIRMWARE_NONE && out->firmware != FIRMWARE_BIOS && sb &&
                       strcmp(sb, "true") == 0;
    if (!out->blob_path)
        return kiln_errf(err, KILN_EINVAL, "image '%s': bad disk digest", ref);
    return 0;
}

int disk_find(struct store *st, const char *ref, enum disk_format want, int any, struct disk_ref *out,
              struct kiln_err *err)
{
    memset(out, 0, sizeof(*out));
    struct store_image *img = NULL;
    int r = store_resolve(st, ref, &img, err);
    if (r < 0)
        return r;
    struct oci_manifest *top = NULL;
    r = store_manifest_read(st, img->digest, (int64_t)img->size, &top, err);
    store_image_free(img);
    if (r < 0)
        return r;
    if (top->kind == OCI_KIND_MANIFEST) {
        r = from_manifest(st, top, ref, out, err);
    } else {
        r = kiln_errf(err, KILN_EINVAL, "image '%s' holds no %s disk", ref,
                      any ? "" : disk_format_name(want));
        for (int pass = 0; pass < 2 && r == KILN_EINVAL; pass++) {
            for (size_t i = 0; i < top->n_descs; i++) {
                const struct oci_desc *d = &top->descs[i];
                if (!is_disk_at(d->artifact_type))
                    continue;
                int q = strcmp(d->artifact_type, KILN_AT_QCOW2) == 0;
                if (pass == 0 && (q ? DISK_FORMAT_QCOW2 : DISK_FORMAT_RAW) != want)
                    continue;
                if (pass == 1 && !any)
                    continue;
                struct oci_manifest *m = NULL;
                kiln_err_clear(err);
                r = store_manifest_read(st, d->digest, d->size, &m, err);
                if (r == 0)
                    r = from_manifest(st, m, ref, out, err);
                oci_manifest_free(m);
                break;
            }
        }
    }
    oci_manifest_free(top);
    if (r < 0)
        disk_ref_release(out);
    return r;
}

void disk_ref_release(struct disk_ref *d)
{
    free(d->blob_path);
    free(d->digest);
    free(d->marker);
    memset(d, 0, sizeof(*d));
}
