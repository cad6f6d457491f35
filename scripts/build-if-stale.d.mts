/** Types for build-if-stale.mjs (plain JavaScript so `npm start` needs no TypeScript loader). */
export declare const STAMP: string
export declare const ENTRY: string
export interface BuildInputs {
  readonly typescript: string
  readonly files: Readonly<Record<string, string>>
}
export declare function inputs(root: string): BuildInputs
export declare function staleness(
  root: string,
  current?: BuildInputs,
): { stale: boolean; reason: string }
export declare function writeStamp(root: string, built: BuildInputs): void
