import { Lru } from '../util/lru.js';
import { parseSelector, type Selector } from './parse.js';

/** Distinct selector texts remembered; tokens usually share a handful. */
const SHARED_SELECTORS = 1024;
const parsed = new Lru<string, Selector>(SHARED_SELECTORS);

/**
 * The parsed selector for `text`, shared by every record that carries the same text: a
 * cached token then costs no selector objects of its own, and loading one parses only a
 * text not seen lately. Throws SelectorError as parseSelector does; failures are not kept.
 * Selectors are immutable, so sharing one is safe.
 */
export function sharedSelector(text: string): Selector {
  let selector = parsed.get(text);
  if (selector === undefined) {
    selector = parseSelector(text);
    parsed.set(text, selector);
  }
  return selector;
}
