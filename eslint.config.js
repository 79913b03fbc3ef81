module.exports = [
  {ignores: ['build/', 'node_modules/', 'eslint.config.js', '.prettierrc.js', 'bin/']},
  ...require('gts'),
];
