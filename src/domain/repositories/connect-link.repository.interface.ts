import type { Queryable } from './queryable';
import type {
  ConnectLink,
  ConnectLinkState,
  ConnectLinkView,
} from '../entities/connect-link.entity';

export const CONNECT_LINK_REPOSITORY = Symbol('CONNECT_LINK_REPOSITORY');

export interface NewConnectLink {
  userId: string;
  tokenHash: Buffer;
  label: string | null;
  accountId: string | null;
  expiresInHours: number;
  /** Refuse (null) when the user already has this many open, unused links. */
  maxOpen: number;
}

/**
 * Taking a link for one callback: `claimed` lets the connect go ahead; otherwise why not
 * (`busy`: another callback holds it right now; `gone`: the row no longer exists).
 */
export type ConnectLinkClaim = 'claimed' | 'busy' | 'gone' | Exclude<ConnectLinkState, 'open'>;

export interface IConnectLinkRepository {
  /** The new link, or null when the user has `maxOpen` open links already. */
  create(link: NewConnectLink): Promise<ConnectLink | null>;
  findById(id: string): Promise<ConnectLink | null>;
  /** The link of a token's hash with its state, owner and reconnect account; null if none. */
  findViewByTokenHash(tokenHash: Buffer): Promise<ConnectLinkView | null>;
  /** The user's links that are neither revoked nor expired (used ones too), newest first. */
  listUnexpired(userId: string): Promise<ConnectLink[]>;
  /**
   * Marks the link revoked (kept as is if it already was). Its pending OAuth states stay, to be
   * refused at the callback with the reason, and purged when they expire.
   */
  revoke(id: string): Promise<void>;
  /**
   * Takes an open link for `leaseSeconds`, in one statement, so two callbacks racing on one link
   * cannot both connect. The claim lapses by itself if its holder dies.
   */
  claim(id: string, leaseSeconds: number): Promise<ConnectLinkClaim>;
  /**
   * The connect succeeded: the link is used up (other browsers' states are refused as `used`).
   * In the transaction that writes the account (`tx`), so an account comes in through a link
   * exactly when the link is used. False when the link was used or revoked meanwhile (its hold
   * lapsed): the caller rolls its write back.
   */
  markUsed(id: string, accountId: string, tx?: Queryable): Promise<boolean>;
  /** The connect failed: the claim is given back and the link stays open. */
  release(id: string): Promise<void>;
}
