/* media-types.h - how disks are stored: the media types of disk blobs, the
 * artifactType of a disk's manifest and the annotations it carries for the
 * boot test.  Written by the qcow2/raw output, read by disk_find(). */
#ifndef KILN_DISK_MEDIA_TYPES_H
#define KILN_DISK_MEDIA_TYPES_H

#define DISK_MEDIA_TYPE_QCOW2 "application/vnd.dev.kiln.disk.qcow2"
#define DISK_MEDIA_TYPE_RAW "application/vnd.dev.kiln.disk.raw"
#define DISK_ARTIFACT_QCOW2 "application/vnd.dev.kiln.disk.qcow2.v1"
#define DISK_ARTIFACT_RAW "application/vnd.dev.kiln.disk.raw.v1"

#define DISK_ANN_MARKER "dev.kiln.boot-test.marker"
#define DISK_ANN_TIMEOUT "dev.kiln.boot-test.timeout"

#endif
