import { request } from 'node:http';
import type { Harness } from './harness.js';

/** The HTTP API with the admin key for tenant acme (node:http: the DOM environment's fetch applies browser CORS rules). */
export function api<T>(t: Harness, method: string, path: string, body?: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${t.server.httpUrl}/api/v1${path}`,
      { method, headers: { authorization: `Bearer ${t.server.apiKey}`, 'x-switchboard-tenant': 'acme', 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => ((res.statusCode ?? 500) < 300 ? resolve(JSON.parse(text) as T) : reject(new Error(`${res.statusCode}: ${text}`))));
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}
