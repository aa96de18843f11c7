/**
 * A UKI as boot configuration reads one (`.cmdline`, `.linux`): enough for the checks of its
 * embedded command line and for copying its bytes. Engine tests import it as
 * `@trident/boot-config/test-support/fake-uki`.
 */
import { fakePe } from '@trident/test-support/fake-pe';

export function fakeUki(cmdline: string, kernel = 'not a kernel'): Buffer {
  return fakePe([
    ['.cmdline', Buffer.from(`${cmdline}\0`)],
    ['.linux', Buffer.from(kernel)],
  ]);
}
