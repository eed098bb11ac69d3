import { ErrorCode } from '@switchboard/protocol';
import type { Kysely, Transaction } from 'kysely';
import { ReplyError } from '../../errors/reply-error.js';
import type { SharedTables } from '../../storage/tables.js';
import type { CommentTables } from './tables.js';

/** The query layer of the comment stores: the shared tables and the comments feature's. */
export type Db = SharedTables & CommentTables;
export type Trx = Transaction<Db>;
export type CommentDb = Kysely<Db>;

/** NotFound for an id that does not exist, of another tenant, or not where it was looked for. */
export const notFound = (what: string) => new ReplyError(ErrorCode.NotFound, `no such ${what}`);
