// The console in headless Chromium against a real platform: what an operator does, click by
// click. Steps run in order and share one signed-in tab, as an operator's session would.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { checkChromiumVersion, launch } from "./lib/chromium.mjs";
import { startPlatform } from "./lib/platform.mjs";
import { SCREENSHOT_DIR, screenshot } from "./lib/screenshots.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const demoBot = readFileSync(join(here, "../../examples/demo-bot.json"), "utf8");
/** A scenario the demo bot passes: the start, a name, the menu. */
const scenario = `name: greets and asks the name
start:
  message_payload: hi
  expect:
    state: ask_name
    messages:
      - exact: "Welcome to Demo Pizza! 🍕"
      - exact: "What's your name?"
turns:
  - text: Ada
    expect:
      state: main_menu
      variables: {customer_name: {equals: Ada}}
`;
/** A second scenario for a set: a known customer asks for the opening hours (API only). */
const hoursScenario = `name: opening hours
channels: [api]
start:
  variables: {customer_name: Ada}
  expect: {state: main_menu}
turns:
  - option: component_id_abc
    expect: {reached: [opening_hours], state: main_menu}
`;
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };

let platform, browser, context, page;
const state = {};

/** A section of the main navigation. */
const nav = (name) => page.getByRole("navigation", { name: "Main" }).getByRole("link", { name });

async function signIn(target, token) {
  await target.goto(`${platform.adminUrl}/console/`);
  await target.getByLabel("Operator token").fill(token);
  await target.getByRole("button", { name: "Sign in" }).click();
  await target.getByRole("heading", { name: "Integrations", level: 1 }).waitFor();
}

/** The manual's "Start Session" curl example, with this integration's URL and key. */
function curlStartSession(url, key) {
  const out = execFileSync(
    "curl",
    ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", url, "-H", "Content-Type: application/json",
      "-H", `X-API-Key: ${key}`, "-d", '{"session_id": "user-123", "user_identifier": "user-123"}'],
    { encoding: "utf8" },
  );
  return Number(out);
}

/** A text message from +15551234567 as Meta delivers it, signed as Meta signs it. */
function postSignedMessage(webhookUrl, appSecret) {
  const body = JSON.stringify({
    object: "whatsapp_business_account",
    entry: [{
      id: "102290129340398",
      changes: [{
        field: "messages",
        value: {
          messaging_product: "whatsapp",
          metadata: { display_phone_number: "15550001111", phone_number_id: "106540352242922" },
          contacts: [{ profile: { name: "Ann" }, wa_id: "15551234567" }],
          messages: [{ from: "15551234567", id: "wamid.console-test-1", timestamp: String(Math.floor(Date.now() / 1000)), type: "text", text: { body: "hi" } }],
        },
      }],
    }],
  });
  const signature = createHmac("sha256", appSecret).update(body).digest("hex");
  return fetch(webhookUrl, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Hub-Signature-256": `sha256=${signature}` },
    body,
  });
}

