module.exports = [
  {
    ignores: [
      'build/',
      'node_modules/',
      '.cache/',
      'eslint.config.js',
      '.prettierrc.js',
      'bin/',
      'scripts/',
    ],
  },
  ...require('gts'),
];
