/**
 * STAND-IN for the Google Cloud REST APIs that `deploy.sh` reaches through gcloud — a fake, for
 * tests only.
 *
 * One HTTP server on loopback serves every API under a path of its own (`/pubsub/v1/…`,
 * `/cloudfunctions/v2/…`); {@link GoogleRest.gcloudEnv} points the real gcloud CLI at it with
 * `CLOUDSDK_API_ENDPOINT_OVERRIDES_<API>` and a fake access token. Resources live in memory,
 * keyed by their resource names (https://google.aip.dev/122). The generic rules follow Google's
 * API design guide: GET of a name reads it (404 NOT_FOUND when unknown, with Google's error JSON,
 * https://cloud.google.com/apis/design/errors), GET of a collection lists it, POST to a
 * collection or PUT of a name creates (409 ALREADY_EXISTS when taken), PATCH updates the fields
 * of its update mask; `:getIamPolicy` / `:setIamPolicy` read and write policies with etags
 * (https://cloud.google.com/iam/docs/reference/rest/v1/Policy), refusing a stale etag with 409
 * ABORTED and a member naming a service account of the project that does not exist. The APIs
 * whose writes are long-running operations answer them `done: true` with the resource as
 * `response` (https://google.aip.dev/151). What one API does beside that — Cloud Functions
 * making the Eventarc trigger, its Pub/Sub subscription and the Cloud Run service of a function,
 * the source upload URL, Firestore's implicit `__name__` index field — is in {@link special}.
 * Every request is recorded with its decoded JSON body.
 */
import * as http from 'node:http';
import type {AddressInfo} from 'node:net';

type Json = Record<string, unknown>;

/** One request as received. */
export interface RecordedRequest {
  /** The API's path prefix and override name, e.g. `pubsub`. */
  readonly api: string;
  readonly method: string;
  /** The resource name the request is about, without version or custom verb. */
  readonly name: string;
  /** The custom method after `:`, e.g. `setIamPolicy`; empty for standard methods. */
  readonly verb: string;
  readonly query: Readonly<Record<string, string>>;
  /** The JSON body, decoded; the byte count for a source upload. */
  readonly body: unknown;
  /** The HTTP status the stand-in answered. */
  readonly status: number;
}

/** An IAM policy as the APIs exchange it. */
export interface IamPolicy {
  readonly version?: number;
  readonly etag?: string;
  readonly bindings?: readonly {
    readonly role: string;
    readonly members: readonly string[];
    readonly condition?: unknown;
  }[];
}

/** The APIs deploy.sh calls, by their `api_endpoint_overrides` property names. */
export const GCLOUD_APIS = [
  'artifactregistry',
  'batch',
  'cloudbuild',
  'cloudfunctions',
  'cloudresourcemanager',
  'cloudscheduler',
  'eventarc',
  'firestore',
  'iam',
  'pubsub',
  'run',
  'secretmanager',
  'serviceusage',
] as const;
/** One of {@link GCLOUD_APIS}. */
export type GcloudApi = (typeof GCLOUD_APIS)[number];

/** The APIs whose create and update methods return long-running operations. */
const OPERATION_APIS = new Set(['cloudfunctions', 'firestore', 'serviceusage']);

/** Cloud Functions runtimes as `runtimes.list` describes them, decommission dates from
 * https://cloud.google.com/functions/docs/runtime-support. */
const RUNTIMES = [
  {name: 'nodejs20', stage: 'DECOMMISSIONED', decommissionDate: [2026, 10, 30]},
  {name: 'nodejs22', stage: 'GA', decommissionDate: [2027, 10, 31]},
  {name: 'nodejs24', stage: 'GA', decommissionDate: [2028, 10, 31]},
].map(({decommissionDate: [year, month, day], ...r}) => ({
  ...r,
  decommissionDate: {year, month, day},
  displayName: r.name,
  environment: 'GEN_2',
}));

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

const notFound = (what: string) =>
  new HttpError(404, 'NOT_FOUND', `Resource not found: ${what}`);

/** A running stand-in. */
export class GoogleRest {
  /** Every request received, in order. */
  readonly requests: RecordedRequest[] = [];
  /** Source archives uploaded to the upload URLs, by object name. */
  readonly uploads = new Map<string, Buffer>();
  private readonly resources = new Map<string, Json>();
  private readonly policies = new Map<string, {policy: IamPolicy; n: number}>();
  private readonly denied: {api: string; name: string}[] = [];
  private serial = 0;

