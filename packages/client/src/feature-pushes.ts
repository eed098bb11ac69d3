import type { FeaturePush } from '@switchboard/protocol';

/** Told a feature's push: its `event` and `data`. */
export type FeaturePushListener = (event: string, data: unknown) => void;

/** The listeners of features' own pushes to the connection (`{"push":"feature"}` frames), by feature. */
export class FeaturePushes {
  readonly #byFeature = new Map<string, Set<FeaturePushListener>>();

  on(feature: string, listener: FeaturePushListener): () => void {
    let set = this.#byFeature.get(feature);
    if (!set) {
      set = new Set();
      this.#byFeature.set(feature, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.#byFeature.get(feature) === set) this.#byFeature.delete(feature);
    };
  }

  dispatch(frame: FeaturePush): void {
    if (typeof frame.feature !== 'string' || typeof frame.event !== 'string') return;
    for (const listener of [...(this.#byFeature.get(frame.feature) ?? [])]) listener(frame.event, frame.data);
  }
}
