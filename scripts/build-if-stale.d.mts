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
export declare const UI_STAMP: string
export declare const UI_ENTRY: string
export interface UiBuildInputs {
  readonly packages: Readonly<Record<string, string>>
  readonly files: Readonly<Record<string, string>>
}
export declare function hasUi(root: string): boolean
export declare function uiInputs(root: string): UiBuildInputs
export declare function uiStaleness(
  root: string,
  current?: UiBuildInputs,
): { stale: boolean; reason: string }
export declare function writeUiStamp(root: string, built: UiBuildInputs): void
export declare function buildUi(root: string): number
