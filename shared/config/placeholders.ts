/**
 * `${NAME}` placeholders in job templates (DESIGN.md config contract). `$${NAME}` is a literal
 * `${NAME}`, for shell variables such as `$${BATCH_TASK_INDEX}` in a `bash -c` command.
 */

/** The placeholders a job template may use. */
export const PLACEHOLDERS = [
  'IMAGE',
  'IMAGE_DIGEST',
  'IMAGE_TAG',
  'IMAGE_NAME',
  'MAPPING',
] as const;
/** A known placeholder name. */
export type Placeholder = (typeof PLACEHOLDERS)[number];
/** True when `name` is a known placeholder. */
export function isPlaceholder(name: unknown): name is Placeholder {
  return (PLACEHOLDERS as readonly unknown[]).includes(name);
}

// `$${` escapes; `${NAME}` is a placeholder. Both are matched so the scan stays left to right.
const TOKEN = /\$\$\{|\$\{([^}]*)\}/g;

/** The placeholder names used in `text`, known or not (escaped ones excluded). */
export function placeholdersIn(text: string): string[] {
  const names: string[] = [];
  for (const m of text.matchAll(TOKEN))
    if (m[1] !== undefined) names.push(m[1]);
  return names;
}

/** Replaces placeholders in `text` and unescapes `$${`; an unknown name is left as written. */
export function fillPlaceholders(
  text: string,
  values: Readonly<Record<Placeholder, string>>,
): string {
  return text.replace(TOKEN, (token, name: string | undefined) => {
    if (name === undefined) return '${';
    return isPlaceholder(name) ? values[name] : token;
  });
}

/** Visits every string in a JSON value with its path (map keys are not visited). */
export function visitStrings(
  value: unknown,
  visit: (text: string, path: (string | number)[]) => void,
  path: (string | number)[] = [],
): void {
  if (typeof value === 'string') visit(value, path);
  else if (Array.isArray(value)) {
    value.forEach((v, i) => visitStrings(v, visit, [...path, i]));
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value))
      visitStrings(v, visit, [...path, k]);
  }
}

/** A deep copy of a JSON value with every string filled. */
export function fillTemplate<T>(
  value: T,
  values: Readonly<Record<Placeholder, string>>,
): T {
  if (typeof value === 'string') return fillPlaceholders(value, values) as T;
  if (Array.isArray(value)) return value.map(v => fillTemplate(v, values)) as T;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, fillTemplate(v, values)]),
    ) as T;
  }
  return value;
}
