// @ts-check
import tseslint from 'typescript-eslint';

/**
 * The import fence: the agent (src/) never reaches into its stand-ins (testbed/), build-time tools
 * (scripts/), tests or entry points; the stand-ins may use the agent's code but not tests or tools;
 * tests do not import the benchmarks.
 * test/unit/import-fence.test.ts proves the fence fails on a crossing import.
 */
const fence = (forbidden, why) => {
  const pattern = `(^|/)(${forbidden.join('|')})/`;
  return {
    'no-restricted-imports': ['error', { patterns: [{ regex: pattern, message: why }] }],
    'no-restricted-syntax': ['error', { selector: `ImportExpression[source.value=/${pattern.replaceAll('/', '\\/')}/]`, message: why }],
  };
};

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.tools/', 'coverage/', 'deploy/', 'charts/'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': ['error', { allow: ['error'] }],
      eqeqeq: ['error', 'smart'],
    },
  },
  {
    files: ['src/**'],
    rules: fence(['testbed', 'scripts', 'test', 'cmd'], 'The agent (src/) must not import stand-ins, tools, tests or entry points: it ships alone in the image.'),
  },
  {
    files: ['testbed/**'],
    rules: fence(['scripts', 'test', 'cmd'], 'Stand-ins (testbed/) may use the agent\'s code, never tests, tools or entry points.'),
  },
  {
    files: ['test/**'],
    ignores: ['test/bench/**'],
    rules: fence(['bench'], 'Tests and their helpers never import the benchmarks (test/bench/); what both need lives in test/helpers/ or test/fleet/.'),
  },
  {
    files: ['cmd/**', 'scripts/**', 'test/**'],
    rules: { 'no-console': 'off' },
  },
);
