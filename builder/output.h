/* output.h - the last steps: one per recipe output.  Each writes the tree
 * (or the disk the guest stage made) as its format, stores its blobs (held,
 * builder/ctx.h) and describes its manifest in *out.
 *
 *   oci         one layer holding the whole tree (builder/layer.h), the
 *               image config, the manifest (output-oci.c)
 *   tar         the rootfs tar as an artifact (output-tar.c)
 *   qcow2, raw  the disk as an artifact, disk/media-types.h (build-disk.c) */
#ifndef KILN_BUILD_OUTPUT_H
#define KILN_BUILD_OUTPUT_H

#include <jansson.h>

#include "builder/ctx.h"

typedef int (*output_fn)(struct build_ctx *ctx, const struct recipe_output *o, struct output_desc *out,
                         struct kiln_err *err);
int output_oci_run(struct build_ctx *ctx, const struct recipe_output *o, struct output_desc *out,
                   struct kiln_err *err);
int output_tar_run(struct build_ctx *ctx, const struct recipe_output *o, struct output_desc *out,
                   struct kiln_err *err);
int output_disk_run(struct build_ctx *ctx, const struct recipe_output *o, struct output_desc *out,
                    struct kiln_err *err);

/* The deterministic manifest annotations of an output: org.opencontainers.image.*
 * labels, created (= SOURCE_DATE_EPOCH), description, dev.kiln.files.  New reference. */
json_t *output_annotations(struct build_ctx *ctx);
/* Adds dev.kiln.drift.ignore (the recipe's drift.ignore as a compact JSON
 * array) to ann when the recipe lists any. */
void output_drift_annotation(struct build_ctx *ctx, json_t *ann);

#endif
