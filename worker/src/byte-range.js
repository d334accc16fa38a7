// Parsing a single HTTP byte range (RFC 9110 §14.1.2) into an R2 range option.
// Multiple ranges and malformed headers are ignored (the full object is served),
// which the RFC permits.

/** -> null (serve whole object) | {offset, length?} | {suffix} */
export function parseRange(header) {
  if (!header) return null;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) return null;
  const [, startRaw, endRaw] = match;
  if (startRaw === "" && endRaw === "") return null;
  if (startRaw === "") {
    const suffix = Number(endRaw);
    return suffix > 0 ? { suffix } : { unsatisfiable: true };
  }
  const offset = Number(startRaw);
  if (endRaw === "") return { offset };
  const end = Number(endRaw);
  if (end < offset) return null;
  return { offset, length: end - offset + 1 };
}

/** The served byte span for an R2 object's .range, normalised to first/last byte. */
export function servedSpan(range, size) {
  if (!range) return { first: 0, last: size - 1 };
  if (range.suffix !== undefined) {
    const length = Math.min(range.suffix, size);
    return { first: size - length, last: size - 1 };
  }
  const first = range.offset ?? 0;
  const length = range.length ?? size - first;
  return { first, last: Math.min(first + length, size) - 1 };
}
