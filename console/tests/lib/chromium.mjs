// Debian's Chromium, driven by playwright-core. playwright-core is pinned to the release whose
// bundled Chromium has the same major version as Debian's package (a protocol mismatch shows as
// odd failures, not as a version error): this check says so plainly when Debian moves.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { chromium } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

export function checkChromiumVersion() {
  let installed;
  try {
    installed = execFileSync(CHROMIUM, ["--version"], { encoding: "utf8" }).trim();
  } catch (error) {
    throw new Error(`${CHROMIUM} does not run (${error.message}); install Debian's chromium package: apt-get install chromium`);
  }
  const require = createRequire(import.meta.url);
  const browsersJson = join(dirname(require.resolve("playwright-core/package.json")), "browsers.json");
  const expected = JSON.parse(readFileSync(browsersJson, "utf8")).browsers.find((b) => b.name === "chromium").browserVersion;
  const major = (version) => /(\d+)\./.exec(version)?.[1];
  const playwrightVersion = require("playwright-core/package.json").version;
  if (major(installed) !== major(expected)) {
    throw new Error(
      `Chromium drift: ${CHROMIUM} is "${installed}" but playwright-core ${playwrightVersion} targets Chromium ${expected}. ` +
        `Pin playwright-core (console/package.json) to the release whose browsers.json names Chromium ${major(installed)}.`,
    );
  }
  return { installed, expected, playwrightVersion };
}

// As root on a closed network: no sandbox (Playwright adds --no-sandbox), no calls home, and
// stable rendering for screenshots.
const ARGS = [
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-default-apps",
  "--force-device-scale-factor=1",
  "--font-render-hinting=medium",
  "--force-color-profile=srgb",
  "--hide-scrollbars",
  "--force-prefers-reduced-motion",
];

export function launch() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
}
