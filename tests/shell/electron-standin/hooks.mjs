// Module resolution hook: 'electron' is the stand-in, everything else resolves as usual. The
// stand-in's URL goes on down the chain so tsx (registered before this) resolves and compiles it.
const standin = new URL('./index.ts', import.meta.url).href;

export async function resolve(specifier, context, next) {
  return next(specifier === 'electron' ? standin : specifier, context);
}
