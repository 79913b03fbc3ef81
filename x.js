const {GoogleRest} = require('./build/test/support/google_rest.js');
const {execFile} = require('child_process');
const fs = require('fs');
(async () => {
  const rest = await GoogleRest.start('proj-x', '123');
  const dir = fs.mkdtempSync('/tmp/gc-');
  fs.writeFileSync(
    dir + '/job.json',
    JSON.stringify(require('./build/test/support/templates.js').RICH_JOB),
  );
  const t = Date.now();
  await new Promise(res =>
    execFile(
      'gcloud',
      [
        'batch',
        'jobs',
        'submit',
        'job-1',
        '--location',
        'us-central1',
        '--project',
        'proj-x',
        '--config',
        dir + '/job.json',
        '--format=json',
      ],
      {
        env: {...process.env, ...rest.gcloudEnv(dir + '/cfg')},
        encoding: 'utf8',
      },
      (e, out, err) => {
        console.log(Date.now() - t, e && e.code, err.slice(0, 1500));
        res();
      },
    ),
  );
  console.log(
    JSON.stringify(
      rest.requests.map(q => [q.api, q.method, q.name, q.query, q.status]),
    ),
  );
  console.log(JSON.stringify(rest.requests.find(q => q.api === 'batch')?.body));
  await rest.close();
})();
