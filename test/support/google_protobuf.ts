/**
 * Reads protobuf bytes the way Google reads them: with Google's own protobuf runtime (the
 * Python one that ships inside the Google Cloud CLI), over a descriptor set built from the
 * protos inside `@google-cloud/batch`. Unlike protobufjs, it keeps one member of a `oneof`:
 * the last one on the wire, as Google's servers do.
 */
import {spawnSync} from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
// Adds Root#toDescriptor; its export is the google.protobuf namespace of descriptor.proto.
const descriptor = require('protobufjs/ext/descriptor') as {
  FileDescriptorSet: protobuf.Type;
};

/** The gcloud install's Python and the folder holding its protobuf package, if gcloud is here. */
export interface GooglePython {
  readonly python: string;
  readonly libDir: string;
}

/** Finds the Google Cloud CLI's bundled Python and protobuf runtime; the reason when absent. */
export function findGooglePython(): GooglePython | {missing: string} {
  const which = spawnSync('sh', ['-c', 'command -v gcloud'], {
    encoding: 'utf8',
  });
  const gcloud = which.stdout.trim();
  if (!gcloud)
    return {missing: 'the Google Cloud CLI (gcloud) is not installed'};
  const sdk = path.resolve(path.dirname(fs.realpathSync(gcloud)), '..');
  const python = path.join(
    sdk,
    'platform',
    'bundledpythonunix',
    'bin',
    'python3',
  );
  const libDir = path.join(sdk, 'lib', 'third_party');
  const runtime = path.join(libDir, 'cloudsdk', 'google', 'protobuf');
  if (!fs.existsSync(python))
    return {missing: `no bundled Python at ${python}`};
  if (!fs.existsSync(runtime))
    return {missing: `no protobuf runtime at ${runtime}`};
  return {python, libDir};
}

// Decodes base64 messages, one per stdin line, and prints each as proto3 JSON (lowerCamel names,
// int64 as strings, enums by name, defaults left out), one JSON document per line.
const DECODER = String.raw`
import base64, json, sys
from cloudsdk.google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
files = descriptor_pb2.FileDescriptorSet.FromString(open(sys.argv[1], 'rb').read())
pool = descriptor_pool.DescriptorPool()
for f in files.file:
    pool.Add(f)
cls = message_factory.MessageFactory(pool).GetPrototype(pool.FindMessageTypeByName(sys.argv[2]))
for line in sys.stdin:
    msg = cls.FromString(base64.b64decode(line.strip()))
    print(json.dumps(json_format.MessageToDict(msg)))
`;

let descriptorFile: string | undefined;

/**
 * The Batch protos as a FileDescriptorSet on disk. protobufjs writes one file per package and
 * no imports, so each file is given the files whose types it names.
 */
function batchDescriptorSet(): string {
  if (descriptorFile) return descriptorFile;
  const root = protobuf.Root.fromJSON(
    require('@google-cloud/batch/build/protos/protos.json'),
  );
  const set = (
    root as unknown as {toDescriptor(syntax: string): DescriptorSet}
  ).toDescriptor('proto3');
  const definedIn = new Map<string, string>();
  for (const file of set.file) {
    const visit = (prefix: string, types: DescriptorMessage[] = []) => {
      for (const t of types) {
        definedIn.set(`${prefix}.${t.name}`, file.name);
        visit(`${prefix}.${t.name}`, t.nestedType);
        for (const e of t.enumType ?? [])
          definedIn.set(`${prefix}.${t.name}.${e.name}`, file.name);
      }
    };
    visit(file.package ? `.${file.package}` : '', file.messageType);
    for (const e of file.enumType ?? [])
      definedIn.set(`.${file.package}.${e.name}`, file.name);
  }
  // Options and the extensions that declare them play no part in decoding, and protobufjs also
  // writes each extension as a field of its extendee (named ".package.name"), which would make
  // the files import each other.
  const strip = (types: DescriptorMessage[] = []) => {
    for (const t of types) {
      delete t.extension;
      t.field = t.field?.filter(f => !f.name.startsWith('.'));
      strip(t.nestedType);
    }
  };
  for (const file of set.file) {
    delete file.extension;
    strip(file.messageType);
  }
  // A type name may be relative to the scope it is written in (protobuf's scoping rules).
  const owner = (scope: string, name: string | undefined) => {
    if (!name) return undefined;
    if (name.startsWith('.')) return definedIn.get(name);
    for (let s = scope; ; s = s.slice(0, s.lastIndexOf('.'))) {
      const found = definedIn.get(`${s}.${name}`);
      if (found || !s) return found;
    }
  };
  for (const file of set.file) {
    const deps = new Set<string>();
    const add = (scope: string, name: string | undefined) => {
      const f = owner(scope, name);
      if (f && f !== file.name) deps.add(f);
    };
    const pkg = file.package ? `.${file.package}` : '';
    const visit = (scope: string, types: DescriptorMessage[] = []) => {
      for (const t of types) {
        const inner = `${scope}.${t.name}`;
        for (const f of t.field ?? []) add(inner, f.typeName);
        visit(inner, t.nestedType);
      }
    };
    visit(pkg, file.messageType);
    for (const svc of file.service ?? []) {
      for (const m of svc.method ?? []) {
        add(pkg, m.inputType);
        add(pkg, m.outputType);
      }
    }
    file.dependency = [...deps];
  }
  const bytes = descriptor.FileDescriptorSet.encode(set as never).finish();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pushrun-desc-'));
  descriptorFile = path.join(dir, 'batch.desc');
  fs.writeFileSync(descriptorFile, bytes);
  process.once('exit', () => fs.rmSync(dir, {recursive: true, force: true}));
  return descriptorFile;
}

interface DescriptorField {
  name: string;
  typeName?: string;
  extendee?: string;
}
interface DescriptorMessage {
  name: string;
  field?: DescriptorField[];
  extension?: DescriptorField[];
  nestedType?: DescriptorMessage[];
  enumType?: {name: string}[];
}
interface DescriptorSet {
  file: {
    name: string;
    package?: string;
    dependency?: string[];
    messageType?: DescriptorMessage[];
    enumType?: {name: string}[];
    extension?: DescriptorField[];
    service?: {method?: {inputType?: string; outputType?: string}[]}[];
  }[];
}

/** Decodes each message of type `typeName` (e.g. `google.cloud.batch.v1.CreateJobRequest`). */
export function decodeWithGoogleProtobuf(
  google: GooglePython,
  typeName: string,
  messages: readonly Uint8Array[],
): Record<string, unknown>[] {
  const r = spawnSync(
    google.python,
    ['-c', DECODER, batchDescriptorSet(), typeName],
    {
      input: messages.map(m => Buffer.from(m).toString('base64')).join('\n'),
      encoding: 'utf8',
      env: {...process.env, PYTHONPATH: google.libDir},
      timeout: 60_000,
    },
  );
  if (r.status !== 0) {
    throw new Error(
      `Google's protobuf runtime could not decode ${typeName}: ${r.stderr || r.error}`,
    );
  }
  return r.stdout
    .split('\n')
    .filter(l => l.trim())
    .map(l => JSON.parse(l) as Record<string, unknown>);
}
