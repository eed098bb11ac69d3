import type { ControlBus } from '../engine/control-bus.js';
import type { ReplyError } from '../errors/reply-error.js';
import type { SurveysView } from './context.js';

/**
 * The control bus's surveys as features and routes see them: their kinds travel as
 * `s|<kind>`, apart from the kernel's own (`user-presence`, `tenant-rates`), and an engine
 * that fails to ask becomes the `ReplyError` `failed` makes of it (503, Unavailable).
 */
export function nodeSurveys(control: () => Pick<ControlBus, 'setSurveyHandler' | 'survey'>, failed: (err: unknown, kind: string) => ReplyError): SurveysView {
  return {
    answer: (kind, handler) => control().setSurveyHandler(`s|${kind}`, handler),
    async ask(kind, request) {
      try {
        return await control().survey(`s|${kind}`, request);
      } catch (err) {
        throw failed(err, `survey ${kind}`);
      }
    },
  };
}
