// The languages the extension serves: the client's document selector and package.json's
// activation events are both this list (a unit test keeps them equal).
export const SERVED_LANGUAGES: readonly string[] = [
  "python", "javascript", "javascriptreact", "typescript", "typescriptreact", "vue", "go", "rust", "java",
  "c", "cpp", "csharp", "ruby", "php", "shellscript",
];