  private constructor(
    private readonly server: http.Server,
    /** `http://127.0.0.1:PORT`. */
    readonly url: string,
    /** The one project the stand-in knows. */
    readonly project: string,
    readonly projectNumber: string,
  ) {}

  /** Starts a stand-in on a free loopback port with `project` and its IAM policy. */
  static async start(
    project: string,
    projectNumber: string,
    projectPolicy: IamPolicy = {},
  ): Promise<GoogleRest> {
    const server = http.createServer();
    await new Promise<void>(resolve =>
      server.listen(0, '127.0.0.1', () => resolve()),
    );
    const {port} = server.address() as AddressInfo;
    const rest = new GoogleRest(
      server,
      `http://127.0.0.1:${port}`,
      project,
      projectNumber,
    );
    server.on('request', (req, res) => rest.handle(req, res));
    // gcloud's proxy is this server (see gcloudEnv): a CONNECT is a call that would have left
    // loopback. It is recorded and refused.
    server.on('connect', (req: http.IncomingMessage, socket) => {
      rest.requests.push({
        api: 'CONNECT',
        method: 'CONNECT',
        name: req.url ?? '',
        verb: '',
        query: {},
        body: undefined,
        status: 403,
      });
      socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
    });
    rest.put('cloudresourcemanager', `projects/${project}`, {
      projectId: project,
      projectNumber,
      name: project,
      lifecycleState: 'ACTIVE',
    });
    rest.setPolicy(
      'cloudresourcemanager',
      `projects/${project}`,
      projectPolicy,
    );
    return rest;
  }

  /**
   * The environment that sends gcloud here: every API overridden, a fake token, a throwaway
   * config dir, no prompts, no metadata server, no usage reports or update checks.
   */
  gcloudEnv(configDir: string): Record<string, string> {
    const env: Record<string, string> = {
      CLOUDSDK_CONFIG: configDir,
      CLOUDSDK_AUTH_ACCESS_TOKEN: 'fake-access-token',
      CLOUDSDK_CORE_DISABLE_PROMPTS: '1',
      CLOUDSDK_CORE_CHECK_GCE_METADATA: 'false',
      CLOUDSDK_CORE_DISABLE_USAGE_REPORTING: 'true',
      CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK: 'true',
      CLOUDSDK_SURVEY_DISABLE_PROMPTS: 'true',
      // Anything not overridden would go to Google: send it to this server as a proxy, which
      // records and refuses it.
      CLOUDSDK_PROXY_TYPE: 'http',
      CLOUDSDK_PROXY_ADDRESS: '127.0.0.1',
      CLOUDSDK_PROXY_PORT: new URL(this.url).port,
    };
    for (const api of GCLOUD_APIS) {
      env[`CLOUDSDK_API_ENDPOINT_OVERRIDES_${api.toUpperCase()}`] =
        `${this.url}/${api}/`;
    }
    return env;
  }

  /** Stores a resource as if it had been created before. */
  put(api: GcloudApi, name: string, resource: Json): void {
    this.resources.set(`${api} ${name}`, {name, ...resource});
  }

  /** The resource stored under `name`, if any. */
  get(api: GcloudApi, name: string): Json | undefined {
    return this.resources.get(`${api} ${name}`);
  }

  /** The names of the stored resources of `api` directly under `collection`. */
  list(api: GcloudApi, collection: string): string[] {
    return [...this.resources.keys()]
      .filter(k => k.startsWith(`${api} `))
      .map(k => k.slice(api.length + 1))
      .filter(n => inCollection(n, collection));
  }

  /** The IAM policy of a resource (empty when none was set). */
  policy(api: GcloudApi, name: string): IamPolicy {
    return this.policies.get(`${api} ${name}`)?.policy ?? {};
  }

  /** Replaces the IAM policy of a resource, with a new etag. */
  setPolicy(api: GcloudApi, name: string, policy: IamPolicy): IamPolicy {
    const key = `${api} ${name}`;
    const n = (this.policies.get(key)?.n ?? 0) + 1;
    const stored = {
      version: policy.version ?? 1,
      ...policy,
      etag: Buffer.from(`etag-${n}`).toString('base64'),
    };
    this.policies.set(key, {policy: stored, n});
    return stored;
  }

