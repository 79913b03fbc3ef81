/** The ajv options the config schema is compiled with, at build time and as a fallback. */
export const AJV_OPTIONS = {
  allErrors: true,
  // Keeps each error's schema node, whose description says what a pattern wants.
  verbose: true,
  strict: true,
  allowUnionTypes: true,
} as const;
