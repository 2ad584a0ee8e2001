// Lint: typescript-eslint with type information (no floating promises), warnings fail `npm test`, and the
// layering of ARCHITECTURE.md enforced: core -> coord -> cluster -> capabilities -> http -> server/node -> cli.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const capabilities = ['monitor', 'kv', 'objects', 'flows', 'pubsub'];
// For each layer, the folders of src/ it must not import from.
const above = {
  core: ['coord', 'cluster', ...capabilities, 'http', 'server', 'node', 'cli'],
  coord: ['cluster', ...capabilities, 'http', 'server', 'node', 'cli'],
  cluster: [...capabilities, 'http', 'server', 'node', 'cli'],
  http: ['server', 'node', 'cli'],
  server: ['node', 'cli'],
  node: ['server', 'cli'],
};
for (const cap of capabilities) above[cap] = ['http', 'server', 'node', 'cli'];

const layerRules = Object.entries(above).map(([layer, banned]) => ({
  files: [`src/${layer}/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: banned.map((b) => ({
          group: [`**/${b}/*`, `**/${b}/**`, `../${b}`, `../../${b}`],
          message: `src/${layer} must not import from src/${b} (see ARCHITECTURE.md, section 4).`,
        })),
      },
    ],
  },
}));

// A capability reaches another capability only through its index.ts.
const capabilityRules = capabilities.map((cap) => ({
  files: [`src/${cap}/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          ...above[cap].map((b) => ({ group: [`**/${b}/*`, `**/${b}/**`], message: `src/${cap} must not import from src/${b}.` })),
          ...capabilities
            .filter((c) => c !== cap)
            .map((c) => ({
              group: [`**/${c}/*`, `**/${c}/**`, `!**/${c}/index.js`],
              message: `src/${cap} may use src/${c} only through src/${c}/index.ts.`,
            })),
        ],
      },
    ],
  },
}));

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'src/gen/**', '.flotilla/**', 'src/web/dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['*.js', 'bin/*.js', 'scripts/*.mjs'] }, tsconfigRootDir: import.meta.dirname },
      globals: { process: 'readonly', console: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite'] }] },
      ],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false, attributes: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true, allowNullish: true }],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
    },
  },
  ...layerRules,
  ...capabilityRules,
);