  /** Every IAM policy set so far, with the resource it is on. */
  allPolicies(): {api: string; name: string; policy: IamPolicy}[] {
    return [...this.policies].map(([key, {policy}]) => {
      const [api, name] = [
        key.slice(0, key.indexOf(' ')),
        key.slice(key.indexOf(' ') + 1),
      ];
      return {api, name, policy};
    });
  }

  /** From now on, answers every request on `name` (and below it) with 403 PERMISSION_DENIED. */
  deny(api: GcloudApi, name: string): void {
    this.denied.push({api, name});
  }

  /** Stops the server. */
  close(): Promise<void> {
    return new Promise(resolve => this.server.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', c => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const url = new URL(req.url ?? '/', this.url);
      const segments = url.pathname.split('/').filter(s => s);
      const api = segments[0] ?? '';
      const query = Object.fromEntries(url.searchParams);
      const method = req.method ?? 'GET';
      let status = 200;
      let answer: unknown;
      let body: unknown;
      let name = '';
      let verb = '';
      try {
        if (api === 'upload') {
          name = segments.slice(1).join('/');
          body = raw.length;
          this.uploads.set(name, raw);
          answer = {};
        } else {
          // /API/VERSION/NAME[:VERB]; a verb follows the last ':' of the last segment.
          const rest = segments.slice(2).map(decodeURIComponent).join('/');
          const colon = rest.lastIndexOf(':');
          [name, verb] =
            colon > rest.lastIndexOf('/') && colon >= 0
              ? [rest.slice(0, colon), rest.slice(colon + 1)]
              : [rest, ''];
          // IAM takes `projects/-/serviceAccounts/EMAIL`: the project is the email's.
          name = name.replace(
            /^projects\/-\/(serviceAccounts\/[^/@]+@([^./]+)\.)/,
            'projects/$2/$1',
          );
          body = raw.length ? JSON.parse(raw.toString('utf8')) : undefined;
          if (!(GCLOUD_APIS as readonly string[]).includes(api)) {
            throw new HttpError(404, 'NOT_FOUND', `no API ${api} here`);
          }
          answer = this.route({
            api: api as GcloudApi,
            method,
            name,
            verb,
            query,
            body: (body ?? {}) as Json,
          });
        }
      } catch (e) {
        const err =
          e instanceof HttpError
            ? e
            : new HttpError(500, 'INTERNAL', String((e as Error).stack ?? e));
        status = err.status;
        answer = {
          error: {code: err.status, message: err.message, status: err.code},
        };
      }
      this.requests.push({api, method, name, verb, query, body, status});
      res.writeHead(status, {
        'content-type': 'application/json; charset=UTF-8',
      });
      res.end(JSON.stringify(answer));
    });
  }

  private route(r: Request): unknown {
    if (
      this.denied.some(
        d => d.api === r.api && (r.name + '/').startsWith(d.name + '/'),
      )
    ) {
      throw new HttpError(
        403,
        'PERMISSION_DENIED',
        `Permission denied on resource ${r.name} (or it may not exist).`,
      );
    }
    const handled = special(this, r);
    if (handled !== undefined) return handled;
    if (r.verb === 'getIamPolicy') return this.getIamPolicy(r);
    if (r.verb === 'setIamPolicy') return this.setIamPolicy(r);
    if (r.verb) throw new HttpError(400, 'INVALID_ARGUMENT', `no :${r.verb}`);
    const isCollection = r.name.split('/').length % 2 === 1;
    if (r.method === 'GET') {
      if (isCollection) return this.listAnswer(r.api, r.name);
      const found = this.get(r.api, r.name);
      if (!found) throw notFound(r.name);
      return found;
    }
    if (r.method === 'POST' && isCollection) {
      const id = Object.entries(r.query).find(([k]) => /Id$/.test(k))?.[1];
      if (!id) throw new HttpError(400, 'INVALID_ARGUMENT', 'no id given');
      return this.create(r.api, `${r.name}/${id}`, r.body);
    }
    if (r.method === 'PUT') return this.create(r.api, r.name, r.body);
    if (r.method === 'PATCH') return this.update(r);
    throw new HttpError(405, 'UNIMPLEMENTED', `${r.method} ${r.name}`);
  }

  /** Stores a new resource and answers it (as a done operation where the API has those). */
  create(api: GcloudApi, name: string, resource: Json): unknown {
    if (this.get(api, name)) {
      throw new HttpError(
        409,
        'ALREADY_EXISTS',
        `Resource already exists: ${name}`,
      );
    }
    this.put(api, name, {...resource, name});
    return this.answer(api, name);
  }

  private update(r: Request): unknown {
    const current = this.get(r.api, r.name);
    if (!current) throw notFound(r.name);
    // Pub/Sub wraps the resource: {subscription: {...}, updateMask: "a,b"}.
    const wrapped = Object.keys(r.body).find(
      k => k !== 'updateMask' && isObject(r.body[k]) && r.body.updateMask,
    );
    const patch = (wrapped ? r.body[wrapped] : r.body) as Json;
    const mask = String(r.query.updateMask ?? r.body.updateMask ?? '');
    const next = structuredClone(current);
    if (mask) {
      for (const path of mask.split(','))
        setPath(next, path, getPath(patch, path));
    } else {
      Object.assign(next, patch);
    }
    this.put(r.api, r.name, next);
    return this.answer(r.api, r.name);
  }

  /** The stored resource, or a done operation holding it. */
  answer(
    api: GcloudApi,
    name: string,
    response = this.get(api, name),
  ): unknown {
    if (!OPERATION_APIS.has(api)) return response;
    const where = /^projects\/[^/]+(\/(locations|databases)\/[^/]+)?/.exec(
      name,
    );
    const opName = `${where?.[0] ?? ''}${where ? '/' : ''}operations/op-${++this.serial}`;
    const op = {name: opName, done: true, metadata: {}, response};
    this.put(api, opName, op);
    return op;
  }

  private listAnswer(api: GcloudApi, collection: string): Json {
    // The list field is named after the collection, but for IAM's service accounts.
    const last = collection.split('/').pop() ?? '';
    const key = last === 'serviceAccounts' ? 'accounts' : last;
    return {[key]: this.list(api, collection).map(n => this.get(api, n))};
  }

  private getIamPolicy(r: Request): IamPolicy {
    if (!this.get(r.api, r.name)) throw notFound(r.name);
    return this.policy(r.api, r.name);
  }

  private setIamPolicy(r: Request): IamPolicy {
    if (!this.get(r.api, r.name)) throw notFound(r.name);
    const policy = (r.body.policy ?? {}) as IamPolicy;
    const current = this.policy(r.api, r.name);
    if (policy.etag && current.etag && policy.etag !== current.etag) {
      throw new HttpError(
        409,
        'ABORTED',
        'There were concurrent policy changes.',
      );
    }
    for (const b of policy.bindings ?? []) {
      for (const m of b.members) this.checkMember(m);
    }
    return this.setPolicy(r.api, r.name, policy);
  }

  /** IAM refuses a binding for a service account of the project that does not exist. */
  private checkMember(member: string): void {
    const sa =
      /^serviceAccount:([^@]+@([^.]+)\.iam\.gserviceaccount\.com)$/.exec(
        member,
      );
    if (!sa || sa[2] !== this.project) return;
    if (!this.get('iam', `projects/${this.project}/serviceAccounts/${sa[1]}`)) {
      throw new HttpError(
        400,
        'INVALID_ARGUMENT',
        `Service account ${sa[1]} does not exist.`,
      );
    }
  }

  /** A number unique in this stand-in, for generated ids. */
  next(): number {
    return ++this.serial;
  }
}

