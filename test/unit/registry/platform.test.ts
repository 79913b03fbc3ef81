import * as assert from 'node:assert';
import {
  formatPlatform,
  parsePlatform,
  platformMatches,
  selectPlatform,
} from '../../../shared/registry/platform';
import type {Descriptor} from '../../../shared/registry';

describe('platforms', () => {
  const parse = [
    {name: 'os/arch', text: 'linux/amd64', want: 'linux/amd64'},
    {
      name: 'arm64 default variant dropped',
      text: 'linux/arm64/v8',
      want: 'linux/arm64',
    },
    {name: 'alias', text: 'linux/aarch64', want: 'linux/arm64'},
    {
      name: 'non-default variant kept',
      text: 'linux/arm/v6',
      want: 'linux/arm/v6',
    },
  ];
  for (const c of parse) {
    it(`parses ${c.name}`, () =>
      assert.strictEqual(formatPlatform(parsePlatform(c.text)), c.want));
  }
  for (const bad of ['linux', 'linux/amd64/v1/x', 'linux//amd64']) {
    it(`rejects "${bad}"`, () =>
      assert.throws(() => parsePlatform(bad), /write os\/arch/));
  }

  const match = [
    {
      name: 'arm64 matches arm64/v8',
      want: 'linux/arm64',
      have: {os: 'linux', architecture: 'arm64', variant: 'v8'},
      ok: true,
    },
    {
      name: 'arm/v7 does not match arm/v6',
      want: 'linux/arm/v7',
      have: {os: 'linux', architecture: 'arm', variant: 'v6'},
      ok: false,
    },
    {
      name: 'os differs',
      want: 'linux/amd64',
      have: {os: 'windows', architecture: 'amd64'},
      ok: false,
    },
  ];
  for (const c of match) {
    it(`matches: ${c.name}`, () =>
      assert.strictEqual(platformMatches(parsePlatform(c.want), c.have), c.ok));
  }

  it('skips index entries without a platform (attestations)', () => {
    const entries: Descriptor[] = [
      {mediaType: 'm', digest: 'sha256:1', size: 1},
      {
        mediaType: 'm',
        digest: 'sha256:2',
        size: 1,
        platform: {os: 'unknown', architecture: 'unknown'},
      },
      {
        mediaType: 'm',
        digest: 'sha256:3',
        size: 1,
        platform: {os: 'linux', architecture: 'amd64'},
      },
    ];
    assert.strictEqual(
      selectPlatform(entries, parsePlatform('linux/amd64'))?.digest,
      'sha256:3',
    );
  });
});
