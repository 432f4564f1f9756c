/**
 * Scoping a job list: the token's selector is ANDed into the `labelSelector` query parameter,
 * so that the upstream lists only jobs the token may reach. Pure.
 */
import { formatSelector, parseSelector, type Selector } from '../selector/index.js';
import { foldKey } from './json-keys.js';
import { refusal, type ApiRefusal } from './refusal.js';

/** The name of the query parameter that filters job lists. */
export const LABEL_SELECTOR_PARAM = 'labelSelector';

/** A decoded query component (`+` is a space, as in forms), or undefined when it does not decode. */
function decodeComponent(text: string): string | undefined {
  const spaced = text.includes('+') ? text.replaceAll('+', ' ') : text;
  if (!spaced.includes('%')) return spaced;
  try {
    return decodeURIComponent(spaced);
  } catch {
    return undefined;
  }
}

function badQuery(message: string): { ok: false } & ApiRefusal<400> {
  return { ok: false, ...refusal(400, 'bad_request', 'bad_query', message) };
}

/** Characters some frameworks drop or map when binding a parameter name (`label_selector`, `label-selector`). */
const NAME_SEPARATORS = new Set([' ', '_', '-', '.']);

/**
 * How frameworks could read a parameter name: case-folded as {@link foldKey} does (`ſ` is `s`),
 * cut before an index or array suffix (`name[]`, `name[0]`, Rails and PHP style), without
 * separators. Over-matching only refuses a query, never lets one through.
 */
function normalizedName(decoded: string): string {
  const folded = foldKey(decoded);
  const bracket = folded.indexOf('[');
  const base = bracket === -1 ? folded : folded.slice(0, bracket);
  let name = '';
  for (const char of base) if (!NAME_SEPARATORS.has(char)) name += char;
  return name;
}

const SELECTOR_NAME = normalizedName(LABEL_SELECTOR_PARAM);

/**
 * What the name of a `name=value` piece is: `'selector'` when it decodes to exactly
 * labelSelector, `'variant'` when an upstream could still read it as labelSelector (another
 * case, a case fold, `labelSelector[]`...), `'other'`, or undefined when it does not decode.
 */
function selectorName(piece: string): 'selector' | 'variant' | 'other' | undefined {
  const eq = piece.indexOf('=');
  const name = decodeComponent(eq === -1 ? piece : piece.slice(0, eq));
  if (name === undefined) return undefined;
  if (name === LABEL_SELECTOR_PARAM) return 'selector';
  return normalizedName(name) === SELECTOR_NAME ? 'variant' : 'other';
}

/**
 * The query to forward for a job list made with a token scoped by `selector`: `rawQuery`
 * (without `?`, still encoded) with its `labelSelector` parameter replaced, in place, by
 * `<token selector>,<client selector>` (both in canonical form, see `formatSelector`), or
 * `labelSelector=<token selector>` appended when the client sent none. Every other parameter is
 * kept byte for byte. An empty selector gives `rawQuery` back unchanged.
 *
 * Refused with 400: a client `labelSelector` that does not parse; more than one of them (names
 * are compared percent-decoded); a name that is not exactly `labelSelector` but that an upstream
 * could bind to it (`LABELSELECTOR`, `labelſelector`, `labelSelector[]`, `label_selector`: see
 * {@link normalizedName}); one hidden behind a `;` (some upstreams split on it); a parameter
 * name that does not percent-decode; and a `#` in the query (an upstream could cut the query
 * there, dropping the scope).
 */
export function scopeListQuery(selector: Selector, rawQuery: string): { ok: true; query: string } | ({ ok: false } & ApiRefusal<400>) {
  if (selector.empty) return { ok: true, query: rawQuery };
  if (rawQuery.includes('#')) return badQuery('The query contains "#". Percent-encode it as %23.');
  const pieces = rawQuery === '' ? [] : rawQuery.split('&');
  let found = -1;
  for (let i = 0; i < pieces.length; i++) {
    const piece = pieces[i]!;
    const parts = piece.split(';');
    for (const part of parts) {
      const named = selectorName(part);
      if (named === undefined) return badQuery('A query parameter name has a malformed percent-encoding.');
      if (named === 'other') continue;
      if (named === 'variant') {
        return badQuery(
          `The query parameter ${JSON.stringify(decodeComponent(part.split('=')[0]!))} could be read as ${LABEL_SELECTOR_PARAM}. Spell it exactly ${LABEL_SELECTOR_PARAM}, once, without brackets.`,
        );
      }
      if (parts.length > 1)
        return badQuery(`The ${LABEL_SELECTOR_PARAM} parameter is next to a ";". Percent-encode ";" as %3B, or send ${LABEL_SELECTOR_PARAM} on its own.`);
      if (found !== -1) return badQuery(`The query has more than one ${LABEL_SELECTOR_PARAM} parameter. Send one, with requirements joined by ",".`);
      found = i;
    }
  }

  let combined = formatSelector(selector);
  if (found !== -1) {
    const piece = pieces[found]!;
    const eq = piece.indexOf('=');
    const text = decodeComponent(eq === -1 ? '' : piece.slice(eq + 1));
    if (text === undefined) return badQuery(`The ${LABEL_SELECTOR_PARAM} parameter has a malformed percent-encoding.`);
    let client: Selector;
    try {
      client = parseSelector(text);
    } catch (error) {
      return badQuery(`The ${LABEL_SELECTOR_PARAM} parameter does not parse: ${(error as Error).message}.`);
    }
    if (!client.empty) combined += `,${formatSelector(client)}`;
  }
  const scoped = `${LABEL_SELECTOR_PARAM}=${encodeURIComponent(combined)}`;
  if (found === -1) pieces.push(scoped);
  else pieces[found] = scoped;
  return { ok: true, query: pieces.join('&') };
}
