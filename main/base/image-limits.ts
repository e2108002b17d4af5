/**
 * main/base: small helpers shared by every layer above it. This file: the one image size limit
 * the whole app applies, in the decoder, the project scan, thumbnails and imports alike, so an
 * image accepted in one place is never refused in another.
 */

/** Largest image accepted: 20000 x 20000 pixels (1.2 GB of RGB), above sharp's default 16383^2. */
export const MAX_IMAGE_PIXELS = 20000 * 20000;
