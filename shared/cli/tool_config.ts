/**
 * The config `pushrun plan` and `pushrun replay` work with: a file named with `--config`, else
 * the live version the functions use, else (no version yet) the bundled file. Says which.
 */
import type {ConfigReading} from '../config/load';
import type {ConfigVersionStore} from '../config/versions';
import {errorMessage} from '../errors';
import type {ConfigVersion} from '../runs/record';
import type {Settings} from '../settings';
import {lazy} from './context';

const load = lazy(() => require('../config') as typeof import('../config'));
const contents = lazy(
  () => require('../config/content') as typeof import('../config/content'),
);

/** A config read for a tool, the version it is, and a line saying where it came from. */
export interface ToolConfig {
  readonly reading: ConfigReading;
  readonly version: ConfigVersion;
  /** `live version 3`, `file my.yaml`, or `bundled file config/pushrun.yaml (…)`. */
  readonly source: string;
}

/**
 * Reads `file` when given; otherwise the live version, falling back to the bundled file.
 * `unreachable` says first why the store cannot be asked (see `storeUnreachable`).
 */
export async function toolConfig(
  file: string | undefined,
  settings: Settings,
  versions: (settings: Settings) => ConfigVersionStore,
  unreachable: StoreCheck = async () => undefined,
): Promise<ToolConfig> {
  const {readConfig} = load();
  if (file !== undefined) {
    return {
      reading: readConfig(file),
      version: 'bundled',
      source: `file ${file}`,
    };
  }
  let why = await unreachable(settings);
  try {
    const live = why ? undefined : await versions(settings).newestContent();
    if (live) {
      const {readContent, versionFileName} = contents();
      return {
        reading: readContent(live.content, versionFileName(live.version)),
        version: live.version,
        source: `live version ${live.version}`,
      };
    }
    why ??= 'no live version yet';
  } catch (e) {
    why = `the live config could not be read: ${errorMessage(e)}`;
  }
  return {
    reading: readConfig(settings.configFile),
    version: 'bundled',
    source: `bundled file ${settings.configFile} (${why})`,
  };
}

/** The real store, loaded when a command first needs it. */
export const liveVersions = (settings: Settings): ConfigVersionStore =>
  (
    require('../config/firestore_versions') as typeof import('../config/firestore_versions')
  ).makeConfigVersions(settings);

/** Says why the store cannot be asked, or undefined when it can. */
export type StoreCheck = (settings: Settings) => Promise<string | undefined>;

/**
 * Why the store cannot be asked, or undefined when it can: without credentials (and no
 * emulator) the Firestore client fails with rejections nobody can catch, so look first.
 */
export async function storeUnreachable(
  settings: Pick<Settings, 'firestoreEmulatorHost'>,
): Promise<string | undefined> {
  if (settings.firestoreEmulatorHost) return undefined;
  try {
    const {GoogleAuth} =
      require('google-auth-library') as typeof import('google-auth-library');
    await new GoogleAuth().getClient();
    return undefined;
  } catch (e) {
    return `no Google credentials to read it with: ${errorMessage(e)}`;
  }
}
