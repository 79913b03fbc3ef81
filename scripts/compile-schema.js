#!/usr/bin/env node
// Compiles config/pushrun.schema.json into build/shared/config/schema_validator.js with ajv's
// standalone code generation (https://ajv.js.org/standalone.html), so a function's cold start
// loads a validator instead of compiling one. Run by `npm run build` and `npm run gcp-build`.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const Ajv = require('ajv');
const standaloneCode = require('ajv/dist/standalone').default;
const {AJV_OPTIONS} = require('../build/shared/config/schema_options.js');

const root = path.join(__dirname, '..');
const schema = require(path.join(root, 'config', 'pushrun.schema.json'));
const ajv = new Ajv({...AJV_OPTIONS, code: {source: true}});
const out = path.join(root, 'build', 'shared', 'config', 'schema_validator.js');
fs.writeFileSync(out, standaloneCode(ajv, ajv.compile(schema)));
