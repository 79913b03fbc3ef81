/**
 * Compares jobs written in proto3 JSON by different writers (a template, Google's protobuf
 * runtime, gcloud's REST body) leaf by leaf, so that the spellings proto3 JSON allows for one
 * value compare equal: 8 and "8", "7200.5s" and "7200.500s".
 */

/** Every scalar of a job by its dotted path (`taskGroups.0.taskSpec.maxRunDuration`). */
export function jobLeaves(job: unknown): Map<string, string> {
  const out = new Map<string, string>();
  const visit = (v: unknown, at: string) => {
    if (v === null || v === undefined) return;
    if (typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) visit(x, at ? `${at}.${k}` : k);
      return;
    }
    // A scalar at its default is not on the wire, and proto3 JSON writers leave it out.
    if (v !== false && v !== 0 && v !== '') out.set(at, spelling(v));
  };
  visit(job, '');
  return out;
}

const DURATION = /^(-?\d+(?:\.\d+)?)s$/;

function spelling(v: unknown): string {
  if (typeof v === 'string') {
    const d = DURATION.exec(v);
    return d ? `${Number(d[1])}s` : v;
  }
  return String(v);
}

/** What pushrun adds to a template by design (DESIGN.md "Job identity" and "Config"). */
export interface PushrunAdditions {
  /** The pushed image, pinned by the digest that runs. */
  readonly pinned: string;
  readonly mapping: string;
  /** The digest that runs, `sha256:<hex>`. */
  readonly digest: string;
  readonly streams: boolean;
  /** The full name of the Batch events topic. */
  readonly eventsTopic: string;
  readonly serviceAccount?: string;
}

/**
 * The leaves a job built from `template` (proto3 JSON, lowerCamel names, placeholders filled)
 * must have: the template's own, with the pinned image and the streaming flag on the containers
 * that run the pushed image, pushrun's labels (on the job and its VMs), its notification and the
 * service account.
 */
export function expectedLeaves(
  template: unknown,
  a: PushrunAdditions,
): Map<string, string> {
  const want = jobLeaves(template);
  const job = template as {
    taskGroups?: {
      taskSpec?: {runnables?: {container?: {imageUri?: string}}[]};
    }[];
    notifications?: unknown[];
  };
  for (const k of [...want.keys()])
    if (k.endsWith('.enableImageStreaming')) want.delete(k);
  (job.taskGroups?.[0]?.taskSpec?.runnables ?? []).forEach((r, i) => {
    const uri = r.container?.imageUri;
    if (!r.container || (uri !== undefined && uri !== a.pinned)) return;
    const at = `taskGroups.0.taskSpec.runnables.${i}.container`;
    want.set(`${at}.imageUri`, a.pinned);
    if (a.streams) want.set(`${at}.enableImageStreaming`, 'true');
  });
  // The job and its VMs (allocationPolicy) carry the same labels.
  for (const at of ['labels', 'allocationPolicy.labels']) {
    want.set(`${at}.pushrun-mapping`, a.mapping);
    want.set(`${at}.pushrun-digest`, a.digest.slice(7, 39));
    want.set(`${at}.pushrun-streaming`, String(a.streams));
  }
  const ours = `notifications.${job.notifications?.length ?? 0}`;
  want.set(`${ours}.pubsubTopic`, a.eventsTopic);
  want.set(`${ours}.message.type`, 'JOB_STATE_CHANGED');
  if (a.serviceAccount)
    want.set('allocationPolicy.serviceAccount.email', a.serviceAccount);
  return want;
}

/** What differs between two leaf maps, one line per leaf; empty when they agree. */
export function leafDifferences(
  want: ReadonlyMap<string, string>,
  got: ReadonlyMap<string, string>,
): string[] {
  const out: string[] = [];
  for (const [k, v] of want) {
    if (!got.has(k)) out.push(`missing ${k} (want ${v})`);
    else if (got.get(k) !== v) out.push(`${k}: want ${v}, got ${got.get(k)}`);
  }
  for (const [k, v] of got)
    if (!want.has(k)) out.push(`unexpected ${k} = ${v}`);
  return out;
}