/** A request, routed. */
interface Request {
  readonly api: GcloudApi;
  readonly method: string;
  readonly name: string;
  readonly verb: string;
  readonly query: Readonly<Record<string, string>>;
  readonly body: Json;
}

/**
 * What an API does beside the generic rules; `undefined` leaves the request to them.
 * Shapes: Cloud Functions v2 (https://cloud.google.com/functions/docs/reference/rest/v2/projects.locations.functions),
 * IAM service accounts (https://cloud.google.com/iam/docs/reference/rest/v1/projects.serviceAccounts/create),
 * Service Usage (https://cloud.google.com/service-usage/docs/reference/rest/v1/services/batchEnable),
 * Firestore indexes (https://cloud.google.com/firestore/docs/reference/rest/v1/projects.databases.collectionGroups.indexes),
 * Cloud Scheduler (https://cloud.google.com/scheduler/docs/reference/rest/v1/projects.locations.jobs/create).
 */
function special(rest: GoogleRest, r: Request): unknown {
  const p = rest.project;
  switch (`${r.api} ${r.method} ${r.verb}`) {
    case 'serviceusage POST batchEnable':
      for (const id of (r.body.serviceIds ?? []) as string[]) {
        rest.put('serviceusage', `${r.name}/${id}`, {state: 'ENABLED'});
      }
      return rest.answer('serviceusage', r.name, {});
    case 'serviceusage POST generateServiceIdentity': {
      const service = r.name.split('/').pop()!.split('.')[0];
      return rest.answer('serviceusage', r.name, {
        email: `service-${rest.projectNumber}@gcp-sa-${service}.iam.gserviceaccount.com`,
        uniqueId: String(rest.next()),
      });
    }
    case 'iam POST ': {
      const email = `${r.body.accountId}@${p}.iam.gserviceaccount.com`;
      const sa = (r.body.serviceAccount ?? {}) as Json;
      return rest.create('iam', `projects/${p}/serviceAccounts/${email}`, {
        ...sa,
        email,
        projectId: p,
        uniqueId: String(rest.next()),
      });
    }
    case 'cloudscheduler POST ':
      return rest.create('cloudscheduler', String(r.body.name), {
        ...r.body,
        state: 'ENABLED',
      });
    case 'firestore POST ':
      if (!r.name.endsWith('/indexes')) return undefined;
      return createIndex(rest, r);
    case 'serviceusage GET ':
      // Service Usage knows every service: one never enabled reads as DISABLED.
      return (
        rest.get('serviceusage', r.name) ?? {name: r.name, state: 'DISABLED'}
      );
    case 'cloudbuild GET ':
      // Builds run as the Compute Engine default service account unless told otherwise.
      return {
        name: r.name,
        serviceAccountEmail: `projects/${p}/serviceAccounts/${rest.projectNumber}-compute@developer.gserviceaccount.com`,
      };
    case 'cloudfunctions GET ':
      if (r.name.endsWith('/runtimes')) return {runtimes: RUNTIMES};
      return undefined;
    case 'cloudfunctions POST generateUploadUrl': {
      const object = `source-${rest.next()}.zip`;
      return {
        uploadUrl: `${rest.url}/upload/${object}`,
        storageSource: {bucket: `gcf-v2-uploads-${rest.projectNumber}`, object},
      };
    }
    case 'cloudfunctions POST ':
    case 'cloudfunctions PATCH ':
      return deployFunction(rest, r);
  }
  return undefined;
}

