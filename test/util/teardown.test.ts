import t from 'tap';
import { Teardown } from '../../src/util/teardown.js';

t.test('stops, then closes, each in the reverse order of opening; a close is awaited before the next', async (t) => {
  const teardown = new Teardown();
  const steps: string[] = [];
  teardown.push({ close: () => void steps.push('close redis') });
  teardown.push({ stop: () => void steps.push('stop sweep') });
  teardown.push({
    stop: () => void steps.push('stop server'),
    close: async () => {
      await new Promise((resolve) => setTimeout(resolve, 10));
      steps.push('close server');
    },
  });
  teardown.stop();
  t.same(steps, ['stop server', 'stop sweep'], 'stop runs at once, last opened first');
  await teardown.close();
  t.same(steps, ['stop server', 'stop sweep', 'close server', 'close redis'], 'the server is closed before Redis');
});
