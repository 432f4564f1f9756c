import t from 'tap';
import semver from 'semver';
import { readRepoFile } from '../helpers/documents.js';

/**
 * `npm install` on the oldest Node jobgate supports prints no EBADENGINE warning: every package the
 * lockfile installs, dev dependencies included, accepts that Node version.
 */

interface LockedPackage {
  readonly version?: string;
  readonly engines?: Record<string, unknown> | readonly string[];
}

const manifest = JSON.parse(readRepoFile('package.json')) as { engines: { node: string } };
const lock = JSON.parse(readRepoFile('package-lock.json')) as { packages: Record<string, LockedPackage> };

t.test('every locked package accepts the oldest Node that package.json supports', (t) => {
  const oldest = semver.minVersion(manifest.engines.node);
  t.ok(oldest, `package.json's engines.node (${manifest.engines.node}) names a lowest version`);
  if (!oldest) return t.end();
  t.ok(semver.satisfies('20.19.0', manifest.engines.node), 'Node 20, which the README supports, is within engines.node');
  const refusing = Object.entries(lock.packages)
    .filter(([path]) => path !== '')
    .flatMap(([path, locked]) => {
      const range = locked.engines && !Array.isArray(locked.engines) ? (locked.engines as Record<string, unknown>).node : undefined;
      return typeof range === 'string' && !semver.satisfies(oldest, range, { includePrerelease: true })
        ? [`${path}@${locked.version} wants node ${range}`]
        : [];
    });
  t.same(refusing, [], `no package warns EBADENGINE on Node ${oldest.version}`);
  t.end();
});
