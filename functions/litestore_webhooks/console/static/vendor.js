// The vendored libraries, loaded as classic scripts before these modules (an import map would be
// inline script, which the console's CSP forbids). Preact + hooks + htm: components without a build step.
const { h, render, Fragment } = globalThis.preact;
export const { useState, useEffect, useRef, useMemo, useCallback } = globalThis.preactHooks;
export const html = globalThis.htm.bind(h);
export const uPlot = globalThis.uPlot;
export { h, render, Fragment };
