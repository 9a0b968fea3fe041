// Screenshots of every page, for a reviewer: written to console/test-output/screenshots (git-
// ignored, or SCREENSHOT_DIR), whose path the tests print.
import { mkdirSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const SCREENSHOT_DIR = resolve(process.env.SCREENSHOT_DIR ?? join(here, "../../test-output/screenshots"));
// Each run starts with an empty folder, so that every file in it is from this run.
rmSync(SCREENSHOT_DIR, { recursive: true, force: true });
mkdirSync(SCREENSHOT_DIR, { recursive: true });

let count = 0;
export async function screenshot(page, name) {
  count += 1;
  const file = join(SCREENSHOT_DIR, `${String(count).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