/** Firestore appends `__name__` to every composite index, in the last field's direction. */
function createIndex(rest: GoogleRest, r: Request): unknown {
  const fields = [...((r.body.fields ?? []) as Json[])];
  const last = fields[fields.length - 1];
  if (last && last.fieldPath !== '__name__') {
    fields.push({fieldPath: '__name__', order: last.order ?? 'ASCENDING'});
  }
  const same = rest
    .list('firestore', r.name)
    .some(
      n =>
        JSON.stringify(rest.get('firestore', n)?.fields) ===
        JSON.stringify(fields),
    );
  if (same) {
    throw new HttpError(409, 'ALREADY_EXISTS', 'index already exists');
  }
  const name = `${r.name}/CICAgOjX${rest.next()}`;
  return rest.create('firestore', name, {
    ...r.body,
    fields,
    queryScope: r.body.queryScope ?? 'COLLECTION',
    state: 'CREATING',
  });
}

/**
 * A gen2 function, created or updated: refuses a runtime Google no longer deploys, then makes
 * what Google makes beside it — the Cloud Run service, and for an event trigger the Eventarc
 * trigger with its Pub/Sub push subscription — keeping those of an earlier deploy.
 */
function deployFunction(rest: GoogleRest, r: Request): unknown {
  const name = r.method === 'POST' ? `${r.name}/${r.query.functionId}` : r.name;
  const [, project, , region, , id] = name.split('/');
  const runtime = String(
    (r.body.buildConfig as Json | undefined)?.runtime ?? '',
  );
  const known = RUNTIMES.find(x => x.name === runtime);
  if (runtime && (!known || known.stage === 'DECOMMISSIONED')) {
    throw new HttpError(
      400,
      'INVALID_ARGUMENT',
      `runtime ${runtime} is not supported: ${known ? 'decommissioned' : 'unknown'}`,
    );
  }
  const before = rest.get('cloudfunctions', name);
  if (r.method === 'POST' && before) {
    throw new HttpError(
      409,
      'ALREADY_EXISTS',
      `Resource already exists: ${name}`,
    );
  }
  if (r.method === 'PATCH' && !before) throw notFound(name);
  const service = `projects/${project}/locations/${region}/services/${id.toLowerCase()}`;
  if (!rest.get('run', service)) {
    rest.put('run', service, {uri: `https://${id.toLowerCase()}.run.app`});
  }
  const merged: Json = {...(before ?? {}), ...r.body, name};
  const trigger = merged.eventTrigger as Json | undefined;
  if (trigger) {
    const earlier = (before?.eventTrigger as Json | undefined)?.trigger;
    const triggerName =
      (earlier as string | undefined) ??
      `projects/${project}/locations/${region}/triggers/${id.toLowerCase()}-${rest.next()}`;
    if (!rest.get('eventarc', triggerName)) {
      const topic = String(trigger.pubsubTopic);
      const subscription = `projects/${project}/subscriptions/eventarc-${region}-${triggerName.split('/').pop()}-sub-${rest.next()}`;
      rest.put('pubsub', subscription, {
        topic,
        pushConfig: {
          pushEndpoint: `https://${id.toLowerCase()}.run.app`,
          oidcToken: {serviceAccountEmail: trigger.serviceAccountEmail},
        },
        ackDeadlineSeconds: 600,
      });
      rest.put('eventarc', triggerName, {
        eventFilters: [{attribute: 'type', value: trigger.eventType}],
        serviceAccount: trigger.serviceAccountEmail,
        destination: {cloudRun: {service: id.toLowerCase(), region}},
        transport: {pubsub: {topic, subscription}},
      });
    }
    merged.eventTrigger = {...trigger, trigger: triggerName};
  }
  merged.serviceConfig = {
    ...((merged.serviceConfig as Json | undefined) ?? {}),
    service,
    uri: `https://${id.toLowerCase()}.run.app`,
  };
  merged.state = 'ACTIVE';
  merged.environment = 'GEN_2';
  rest.put('cloudfunctions', name, merged);
  return rest.answer('cloudfunctions', name);
}

