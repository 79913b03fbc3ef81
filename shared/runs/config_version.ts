/** How a run's `configVersion` reads in notifications and `pushrun runs show`. */
import type {ConfigVersion, RunRecord} from './record';

/** `live version 3`, or `bundled file` for a run launched before any version was applied. */
export function configVersionText(v: ConfigVersion): string {
  return v === 'bundled' ? 'bundled file' : `live version ${v}`;
}

/** The notification's config line, none for a record that names no version (older records). */
export function configVersionLines(
  record: Pick<RunRecord, 'configVersion'>,
): string[] {
  return record.configVersion === undefined
    ? []
    : [`Config: ${configVersionText(record.configVersion)}`];
}
