/**
 * zod for jobgate's schemas: its functional API (`zod/mini`), with the English issue messages the
 * classic API loads by itself. Import it as `import * as z from '../util/zod.js'`.
 *
 * Why not `import { z } from 'zod'`: the classic API's methods pull the whole library into the
 * bundle (about 580 KB, some 30 ms of every `jobgate serve` start). The functions of `zod/mini`
 * are shaken down to what the settings use (about 30 KB). Only the English messages load, not
 * every locale (`z.locales` would bring them all): load errors quote them, such as
 * `Unrecognized key: "extra"` in an API rule.
 */
import { en } from 'zod/locales';
import { config } from 'zod/mini';

config(en());

export * from 'zod/mini';
