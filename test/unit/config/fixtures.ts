/** Writes config fixtures to a fresh temporary folder, for config and CLI tests. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

// Every folder made here is removed when the test process exits.
const made: string[] = [];
process.once('exit', () => {
  for (const dir of made) fs.rmSync(dir, {recursive: true, force: true});
});

/** A temporary folder holding `files` (name → text); returns the folder. */
export function writeFixtures(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pushrun-config-'));
  made.push(dir);
  for (const [name, text] of Object.entries(files)) {
    const file = path.join(dir, name);
    fs.mkdirSync(path.dirname(file), {recursive: true});
    fs.writeFileSync(file, text);
  }
  return dir;
}

/** A valid mapping, as YAML lines indented for a `mappings:` list. */
export const TRAINER_MAPPING = `  - name: trainer
    match:
      image: us-central1-docker.pkg.dev/my-project/ml/trainer
    job:
      taskGroups:
        - taskSpec:
            runnables:
              - container:
                  commands: ["python", "train.py"]
`;
