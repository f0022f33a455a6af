// ESLint (flat config): the recommended JavaScript and typescript-eslint rules, formatting left to
// Prettier, and a line width of 140 for what Prettier cannot break (strings, comments).
import js from '@eslint/js';
import stylistic from '@stylistic/eslint-plugin';
import prettier from 'eslint-config-prettier';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  { ignores: ['dist/', 'build/', 'node_modules/', 'native/', 'coverage/'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  prettier,
  {
    languageOptions: { globals: globals.node },
    plugins: { '@stylistic': stylistic },
    rules: {
      '@stylistic/max-len': ['error', { code: 140, tabWidth: 2, ignoreUrls: true, ignoreRegExpLiterals: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // Empty catch blocks state why in a comment; the rule would ask for one in every block.
      'no-empty': ['error', { allowEmptyCatch: true }],
    },
  },
  {
    // The operator console runs in the browser (its .vue files are checked by the Vite build).
    files: ['console/src/**/*.ts'],
    languageOptions: { globals: globals.browser },
  },
  {
    // Tests read JSON bodies whose shape is what they assert.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
