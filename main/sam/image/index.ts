/**
 * main/sam/image: image files to the pixels SAM sees. Decoding (sharp, plus our own BMP reader)
 * behaves like PIL's open + exif_transpose + convert("RGB"); resizing reproduces PIL's bilinear
 * filter bit for bit; the encoder input is SAM's normalised, zero-padded 1024 x 1024 tensor.
 * Plain Node: no Electron, no onnxruntime. Tests: tests/sam/image.test.ts, tests/sam/resize.test.ts.
 */
export { type RgbImage, UNUSABLE_IMAGE, UnusableImageError } from './types.ts';
export { decodeImage, decodeImageBuffer, MAX_INPUT_PIXELS } from './decode.ts';
export { resizeBilinearPil, resizedSize } from './resize.ts';
export { samEncoderInput, SAM_INPUT_SIZE, SAM_PIXEL_MEAN, SAM_PIXEL_STD } from './encoder-input.ts';