/** True when `name` is `collection/ID`, a `-` in the collection matching any one segment. */
function inCollection(name: string, collection: string): boolean {
  const n = name.split('/');
  const c = collection.split('/');
  return (
    n.length === c.length + 1 && c.every((s, i) => s === '-' || s === n[i])
  );
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function getPath(obj: Json, path: string): unknown {
  return path
    .split('.')
    .reduce<unknown>((o, k) => (isObject(o) ? o[camel(k)] : undefined), obj);
}

function setPath(obj: Json, path: string, value: unknown): void {
  const keys = path.split('.').map(camel);
  let o = obj;
  for (const k of keys.slice(0, -1)) {
    if (!isObject(o[k])) o[k] = {};
    o = o[k] as Json;
  }
  const last = keys[keys.length - 1];
  if (value === undefined) delete o[last];
  else o[last] = value;
}

/** Update masks may name fields in snake_case. */
function camel(s: string): string {
  return s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** The names of the entries of a zip archive, read from its central directory
 * (https://pkware.cachefly.net/webdocs/casestudies/APPNOTE.TXT, 4.3.12 and 4.3.16). */
export function zipEntryNames(zip: Buffer): string[] {
  const end = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (end < 0) throw new Error('not a zip archive');
  const count = zip.readUInt16LE(end + 10);
  let at = zip.readUInt32LE(end + 16);
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    const nameLength = zip.readUInt16LE(at + 28);
    const extra = zip.readUInt16LE(at + 30);
    const comment = zip.readUInt16LE(at + 32);
    names.push(zip.toString('utf8', at + 46, at + 46 + nameLength));
    at += 46 + nameLength + extra + comment;
  }
  return names;
}
