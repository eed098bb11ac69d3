import { createRoot, type Root } from 'react-dom/client';
import { condition } from './harness.js';

/** A React root in an element of the document, and a way to wait for what it shows. */
export class Screen {
  readonly container = document.body.appendChild(document.createElement('div'));
  readonly root: Root = createRoot(this.container);

  /** Every element with this `data-testid`. */
  all(testId: string): HTMLElement[] {
    // Compared, not put in a selector: ids may hold quotes and parentheses.
    return [...this.container.querySelectorAll<HTMLElement>('[data-testid]')].filter((e) => e.dataset['testid'] === testId);
  }

  one(testId: string): HTMLElement | null {
    return this.all(testId)[0] ?? null;
  }

  /** The button whose text is `text`. */
  button(text: string): HTMLButtonElement {
    const found = [...this.container.querySelectorAll('button')].find((b) => b.textContent === text);
    if (!found) throw new Error(`no button "${text}"`);
    return found;
  }

  /** Resolve once `check()` holds, re-checked after every change of the DOM under the container. */
  until(check: () => boolean, what: string, timeoutMs = 8000): Promise<void> {
    return condition(check, what, timeoutMs, (wake) => {
      const observer = new MutationObserver(wake);
      observer.observe(this.container, { subtree: true, childList: true, characterData: true, attributes: true });
      return () => observer.disconnect();
    });
  }

  unmount(): void {
    this.root.unmount();
    this.container.remove();
  }
}

/** Choose an option of a `<select>` as a user does. */
export function choose(select: HTMLSelectElement, value: string): void {
  select.value = value;
  select.dispatchEvent(new Event('change', { bubbles: true }));
}

const made: Screen[] = [];

/** A new screen, unmounted by `unmountScreens()`. */
export function screen(): Screen {
  const s = new Screen();
  made.push(s);
  return s;
}

/** Unmount every screen `screen()` made (in `afterEach`). */
export function unmountScreens(): void {
  for (const s of made.splice(0)) s.unmount();
}

/**
 * requestAnimationFrame under the test's control: callbacks wait until `run()`; `restore()`
 * puts the environment's own back.
 */
export function controlledFrames(): { readonly pending: number; run(): void; restore(): void } {
  const real = globalThis.requestAnimationFrame;
  const frames: Array<() => void> = [];
  globalThis.requestAnimationFrame = (cb: FrameRequestCallback) => frames.push(() => cb(0));
  return {
    get pending() {
      return frames.length;
    },
    run() {
      for (const cb of frames.splice(0)) cb();
    },
    restore() {
      globalThis.requestAnimationFrame = real;
    },
  };
}
