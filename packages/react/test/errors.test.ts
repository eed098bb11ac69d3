// @vitest-environment happy-dom
import { ErrorCode, type SwitchboardError } from '@switchboard/client';
import { Component, createElement as h, type ReactNode } from 'react';
import { describe, expect, it } from 'vitest';
import { type HookResult, SwitchboardProvider, useChannel, useErrorListener, usePresence } from '../src/index.js';
import * as suspense from '../src/suspense.js';
import { perTest, Recorder } from './harness.js';

const t$ = perTest();

class Boundary extends Component<{ caught: Recorder<unknown>; children?: ReactNode }, { error: unknown }> {
  override state = { error: null as unknown };
  static getDerivedStateFromError(error: unknown) {
    return { error };
  }
  override componentDidCatch(error: unknown) {
    this.props.caught.push(error);
  }
  override render() {
    return this.state.error === null ? this.props.children : h('p', null, 'failed');
  }
}

/** A token that may use `project:*` only: `chat:*` is refused with 103. */
const PROJECT_ONLY = { 'project:*': ['subscribe', 'publish', 'presence', 'history', 'signal'] };

describe('errors', () => {
  it('a forbidden channel gives the plain hooks an error with the protocol’s code, and the error listener hears it', async () => {
    const t = await t$.harness();
    const client = t.client('alice', {}, { caps: PROJECT_ONLY });
    client.connect();
    const channel = new Recorder<HookResult<unknown>>();
    const presence = new Recorder<HookResult<unknown>>();
    const heard = new Recorder<SwitchboardError>();
    function Probe() {
      channel.push(useChannel('chat:secret'));
      presence.push(usePresence('chat:secret'));
      useErrorListener((e) => heard.push(e));
      return null;
    }
    const root = t$.root();
    root.render(h(SwitchboardProvider, { client }, h(Probe)));
    await channel.until((r) => r.error !== null, 'the channel error');
    await presence.until((r) => r.error !== null, 'the presence error');
    expect(channel.last).toMatchObject({ isLoading: false, data: undefined, error: { code: ErrorCode.PermissionDenied.code } });
    expect(presence.last?.error?.code).toBe(ErrorCode.PermissionDenied.code);
    await heard.until((e) => e.code === ErrorCode.PermissionDenied.code, 'the listener heard it');
  });

  it('sends the Suspense hook’s error to the nearest error boundary, and suspends before data', async () => {
    const t = await t$.harness();
    const client = t.client('alice', {}, { caps: PROJECT_ONLY });
    client.connect();
    const caught = new Recorder<unknown>();
    const fallback = new Recorder<string>();
    const shown = new Recorder<string>();
    function Fallback() {
      fallback.push('fallback');
      return null;
    }
    function Forbidden() {
      suspense.useChannel('chat:secret');
      return null;
    }
    function Allowed() {
      const state = suspense.useChannel('project:open').state;
      shown.push(state);
      return null;
    }
    const container = document.createElement('div');
    const root = t$.root(container, { onCaughtError: () => {} });
    root.render(
      h(
        SwitchboardProvider,
        { client },
        h(
          Boundary,
          { caught },
          h(suspense.ClientSideSuspense, { fallback: h(Fallback) }, () => h(Forbidden)),
        ),
        h(suspense.ClientSideSuspense, { fallback: h(Fallback) }, () => h(Allowed)),
      ),
    );
    await caught.until(() => true, 'the boundary caught the error');
    expect((caught.last as SwitchboardError).code).toBe(ErrorCode.PermissionDenied.code);
    await shown.until((s) => s === 'subscribed', 'the allowed channel rendered its data');
    expect(fallback.renders).toBeGreaterThan(0);
    expect(container.textContent).toBe('failed');
  });
});
