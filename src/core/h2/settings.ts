/**
 * SETTINGS (RFC 9113 §6.5): the ones we announce, from our limits, and applying the peer's to what
 * we send. Applying a new SETTINGS_INITIAL_WINDOW_SIZE to open streams (§6.9.2) and the HPACK table
 * size to our encoder are the connection's business: they are handed back through `effects`.
 */
import { H2ConnectionError } from './errors.js';
import { DEFAULT_MAX_FRAME_SIZE, SETTING_IDS, type SettingEntry } from './frames.js';
import type { PeerSettings } from './events.js';
import type { H2Limits } from './limits.js';

/** §3.4: each side's preface ends with a SETTINGS frame; values at their default are left out. */
export function localSettings(role: 'server' | 'client', limits: Readonly<H2Limits>): SettingEntry[] {
  const settings: SettingEntry[] = [
    [SETTING_IDS.MAX_CONCURRENT_STREAMS, limits.maxConcurrentStreams],
    [SETTING_IDS.MAX_HEADER_LIST_SIZE, limits.maxHeaderListSize],
  ];
  if (role === 'client') settings.unshift([SETTING_IDS.ENABLE_PUSH, 0]);
  if (limits.headerTableSize !== 4096) settings.push([SETTING_IDS.HEADER_TABLE_SIZE, limits.headerTableSize]);
  if (limits.initialWindowSize !== 65_535) settings.push([SETTING_IDS.INITIAL_WINDOW_SIZE, limits.initialWindowSize]);
  if (limits.maxFrameSize !== DEFAULT_MAX_FRAME_SIZE) settings.push([SETTING_IDS.MAX_FRAME_SIZE, limits.maxFrameSize]);
  return settings;
}

export interface SettingsEffects {
  /** The peer's HPACK table size changed: our encoder's limit. */
  headerTableSize(size: number): void;
  /** SETTINGS_INITIAL_WINDOW_SIZE changed by `delta`: every open stream's send window; false on overflow. */
  initialWindowDelta(delta: number): boolean;
}

/** Applies the peer's SETTINGS in order (§6.5.3); unknown settings are ignored (§6.5.2). */
export function applyPeerSettings(peer: PeerSettings, settings: readonly SettingEntry[], effects: SettingsEffects): void {
  for (const [id, value] of settings) {
    switch (id) {
      case SETTING_IDS.HEADER_TABLE_SIZE:
        peer.headerTableSize = value;
        effects.headerTableSize(value);
        break;
      case SETTING_IDS.ENABLE_PUSH:
        peer.enablePush = value === 1;
        break;
      case SETTING_IDS.MAX_CONCURRENT_STREAMS:
        peer.maxConcurrentStreams = value;
        break;
      case SETTING_IDS.INITIAL_WINDOW_SIZE: {
        // §6.9.2: a change applies to every open stream's window at once, and may make it negative.
        const delta = value - peer.initialWindowSize;
        peer.initialWindowSize = value;
        if (!effects.initialWindowDelta(delta))
          throw new H2ConnectionError('FLOW_CONTROL_ERROR', 'SETTINGS_INITIAL_WINDOW_SIZE made a window overflow');
        break;
      }
      case SETTING_IDS.MAX_FRAME_SIZE:
        peer.maxFrameSize = value;
        break;
      case SETTING_IDS.MAX_HEADER_LIST_SIZE:
        peer.maxHeaderListSize = value;
        break;
    }
  }
}
