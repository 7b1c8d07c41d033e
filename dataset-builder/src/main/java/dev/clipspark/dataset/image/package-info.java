/**
 * Image processing for the dataset builder: decoding, validating, resizing and re-encoding one image.
 *
 * <p>{@link dev.clipspark.dataset.image.ImageProcessor} turns the encoded bytes of a JPEG, PNG, WebP, GIF or
 * BMP into a baseline JPEG of the configured size, or says why it refused them with a
 * {@link dev.clipspark.dataset.RejectReason}; it never throws for bad input. Its settings are the
 * {@code image.*} keys, read and validated by {@link dev.clipspark.dataset.image.ImageOptions}; the resize
 * geometry is a {@link dev.clipspark.dataset.image.ResizeMode}. {@link dev.clipspark.dataset.image.ImageBenchmark}
 * measures single-core throughput on synthetic photo-like JPEGs for the {@code bench images} command.
 *
 * <p>Everything here is plain Java with no Spark dependency: a Spark task creates one processor and feeds it
 * its partition's images.
 */
package dev.clipspark.dataset.image;