async function until(what, check, seconds = 10) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const result = await check();
    if (result) return result;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe("the operator console", { timeout: 300_000 }, () => {
  before(async () => {
    const versions = checkChromiumVersion();
    console.log(`# chromium ${versions.installed}; playwright-core ${versions.playwrightVersion} (Chromium ${versions.expected})`);
    console.log(`# screenshots: ${SCREENSHOT_DIR}`);
    platform = await startPlatform();
    browser = await launch();
    context = await browser.newContext({ viewport: DESKTOP, colorScheme: "light" });
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: platform.adminUrl });
    page = await context.newPage();
    page.on("pageerror", (error) => console.log(`# page error: ${error.message}`));
  });

  after(async () => {
    await browser?.close();
    await platform?.stop();
  });

  test("is served by the admin: hashed assets cached a year, index revalidated, deep links fall back to index", async () => {
    const index = await fetch(`${platform.adminUrl}/console/`);
    assert.equal(index.status, 200);
    assert.equal(index.headers.get("cache-control"), "no-cache");
    assert.match(index.headers.get("content-security-policy"), /frame-ancestors 'none'/);
    const html = await index.text();
    const asset = /src="\/console\/(assets\/[^"]+\.js)"/.exec(html)?.[1];
    assert.ok(asset, "index.html names its script");
    const script = await fetch(`${platform.adminUrl}/console/${asset}`);
    assert.equal(script.status, 200);
    assert.equal(script.headers.get("cache-control"), "public, max-age=31536000, immutable");
    assert.match(script.headers.get("content-type"), /^text\/javascript/);
    const deep = await fetch(`${platform.adminUrl}/console/integrations/42`);
    assert.equal(await deep.text(), html);
    const bare = await fetch(`${platform.adminUrl}/console`, { redirect: "manual" });
    assert.equal(bare.status, 308);
  });

  test("refuses a wrong token on its field, then signs in; the token stays in sessionStorage only", async () => {
    await page.goto(`${platform.adminUrl}/console/`);
    await screenshot(page, "sign-in");
    await page.getByLabel("Operator token").fill("op_not_a_real_token_000000000000000000000000");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByText("This token is not valid").waitFor();
    assert.equal(await page.getByLabel("Operator token").getAttribute("aria-invalid"), "true");
    await screenshot(page, "sign-in-refused");
    // By keyboard: the token field takes the first Tab, Enter submits.
    await page.reload();
    await page.getByLabel("Operator token").waitFor();
    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("type")), "password");
    await page.keyboard.type(platform.token);
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Integrations", level: 1 }).waitFor();
    const storage = await page.evaluate(() => ({
      session: Object.values(sessionStorage),
      local: Object.keys(localStorage).length,
      cookies: document.cookie,
    }));
    assert.deepEqual(storage, { session: [platform.token], local: 0, cookies: "" });
    assert.ok(!page.url().includes(platform.token));
    await screenshot(page, "integrations-empty");
  });

  test("creates a bot from a bot file, validates and publishes it, and draws it", async () => {
    await nav("Bots").click();
    await page.getByRole("link", { name: "New bot" }).click();
    await page.getByLabel("Draft (JSON)").fill(demoBot);
    await screenshot(page, "bot-new");
    await page.getByRole("button", { name: "Create bot" }).click();
    await page.getByRole("heading", { name: "Demo Bot", level: 1 }).waitFor();
    await page.getByRole("button", { name: "Validate" }).click();
    await page.getByText("The draft is valid.").waitFor();
    await page.getByRole("button", { name: "Publish" }).click();
    await page.getByText("Published version 1.").waitFor();
    await page.locator('[data-testid="flow-drawing"][data-laid-out="true"]').waitFor();
    const components = JSON.parse(demoBot).flow.components;
    await until("every component drawn", async () => (await page.locator(".react-flow__node").count()) === components.length);
    assert.ok((await page.locator(".react-flow__edge").count()) >= components.length - 1, "edges drawn");
    assert.equal(await page.locator(".react-flow__minimap").count(), 1);
    // Laid out left to right: the start is left of what it leads to.
    const start = await page.locator('[data-component-id="welcome"]').boundingBox();
    const next = await page.locator('[data-component-id="known_customer"]').boundingBox();
    assert.ok(start.x < next.x, "the flow runs left to right");
    await screenshot(page, "bot-published-drawing");
    await page.getByLabel("Find a component").fill("choose_pizza");
    await page.getByRole("button", { name: "Find", exact: true }).click();
    await page.locator('[data-component-id="choose_pizza"].flow-node-selected').waitFor();
    await screenshot(page, "bot-search-centred");
    state.botUrl = page.url();
  });

  test("shows a draft's validation errors on the component they concern", async () => {
    await page.getByText("Edit the draft as JSON").click();
    const editor = page.getByLabel("Draft (JSON)");
    const draft = JSON.parse(await editor.inputValue());
    draft.flow.components.find((c) => c.id === "opening_hours").next = "nowhere";
    await editor.fill(JSON.stringify(draft, null, 2));
    await page.getByRole("button", { name: "Save draft" }).click();
    await page.locator('[data-component-id="opening_hours"][data-issues="error"]').waitFor();
    await page.locator('.issues-error [data-rule="dangling_next"]').waitFor();
    // A saved draft's errors show when the page opens, without asking.
    await page.reload();
    await page.locator('[data-component-id="opening_hours"][data-issues="error"]').waitFor();
    await page.getByText("Edit the draft as JSON").click();
    await editor.fill("{ not json");
    await page.getByRole("button", { name: "Save draft" }).click();
    await page.getByText(/Not valid JSON/).waitFor();
    await screenshot(page, "bot-draft-errors");
    // The published version is unaffected.
    await page.getByLabel("Showing").selectOption("1");
    await until("version 1 drawn without issues", async () => (await page.locator('[data-issues="error"]').count()) === 0);
  });

  test("runs a scenario on the published version: its timeline as a chat and its path on the drawing", async () => {
    await page.goto(state.botUrl);
    await page.getByRole("link", { name: "Test runner" }).click();
    await page.getByRole("heading", { name: "Test runner", level: 1 }).waitFor();
    await page.getByLabel("Version").selectOption("1");
    await page.getByRole("radio", { name: "WhatsApp" }).check();
    await page.getByLabel("Scenario (YAML)").fill(scenario);
    await screenshot(page, "runner-new");
    await page.getByRole("button", { name: "Run", exact: true }).click();
    // Polled until it finishes: the status badge says how it ended.
    await page.locator('[data-run-status]:not([data-run-status="running"])').waitFor({ timeout: 60_000 });
    assert.equal(await page.locator("[data-run-status]").getAttribute("data-run-status"), "passed");
    assert.match(page.url(), /\/bots\/\d+\/test\?run=\d+$/);
    // The timeline: the bot's messages as WhatsApp shows them, the reply buttons, the variable set.
    const timeline = page.getByRole("region", { name: "Timeline" });
    await timeline.locator(".bubble-wa", { hasText: "What's your name?" }).first().waitFor();
    await timeline.locator(".wa-reply", { hasText: "Order a pizza" }).first().waitFor();
    await timeline.locator(".delta-added", { hasText: "customer_name" }).waitFor();
    assert.equal(await timeline.locator('[data-passed="false"]').count(), 0, "every expectation passed");
    // The path: visited components marked with their counts, the others dimmed.
    await page.locator('[data-testid="flow-drawing"][data-laid-out="true"]').waitFor();
    await page.locator('[data-component-id="ask_name"].flow-node-visited').waitFor();
    assert.equal(await page.locator('[data-component-id="main_menu"]').getAttribute("data-visits"), "1");
    await page.locator('[data-component-id="order_done"].flow-node-unreached').waitFor();
    assert.ok((await page.locator(".react-flow__edge.flow-edge-taken").count()) >= 2, "the edges taken are marked");
    await screenshot(page, "runner-result");
    // Replayed to the first step, only the start is visited.
    const slider = page.getByRole("slider", { name: "Step" });
    await slider.focus();
    await page.keyboard.press("Home");
    await page.keyboard.press("ArrowRight");
    await page.locator('[data-component-id="welcome"].flow-node-current').waitFor();
    await page.locator('[data-component-id="ask_name"].flow-node-unreached').waitFor();
    await screenshot(page, "runner-step-1");
    state.runnerUrl = page.url();
  });

  test("saves scenarios, runs two as a set: each scenario's outcome, the coverage on the drawing, past runs reopened", async () => {
    await page.goto(`${state.botUrl}/test`);
    await page.getByRole("heading", { name: "Test runner", level: 1 }).waitFor();
    const saved = (name) => page.locator(`[data-saved-scenario="${name}"]`);
    const saveAs = async (name, yaml) => {
      await page.getByLabel("Scenario name").fill(name);
      await page.getByLabel("Scenario (YAML)").fill(yaml);
      await page.getByRole("button", { name: "Save scenario" }).click();
    };
    // The runner's parser refuses a scenario before it is saved, on the YAML's field.
    await saveAs("broken.yaml", "name: broken\nturnz: []\n");
    const yamlError = page.locator(".field-invalid", { has: page.getByLabel("Scenario (YAML)") }).locator(".error");
    assert.match(await yamlError.textContent(), /turnz/);
    await screenshot(page, "runner-save-refused");
    await saveAs("greets.yaml", scenario);
    await page.getByText("Saved “greets.yaml” and selected it for the run.").waitFor();
    assert.equal(await page.getByLabel("Scenario (YAML)").inputValue(), "", "the editor is free for the next one");
    await saveAs("hours.yaml", hoursScenario);
    await saved("hours.yaml").waitFor();
    assert.equal(await saved("broken.yaml").count(), 0);
    // Opened again in the editor, it is the saved text; "New scenario" empties the editor.
    await page.getByRole("button", { name: "Open greets.yaml in the editor" }).click();
    await page.getByRole("group", { name: "Saved scenario “greets.yaml”" }).waitFor();
    assert.equal(await page.getByLabel("Scenario (YAML)").inputValue(), scenario);
    await page.getByRole("button", { name: "New scenario" }).click();
    assert.ok(await saved("greets.yaml").getByRole("checkbox").isChecked());
    assert.ok(await saved("hours.yaml").getByRole("checkbox").isChecked());
    assert.equal(await page.getByTestId("run-contents").textContent(), "2 saved scenarios");
    await screenshot(page, "runner-saved-scenarios");

    // Both channels: the greeting on each, the opening hours on the API only.
    await page.getByRole("button", { name: "Run", exact: true }).click();
    await page.locator('[data-run-status]:not([data-run-status="running"])').waitFor({ timeout: 60_000 });
    assert.equal(await page.locator("[data-run-status]").getAttribute("data-run-status"), "passed");
    const runs = page.getByRole("navigation", { name: "Scenario runs" });
    const outcomes = await runs.locator("[data-scenario-status]").evaluateAll((buttons) =>
      buttons.map((b) => `${b.querySelector(".scenario-run-name").textContent} ${b.querySelector(".muted").textContent} ${b.dataset.scenarioStatus}`),
    );
    assert.deepEqual(outcomes, [
      "greets and asks the name API passed",
      "greets and asks the name WhatsApp passed",
      "opening hours API passed",
    ]);
    // A set opens on its coverage: totals, and the drawing with counts and never-visited marks.
    assert.equal(await runs.getByRole("button", { name: "All scenarios: coverage" }).getAttribute("aria-pressed"), "true");
    const components = JSON.parse(demoBot).flow.components;
    assert.equal(await page.getByTestId("coverage-components").textContent(), `5/${components.length}`);
    assert.match(await page.getByTestId("coverage-edges").textContent(), /^6\/\d+$/);
    await page.locator('.drawing-coverage[data-laid-out="true"]').waitFor();
    const contact = page.locator('[data-component-id="contact"]');
    await contact.and(page.locator(".flow-node-unreached")).waitFor();
    assert.equal(await contact.getAttribute("data-visits"), "0");
    await contact.getByText("never visited").waitFor();
    assert.ok(Number(await page.locator('[data-component-id="main_menu"]').getAttribute("data-visits")) >= 3, "main_menu counted over every run");
    assert.equal(await page.locator('[data-component-id="opening_hours"]').getAttribute("data-visits"), "1");
    await screenshot(page, "runner-set-coverage");
    state.setRunUrl = page.url();

    // One scenario run of the set: its timeline and its path only.
    await runs.getByRole("button", { name: /opening hours/ }).click();
    await page.getByRole("heading", { name: "opening hours · API · passed", level: 3 }).waitFor();
    await page.locator('[data-component-id="opening_hours"].flow-node-visited').waitFor();
    await page.locator('[data-component-id="ask_name"].flow-node-unreached').waitFor();
    await page.getByRole("region", { name: "Timeline" }).locator('[data-component="opening_hours"]').first().waitFor();
    await screenshot(page, "runner-set-one-scenario");

    // Past runs, newest first; the first run reopens from what was stored.
    const pastRuns = page.getByRole("region", { name: "Past runs" });
    const setRun = /run=(\d+)/.exec(state.setRunUrl)[1];
    const firstRun = /run=(\d+)/.exec(state.runnerUrl)[1];
    const rows = pastRuns.locator("tbody tr[data-run]");
    assert.deepEqual(await rows.evaluateAll((r) => r.map((row) => row.dataset.run)), [setRun, firstRun]);
    assert.equal(await pastRuns.locator(`tr[data-run="${setRun}"] td[data-label="Passed"]`).textContent(), "3/3");
    assert.equal(await pastRuns.locator(`tr[data-run="${setRun}"] td[data-label="Scenarios"]`).textContent(), "greets.yaml, hours.yaml");
    await screenshot(page, "runner-past-runs");
    await pastRuns.getByRole("link", { name: `Run ${firstRun}`, exact: true }).click();
    await page.getByRole("heading", { name: new RegExp(`^Run ${firstRun}:`), level: 2 }).waitFor();
    assert.match(page.url(), new RegExp(`run=${firstRun}$`));
    await page.getByRole("region", { name: "Timeline" }).locator(".bubble-wa", { hasText: "What's your name?" }).first().waitFor();
    await page.locator('[data-component-id="ask_name"].flow-node-visited').waitFor();
    assert.equal(await pastRuns.locator(`tr[data-run="${firstRun}"]`).getAttribute("aria-current"), "true");
    await screenshot(page, "runner-past-run-reopened");
  });

  test("creates an API integration, shows its key once, masks it after reload, and the key works until deactivation", async () => {
    await nav("Integrations").click();
    // A weak key is refused on the key's field.
    await page.getByRole("link", { name: "New API integration" }).click();
    await page.getByLabel("Integration alias").fill("Weak shop");
    await page.getByLabel("Provide my own key").check();
    await page.getByLabel("Your key").fill("short");
    await page.getByRole("button", { name: "Create integration" }).click();
    const keyError = page.locator(".field-invalid", { has: page.getByLabel("Your key") }).locator(".error");
    await keyError.waitFor();
    await screenshot(page, "integration-api-field-error");

    await nav("Integrations").click();
    await page.getByRole("link", { name: "New API integration" }).click();
    await page.getByLabel("Integration alias").fill("Web shop");
    const bots = await page.getByLabel("Connected bot", { exact: true }).locator("option").allTextContents();
    assert.deepEqual(bots, ["— No bot —", "Demo Bot"]);
    await page.getByLabel("Connected bot", { exact: true }).selectOption({ label: "Demo Bot" });
    await page.getByLabel(/Allow variable injection/).check();
    await page.getByLabel("Rate limit (requests per minute)").fill("120");
    await screenshot(page, "integration-api-new");
    await page.getByRole("button", { name: "Create integration" }).click();
    const dialog = page.getByRole("dialog", { name: "Your API key" });
    await dialog.waitFor();
    const key = (await dialog.getByTestId("api-key").textContent()).trim();
    assert.ok(key.length >= 40, `a generated key (${key.length} characters)`);
    await dialog.getByRole("button", { name: "Copy the API key" }).click();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), key);
    await screenshot(page, "integration-api-key-once");
    // Escape closes the dialog, as its button does.
    await page.keyboard.press("Escape");
    await page.getByRole("heading", { name: "Web shop", level: 1 }).waitFor();
    await page.locator('[data-status="active"]').waitFor();

    await page.reload();
    await page.getByRole("heading", { name: "Web shop", level: 1 }).waitFor();
    const masked = (await page.locator('[data-secret="api_key"]').textContent()).trim();
    assert.ok(masked.startsWith("••••") && masked.endsWith(key.slice(-4)), `masked: ${masked}`);
    assert.ok(!(await page.content()).includes(key), "the key is nowhere on the page after reload");
    await screenshot(page, "integration-api-masked");

    const sessionStart = (await page.locator(".copyable", { hasText: "Session start" }).locator("code").textContent()).trim();
    assert.equal(curlStartSession(sessionStart, key), 200);

    await page.getByRole("button", { name: "Deactivate" }).click();
    await page.locator('[data-status="inactive"]').waitFor();
    // The gateway caches an active integration's access data for a second.
    await until("the deactivated integration to answer 404", () => curlStartSession(sessionStart, key) === 404);
    await screenshot(page, "integration-api-inactive");
  });

  test("creates a WhatsApp integration against the Meta emulator and copies its webhook URL", async () => {
    await nav("Integrations").click();
    await page.getByRole("link", { name: "New WhatsApp integration" }).click();
    assert.equal(await page.getByLabel("Graph API version").inputValue(), "v21.0");
    await page.getByLabel("Name", { exact: true }).fill("Support line");
    await page.getByLabel("Connected bot", { exact: true }).selectOption({ label: "Demo Bot" });
    await page.getByLabel("WhatsApp Business Account ID").fill("102290129340398");
    await page.getByLabel("Phone number ID").fill("106540352242922");
    await page.getByLabel("App ID").fill("1234567890");
    await page.getByLabel("App secret").fill("app-secret-for-the-console-test");
    await page.getByLabel("Access token").fill("EAAGshortlivedtokenfromthedashboard");
    await page.getByLabel("Verify token").fill("console-verify-token");
    await page.getByLabel("Conversation expiry (minutes)").fill("60");
    await page.getByLabel("Template name").fill("hello_world");
    await page.getByLabel("Template language").fill("en_US");
    await page.getByLabel("Trigger recipients").fill("+15551234567");
    await screenshot(page, "integration-whatsapp-new");
    await page.getByRole("button", { name: "Create integration" }).click();
    await page.getByRole("heading", { name: "Support line", level: 1 }).waitFor();
    await page.locator('[data-status="active"]').waitFor();
    const id = /integrations\/(\d+)$/.exec(page.url())?.[1];
    const expected = `${platform.webhookBaseUrl}/webhooks/whatsapp/${id}`;
    await page.getByRole("button", { name: "Copy Webhook URL" }).click();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), expected);
    // Meta's verification handshake through that URL, with the verify token set in the form.
    const handshake = await fetch(`${expected}?hub.mode=subscribe&hub.verify_token=console-verify-token&hub.challenge=4711`);
    assert.equal(await handshake.text(), "4711");
    assert.equal(await page.getByLabel("Trigger recipients").inputValue(), "+15551234567");
    // The proactive start sends the template through the emulator.
    await page.getByLabel("Phone number", { exact: true }).fill("+15551234567");
    await page.getByRole("button", { name: "Send the template" }).click();
    await page.getByText("Template “hello_world” sent to +15551234567").waitFor();
    // A user's message, signed with the app secret typed in the form, is accepted there.
    const delivery = await postSignedMessage(expected, "app-secret-for-the-console-test");
    assert.equal(delivery.status, 200, await delivery.text());
    for (const secret of ["app_secret", "access_token", "verify_token"]) {
      assert.match(await page.locator(`[data-secret="${secret}"]`).textContent(), /^•+/);
    }
    assert.equal(await page.getByRole("button", { name: /^Replace/ }).count(), 3);
    await screenshot(page, "integration-whatsapp");
    state.whatsappUrl = page.url();

    // Replacing a secret: the API's refusal shows on that field; a good value is saved and masked.
    await page.getByRole("button", { name: "Replace Verify token" }).click();
    await page.getByLabel("Verify token").fill("short");
    await page.getByRole("button", { name: "Save changes" }).click();
    const tokenError = page.locator(".field-invalid", { has: page.getByLabel("Verify token") }).locator(".error");
    assert.match(await tokenError.textContent(), /verify_token/);
    await screenshot(page, "integration-whatsapp-field-error");
    await page.getByLabel("Verify token").fill("console-verify-token-2");
    await page.getByRole("button", { name: "Save changes" }).click();
    await page.getByText("Saved.").waitFor();
    await page.locator('[data-secret="verify_token"]').waitFor();
    const rehandshake = await fetch(`${expected}?hub.mode=subscribe&hub.verify_token=console-verify-token-2&hub.challenge=4712`);
    assert.equal(await rehandshake.text(), "4712");
  });

  test("lists integrations with filters and search", async () => {
    await nav("Integrations").click();
    const rows = page.locator("tbody tr[data-integration]");
    const names = () => rows.evaluateAll((r) => r.map((row) => row.dataset.integration));
    // The refused "Weak shop" was never created.
    await until("two integrations listed", async () => (await rows.count()) === 2);
    await page.getByLabel("Kind").selectOption("whatsapp");
    assert.deepEqual(await names(), ["Support line"]);
    await page.getByLabel("Kind").selectOption("");
    await page.getByLabel("Status").selectOption("inactive");
    assert.deepEqual(await names(), ["Web shop"]);
    await page.getByLabel("Status").selectOption("");
    await page.getByLabel("Search").fill("SUPPORT");
    assert.deepEqual(await names(), ["Support line"]);
    await page.getByLabel("Search").fill("");
    // The signed webhook made the WhatsApp integration active just now.
    const activity = page.locator('tr[data-integration="Support line"] time');
    assert.match(await activity.textContent(), /now|second|minute/);
    assert.ok(await activity.getAttribute("title"), "the exact time on hover");
    await screenshot(page, "integrations-list");
  });

  test("every page at phone width and in dark mode", async () => {
    const pages = [
      ["integrations", `${platform.adminUrl}/console/integrations`],
      ["integration-whatsapp", state.whatsappUrl],
      ["integration-new-api", `${platform.adminUrl}/console/integrations/new/api`],
      ["bots", `${platform.adminUrl}/console/bots`],
      ["bot", state.botUrl],
      ["runner", state.runnerUrl],
      ["runner-set", state.setRunUrl],
    ];
    for (const [variant, options] of [
      ["phone", { viewport: PHONE, colorScheme: "light" }],
      ["dark", { viewport: DESKTOP, colorScheme: "dark" }],
      ["phone-dark", { viewport: PHONE, colorScheme: "dark" }],
    ]) {
      const other = await browser.newContext(options);
      const tab = await other.newPage();
      await signIn(tab, platform.token);
      for (const [name, url] of pages) {
        await tab.goto(url);
        await tab.getByRole("heading", { level: 1 }).first().waitFor();
        if (name === "bot" || name.startsWith("runner")) await tab.locator('[data-testid="flow-drawing"][data-laid-out="true"]').waitFor();
        // Nothing sticks out sideways at phone width.
        const overflow = await tab.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert.ok(overflow <= 1, `${name} (${variant}) is ${overflow}px wider than the screen`);
        await screenshot(tab, `${name}-${variant}`);
      }
      await other.close();
    }
  });

  test("deletes an integration only after its name is typed", async () => {
    await page.goto(`${platform.adminUrl}/console/integrations`);
    await page.getByRole("link", { name: "Web shop" }).click();
    await page.getByRole("button", { name: "Delete…" }).click();
    const dialog = page.getByRole("dialog", { name: "Delete this integration?" });
    const confirm = dialog.getByRole("button", { name: "Delete integration" });
    await dialog.getByLabel(/to confirm/).fill("Web sho");
    assert.ok(await confirm.isDisabled());
    await dialog.getByLabel(/to confirm/).fill("Web shop");
    await screenshot(page, "integration-delete");
    await confirm.click();
    await page.getByRole("heading", { name: "Integrations", level: 1 }).waitFor();
    await until("one integration left", async () => (await page.locator("tbody tr[data-integration]").count()) === 1);
    // A bot still connected to an integration cannot be deleted: the API's refusal shows.
    await page.goto(state.botUrl);
    await page.getByRole("button", { name: "Delete…" }).click();
    const botDialog = page.getByRole("dialog", { name: "Delete this bot?" });
    await botDialog.getByLabel(/to confirm/).fill("Demo Bot");
    await botDialog.getByRole("button", { name: "Delete bot" }).click();
    await botDialog.getByText("the bot is connected to an integration").waitFor();
    await screenshot(page, "bot-delete-refused");
  });

  test("signs out, forgetting the token", async () => {
    await page.goto(`${platform.adminUrl}/console/integrations`);
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("Operator token").waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  });
});
