/**
 * The schemas several API methods share, and the input types derived from them. Rules that need
 * the open project (a prompt must lie inside its image, a path must have come through a dialog)
 * are main/api's; every other rule on an input is here.
 */
import { IMAGE_STATUSES, LABEL_HOTKEYS, QUANT_BITS } from './enums.ts';
import { arr, bool, int, nullable, num, obj, oneOf, optional, refine, str, tuple, type Infer } from './schema.ts';

/** A row id of the project file. */
export const ID = int(1);

/** A point in image pixels; generous bounds, the store clips to the image. */
export const POINT = tuple(num(-1e6, 1e6), num(-1e6, 1e6));

export const COLOR = refine(str(7), (s, refuse) => {
  const lower = s.toLowerCase();
  if (!/^#[0-9a-f]{6}$/.test(lower)) refuse(`${JSON.stringify(s)} is not a colour like #12ab9f`);
  return lower;
});

export const HOTKEY = nullable(oneOf(LABEL_HOTKEYS));

export const IMAGE_STATUS = oneOf(IMAGE_STATUSES);

export const BITS = oneOf(QUANT_BITS);

export const DIALOG_FILTER = obj({ name: str(200), extensions: arr(str(20), { max: 50 }) });
export type DialogFilter = Infer<typeof DIALOG_FILTER>;

/** A SAM box, [x0, y0, x1, y1] in image pixels. */
const BOX = refine(tuple(num(0), num(0), num(0), num(0)), (b, refuse) => {
  if (b[2] < b[0] || b[3] < b[1]) refuse('expected [x0, y0, x1, y1] with x0 <= x1, y0 <= y1');
  return b;
});

/** Clicks on one image are few; a longer list is not a user's. */
export const MAX_PROMPT_POINTS = 64;

/**
 * A prompt from the UI: points and a box in image pixels (main checks they lie inside the
 * image); `refine` names the kept answer whose candidate's low-res mask is fed back. A null box or
 * refine counts as none.
 */
export const SAM_PROMPT = refine(obj({
  points: arr(obj({ x: num(0), y: num(0), label: oneOf([0, 1] as const) }), { max: MAX_PROMPT_POINTS }),
  box: optional(nullable(BOX)),
  refine: optional(nullable(obj({ resultId: ID, candidate: int(0, 15) }))),
}), ({ points, box, refine: again }, refuse) => {
  if (points.length === 0 && !box) refuse('a prompt needs at least one point or a box');
  return { points, ...(box ? { box } : {}), ...(again ? { refine: again } : {}) };
});
export type SamPrompt = Infer<typeof SAM_PROMPT>;

/** What the first-run setup is asked for. */
export const SETUP_CHOICE = obj({
  /** the catalog entry */
  catalogId: str(200),
  bits: BITS,
  /** a copy of the catalog's file the user already has (checked against its hash): no download */
  localFile: optional(nullable(str())),
  /** false: stop after the build and use the full-precision model (quantize and eval skipped); default true */
  quantize: optional(bool()),
});
export type SetupChoice = Infer<typeof SETUP_CHOICE>;
