// The netrc package ships no types: what get-options.ts uses of it.
declare module 'netrc' {
  const netrc: { parse(text: string): Record<string, { login?: string; password?: string }> };
  export default netrc;
}
